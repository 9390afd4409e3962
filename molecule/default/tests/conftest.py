"""Shared fixtures and the journal-on-failure hook (../../shared/ddns_testlib.py)."""

from __future__ import annotations

import os

import pytest
from ddns_testlib import fake, pytest_runtest_makereport, sudo_host, sudo_with_the_password  # noqa: F401


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The role's bad-input suite (molecule.yml adds it) judges the play's inputs, the same on
    every target: it runs on the suite a card gets today (trixie), which halves its cost."""
    if os.environ.get("PI_SUITE", "trixie") == "trixie":
        return
    skipped = [i for i in items if i.path.name == "test_bad_input.py"]
    if skipped:
        config.hook.pytest_deselected(items=skipped)
        items[:] = [i for i in items if i not in skipped]
