"""`sqlgpt explain`'s report: safe HTML, a working page in a real browser, and the command.

    html       one self-contained file: no `</script>` or markup from the prompt survives,
               the data round-trips through the embedded JSON
    browser    Debian's chromium, headless, driven by Playwright (never a downloaded
               browser): the page draws, switching layer and head changes the heatmap, no
               console errors, no network requests; a screenshot is saved
    command    `sqlgpt explain` prints the text version, or writes the HTML with -o

All on the tiny random-weight checkpoint with the NumPy engine (the SQL engines' numbers
are checked in test_explain.py).
"""

from __future__ import annotations

import json
import re
import shutil

import pytest

import sqlgpt
from sqlgpt.cli import main
from sqlgpt.explain import Explanation
from sqlgpt.report import render_html, render_text, script_json, write_html

# User text that would break out of the script tag, start markup or run script if pasted raw.
HOSTILE = "</script><!--<script>alert(1)</script><xmp>&__SQLGPT_DATA__"
CHROMIUM = shutil.which("chromium")
BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def explanation(tiny_dir) -> Explanation:
    with sqlgpt.load(tiny_dir, engine="numpy") as gpt:
        return gpt.explain(HOSTILE, top_k=4)


def embedded_data(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="sqlgpt-data">(.*?)</script>', page, re.DOTALL)
    assert match is not None
    return json.loads(match.group(1))


def test_the_prompt_never_becomes_markup(explanation):
    page = render_html(explanation)
    assert page.count("</script>") == 2 and page.count("<script") == 2  # the page's own two
    assert "<xmp>" not in page and "&lt;/script&gt;" in page  # shown, escaped
    assert embedded_data(page)["prompt"] == HOSTILE
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", page)  # nothing to fetch
    assert "<" not in script_json(["</script>", "<!--"]) and json.loads(script_json(["</a>&"])) == ["</a>&"]


def test_the_json_carries_every_measurement(explanation):
    data = embedded_data(render_html(explanation))
    L, H, T = explanation.attention.shape[:3]
    assert (len(data["attention"]), len(data["attention"][0]), len(data["attention"][0][0])) == (L, H, T)
    assert len(data["lens"]) == L and len(data["lens"][0]) == T and len(data["norms"]) == L + 1
    assert [t for t, _ in data["next"]] == [0.5, 1.0, 2.0] and len(data["neighbours"]) == T
    assert [tuple(t) for t in data["tokens"]] == explanation.tokens


def test_text_version(explanation):
    text = render_text(explanation)
    for heading in ("tokens", "attention", "logit lens", "residual stream", "temperature 0.5", "nearest tokens"):
        assert heading in text
    assert f"layer {len(explanation.lens)}" in text


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium); .ci/run installs it")
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_FLAGS)
        yield browser
        browser.close()


def test_the_report_works_in_a_browser(browser, explanation, tmp_path):
    path = write_html(explanation, tmp_path / "report.html")
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: errors.append(f"a dialog opened: {dialog.message}"))
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(path.as_uri())

    assert page.inner_text("#prompt") == HOSTILE
    T = len(explanation.tokens)
    assert page.locator("#strip .chip").count() == T
    assert page.locator("#lens-grid tbody tr").count() == len(explanation.lens) + 1  # + the real next tokens

    def heatmap() -> list[str]:
        return page.eval_on_selector_all("#heatmap rect", "cells => cells.map(c => c.getAttribute('fill'))")

    first = heatmap()
    assert len(first) == T * T
    page.select_option("#layer", "1")
    second = heatmap()
    assert second != first and page.get_attribute("#heatmap", "data-layer") == "1"
    page.select_option("#head", "2")
    third = heatmap()
    assert third != second and page.get_attribute("#heatmap", "data-head") == "2"
    page.select_option("#head", "mean")
    assert heatmap() != third

    screenshot = tmp_path / "report.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert errors == []
    assert requests == [path.as_uri()]  # the page itself, nothing else
    page.close()


def test_the_command_prints_or_writes_the_report(capsys, tiny_dir, tmp_path):
    assert main(["explain", "the cat", "--model", str(tiny_dir), "--engine", "numpy", "-k", "3"]) == 0
    out = capsys.readouterr().out
    assert "logit lens" in out and "temperature 2.0" in out
    report = tmp_path / "report.html"
    database = str(tmp_path / "explain.duckdb")
    assert main(["explain", "the cat", "--model", str(tiny_dir), "-d", database, "-o", str(report), "--keep"]) == 0
    out = capsys.readouterr().out
    assert str(report) in out and "sqlgpt_inspect.lens" in out
    assert embedded_data(report.read_text(encoding="utf-8"))["engine"] == "duckdb"
    assert main(["explain", "the cat", "--model", str(tiny_dir), "-o", str(tmp_path / "no" / "such" / "dir.html"),
                 "-d", database]) == 2
    assert "cannot write" in capsys.readouterr().err
