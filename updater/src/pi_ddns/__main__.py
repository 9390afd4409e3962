"""`python -m pi_ddns` runs the CLI."""

from pi_ddns.cli import run

run()
