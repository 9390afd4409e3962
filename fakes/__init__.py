"""Loopback fakes for pi-ddns tests, Molecule and the demo: Cloudflare API v4, IP echo, DNS.

Stdlib only, so any python3.11 can run it: ``python3 -m fakes --port 0`` or, in-process,
``from fakes.server import FakeCloudflare``.
"""

from fakes.cloudflare import DEFAULT_TOKEN

__all__ = ["DEFAULT_TOKEN"]
