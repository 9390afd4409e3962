"""Shared fixtures: a running fake and a tiny JSON HTTP client (urllib, no extra packages)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from fakes.cloudflare import DEFAULT_TOKEN
from fakes.server import FakeCloudflare


@pytest.fixture
def fake() -> Iterator[FakeCloudflare]:
    with FakeCloudflare() as f:
        yield f


class Response:
    def __init__(self, status: int, headers: Any, raw: bytes) -> None:
        self.status, self.headers, self.raw = status, headers, raw

    @property
    def json(self) -> Any:
        return json.loads(self.raw)

    @property
    def text(self) -> str:
        return self.raw.decode()


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only


def call(url: str, method: str = "GET", body: Any = None, token: str | None = DEFAULT_TOKEN,  # noqa: PLR0917
         timeout: float = 5.0, raw: bytes | None = None) -> Response:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with _NO_PROXY.open(req, timeout=timeout) as resp:
            return Response(resp.status, resp.headers, resp.read())
    except urllib.error.HTTPError as err:
        return Response(err.code, err.headers, err.read())


def zone_id(fake: FakeCloudflare, name: str = "example.com") -> str:
    return str(call(f"{fake.api_url}/zones?name={name}").json["result"][0]["id"])


def records_url(fake: FakeCloudflare, name: str = "example.com") -> str:
    return f"{fake.api_url}/zones/{zone_id(fake, name)}/dns_records"
