"""Under CI=true a skipped test is a failed test, so a missing browser, shell, server or data
set turns CI red instead of quietly green.

A pytest plugin (tests/conftest.py loads it): every skip, whether from `pytest.skip`, a
`skipif` mark, a fixture or `importorskip` in a test, or a module-level skip at collection,
fails with "skipped under CI=true: <reason>", unless ALLOWED names it; the allowed skips that
happened are listed, with their justification, at the end of the run. xfail is left alone,
and without CI=true (a user's machine) skips stay skips.
"""

from __future__ import annotations

import os

import pytest

# A substring of a skip's reason or of its test's node id -> why CI may skip it. Empty: CI is
# a Linux machine with .ci/run's packages and ../shared, where no test of this project has a
# reason to skip. The platform skips ("needs SIGKILL", the Linux-only XDG cache test) cannot
# happen on Linux, so they need no entry.
ALLOWED: dict[str, str] = {}

ALLOWED_SEEN = pytest.StashKey[list[tuple[str, str, str]]]()  # (node id, reason, justification)


def ci() -> bool:
    # Read at each report, not at import, so a test can set CI for an inner pytest run.
    return os.environ.get("CI") == "true"


def justification(nodeid: str, reason: str) -> str | None:
    return next((why for key, why in ALLOWED.items() if key in reason or key in nodeid), None)


def enforce(report, config: pytest.Config) -> None:
    """Turn a skipped report (not an xfail) into a failure unless ALLOWED names it."""
    if not (report.skipped and ci()) or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2].removeprefix("Skipped: ")  # a skip's longrepr is (path, line, reason)
    why = justification(report.nodeid, reason)
    if why is None:
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true: {reason}"
    else:
        config.stash.setdefault(ALLOWED_SEEN, []).append((report.nodeid, reason, why))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    """Setup (fixtures, skipif marks), call and teardown."""
    report = yield
    enforce(report, item.config)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    """A module-level skip or importorskip: under CI it is a collection error."""
    report = yield
    enforce(report, collector.config)
    return report


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    if not ci():
        return
    seen = config.stash.get(ALLOWED_SEEN, [])
    terminalreporter.section("skips allowed under CI=true")
    if not seen:
        terminalreporter.write_line("none: every skip is a failure")
    for nodeid, reason, why in seen:
        terminalreporter.write_line(f"{nodeid}: {reason} -- allowed: {why}")
