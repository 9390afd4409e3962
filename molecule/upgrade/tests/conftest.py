"""Shared fixtures and the journal-on-failure hook (../../shared/ddns_testlib.py)."""

from ddns_testlib import fake, pytest_runtest_makereport, sudo_host, sudo_with_the_password  # noqa: F401
