"""A loopback HTTPS trace/echo server with a throwaway CA, for real TLS verification.

The fakes speak plain HTTP; production sources are HTTPS. This server lets the tests and the
benchmark run the real path: certificate check against a hashed CA directory ($SSL_CERT_DIR),
hostname (IP SAN) check, one request. Needs the `openssl` command (tests skip without it).
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def make_ca_dir(base: Path, host: str = "127.0.0.1") -> tuple[Path, Path, Path]:
    """(hashed CA dir, cert, key): a self-signed cert for `host` that is its own CA."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise FileNotFoundError("openssl")
    key, cert, cadir = base / "key.pem", base / "cert.pem", base / "ca"
    cadir.mkdir()
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", f"/CN={host}",
                    "-addext", f"subjectAltName=IP:{host}", "-keyout", str(key), "-out",
                    str(cert)], check=True, capture_output=True)
    digest = subprocess.run([openssl, "x509", "-hash", "-noout", "-in", str(cert)], check=True,
                            capture_output=True, text=True).stdout.strip()
    shutil.copy(cert, cadir / f"{digest}.0")
    return cadir, cert, key


class TlsEcho:
    """GET /cdn-cgi/trace (trace body) or anything else (bare address) over HTTPS."""

    def __init__(self, cert: Path, key: Path, address: Callable[[], str]) -> None:
        self.hits = 0
        echo = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                echo.hits += 1
                ip = address()
                body = (f"fl=1\nh=x\nip={ip}\nts=0\n" if self.path == "/cdn-cgi/trace"
                        else ip).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
