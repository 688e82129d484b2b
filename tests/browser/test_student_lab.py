"""The student's Lab in Chromium: `freezelab lab` on a course folder, seen as a student sees it.

It opens on the start page inside a root that holds lessons and assignments, shows no lesson twins or
goldens, has no Nbgrader menu or "Create Assignment" panel, and its terminal runs `freezelab`.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest
from test_student_path import (  # tests/ is on sys.path (tests/conftest.py)
    _serve,
    make_course_folder,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = os.environ.get("FREEZELAB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
WAIT_MS = 45_000
NEWS_QUESTION = "Would you like to get notified about official Jupyter news?"


@pytest.fixture
def page(tmp_path):
    """A Chromium page on a fresh student Lab (a clear skip without chromium, a failure under CI=true)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"chromium not found at {CHROMIUM} (CI=true, so the browser tests must run)")
        pytest.skip(f"chromium not found at {CHROMIUM}; install it (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    server = _serve(tmp_path, ["lab", str(make_course_folder(tmp_path / "course"))])
    lab = next(server)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.goto(f"http://{lab['base']}/?token={lab['token']}", timeout=WAIT_MS)
            yield page, tmp_path / "course"
            browser.close()
    finally:
        server.close()


def test_student_lab_shows_the_course_and_nothing_of_the_instructor(page):
    from playwright.sync_api import expect

    page, root = page
    expect(page).to_have_url(re.compile(r"/lab/tree/notebooks/00_start_here\.ipynb"))
    expect(page.locator(".lm-TabBar-tab.jp-mod-current")).to_contain_text("00_start_here.ipynb")
    # JupyterLab asks about its news feed as soon as the layout is restored: give it the time to, then look
    page.wait_for_timeout(3000)
    expect(page.get_by_text(NEWS_QUESTION)).to_have_count(0)
    assert page.locator(".Toastify__toast").count() == 0, page.locator(".Toastify__toast").all_inner_texts()
    listing = page.locator(".jp-DirListing-content")
    expect(listing).to_contain_text("01_requires_grad.ipynb")
    names = listing.locator(".jp-DirListing-itemText").all_inner_texts()
    assert not [n for n in names if n.endswith(".py") or n in ("expected", "jupytext.toml")], names
    page.locator(".jp-BreadCrumbs-home").click()  # the root: lessons and assignments side by side
    expect(listing).to_contain_text("assignments")
    expect(listing).to_contain_text("notebooks")
    menus = page.locator(".lm-MenuBar-itemLabel").all_inner_texts()
    assert "File" in menus and "Nbgrader" not in menus, menus
    assert page.locator("#nbgrader-create_assignemnt").count() == 0  # nbgrader's own (misspelt) panel id
    # File > New > Terminal, then freezelab from PATH (xterm draws on a canvas: the test reads a file)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^File$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile("^New$")).first.hover()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Terminal$")).click()
    page.locator(".jp-Terminal").last.wait_for(timeout=WAIT_MS)
    typed = page.locator(".jp-Terminal .xterm-helper-textarea").last
    deadline = time.monotonic() + 40
    while not (root / "version.txt").exists() and time.monotonic() < deadline:
        typed.focus()  # typed again until the shell has connected and run it
        page.keyboard.type("freezelab --version > version.txt", delay=10)
        page.keyboard.press("Enter")
        time.sleep(3)
    assert (root / "version.txt").exists(), "the Lab terminal did not run freezelab (not on PATH?)"
    assert (root / "version.txt").read_text().startswith("freezelab ")
