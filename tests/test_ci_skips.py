"""tests/ci_skips.py, in inner pytest runs (pytester): under CI=true a skip fails, whether it
comes from the test, a fixture, a skipif mark or a module-level importorskip, unless the
allow-list names it, and the allowed ones are listed at the end; without CI, skips stay skips.
It does not run the project's own tests: .ci/run does that.
"""

from __future__ import annotations

import pytest

from . import ci_skips

SKIPS = """
import pytest

def test_in_body():
    pytest.skip("no chromium")

@pytest.fixture
def browser():
    pytest.skip("no browser for the fixture")

def test_in_fixture(browser):
    pass

@pytest.mark.skipif(True, reason="a skipif mark")
def test_marked():
    pass

@pytest.mark.xfail(reason="known bug")
def test_expected_failure():
    assert False

def test_passes():
    pass
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # In process, so the inner run imports this very module (and sees a patched ALLOWED).
    return pytester.runpytest_inprocess("-p", "tests.ci_skips", "-rsfE", *args)


def test_without_ci_skips_stay_skips(pytester, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    pytester.makepyfile(SKIPS)
    result = run(pytester)
    result.assert_outcomes(passed=1, skipped=3, xfailed=1)
    assert "skips allowed under CI=true" not in result.stdout.str()


def test_under_ci_every_skip_fails(pytester, monkeypatch):
    monkeypatch.setenv("CI", "true")
    pytester.makepyfile(SKIPS)
    result = run(pytester)
    result.assert_outcomes(passed=1, failed=1, errors=2, xfailed=1)  # skips in setup (fixture, mark) are errors
    result.stdout.fnmatch_lines([
        "*skips allowed under CI=true*",
        "none: every skip is a failure",
        "FAILED *::test_in_body - skipped under CI=true: no chromium",
        "ERROR *::test_in_fixture - skipped under CI=true: no browser for the fixture",
        "ERROR *::test_marked - skipped under CI=true: a skipif mark",
    ])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_under_ci_a_module_level_importorskip_fails_collection(pytester, monkeypatch):
    monkeypatch.setenv("CI", "true")
    pytester.makepyfile("""
import pytest

not_there = pytest.importorskip("no_such_module_here")

def test_x():
    pass
""")
    result = run(pytester)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*skipped under CI=true: could not import 'no_such_module_here'*"])


def test_under_ci_an_allowed_skip_stays_a_skip_and_is_listed(pytester, monkeypatch):
    monkeypatch.setenv("CI", "true")
    monkeypatch.setitem(ci_skips.ALLOWED, "no chromium", "the test's justification")
    monkeypatch.setitem(ci_skips.ALLOWED, "::test_marked", "allowed by node id")
    pytester.makepyfile(SKIPS)
    result = run(pytester)
    result.assert_outcomes(passed=1, skipped=2, errors=1, xfailed=1)
    result.stdout.fnmatch_lines([
        "*skips allowed under CI=true*",
        "*::test_in_body: no chromium -- allowed: the test's justification",
        "*::test_marked: a skipif mark -- allowed: allowed by node id",
    ])
