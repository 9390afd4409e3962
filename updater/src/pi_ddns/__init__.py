"""pi-ddns: keep Cloudflare DNS records on the home's public IP address."""

__version__ = "0.1.0"
