"""A hostile HTTP server on loopback: answers every request with raw bytes the test chose.

No HTTP library on this side: the bytes go out exactly as given (split where asked), then the
connection is closed, or held open for `linger` seconds first. Each request it got is kept.
"""

from __future__ import annotations

import socket
import threading
import time


class HostileServer:
    def __init__(self) -> None:
        self.answer = b""
        self.split: int | None = None  # send the answer in two writes, cut here
        self.linger = 0.0  # keep the connection open this long after the answer
        self.requests: list[bytes] = []
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> HostileServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop = True
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        answer, split, linger = self.answer, self.split, self.linger
        with conn:
            conn.settimeout(5)
            got = b""
            try:
                while b"\r\n\r\n" not in got:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    got += chunk
                self.requests.append(got)
                if split is not None and 0 < split < len(answer):
                    conn.sendall(answer[:split])
                    time.sleep(0.005)
                    conn.sendall(answer[split:])
                else:
                    conn.sendall(answer)
                if linger:
                    time.sleep(linger)
            except OSError:
                pass
