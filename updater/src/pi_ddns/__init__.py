"""pi-ddns: keep Cloudflare DNS records on the home's public IP address."""

import sys

__version__ = "0.1.0"

# The role runs check-config with the controller's Python, which may be older than the Pi's.
if sys.version_info < (3, 11):  # noqa: UP036 - tomllib
    sys.stderr.write(f"pi-ddns: error: needs Python 3.11 or later (for tomllib), not "
                     f"{sys.version.split()[0]}\n")
    raise SystemExit(69)  # EX_UNAVAILABLE
