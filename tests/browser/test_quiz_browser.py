"""A real JupyterLab on loopback, driven by Chromium: answer a quiz, flip a card, reopen, see progress.

Set FREEZELAB_SCREENSHOTS=1 to (re)write docs/img/quiz.png and docs/img/flashcards.png, and
FREEZELAB_CHROMIUM to use a browser other than Debian's /usr/bin/chromium.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("FREEZELAB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
WAIT_MS = 45_000  # every UI wait fails well under a minute
QUIZ_ITEM = "rg-mcq-meaning"


def _need(condition: bool, why: str) -> None:
    # In CI a missing browser is a failure; on a laptop it is a clear skip.
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why} (CI=true, so the browser tests must run)")
    pytest.skip(f"{why}; install it (apt-get install chromium) to run the browser tests")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_settings(settings: Path) -> None:
    # Render every cell (no virtualised notebook) and keep news/update toasts out of the way.
    files = {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
            {"fetchNews": "false", "checkForUpdates": False},
    }
    for name, value in files.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value), encoding="utf-8")


def _write_notebook(root: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(f'from freezelab.quiz import show, flashcards\nshow(ids=["{QUIZ_ITEM}"])'),
        nbformat.v4.new_code_cell('flashcards(topic="requires_grad")'),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / "quiz.ipynb")


@pytest.fixture
def chromium() -> str:
    """Debian's chromium and Playwright, or a clear skip (a failure under CI=true)."""
    _need(Path(CHROMIUM).exists(), f"chromium not found at {CHROMIUM}")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _need(False, "playwright for Python is missing (pip install playwright)")
    return CHROMIUM


@pytest.fixture
def lab(tmp_path):
    """Start JupyterLab with everything (config, data, progress) under tmp_path; stop it after."""
    root, home = tmp_path / "root", tmp_path / "jupyter"
    root.mkdir()
    _write_notebook(root)
    _write_settings(home / "settings")
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ,
               FREEZELAB_DATA_DIR=str(tmp_path / "progress"),
               JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
               JUPYTER_PREFER_ENV_PATH="1")
    log = open(tmp_path / "lab.log", "w")  # noqa: SIM115 - closed in the finally below
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
           f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}",
           "--ServerApp.port_retries=0", "--LabApp.news_url=None"]
    server = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not start:\n"
                                       + (tmp_path / "lab.log").read_text()[-3000:]) from None
                time.sleep(0.5)
        yield {"base": base, "token": token, "progress": tmp_path / "progress", "tmp": tmp_path}
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _api(lab: dict, method: str, path: str) -> object:
    req = urllib.request.Request(f"{lab['base']}{path}", method=method,
                                 headers={"Authorization": f"token {lab['token']}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = resp.read()
    return json.loads(body) if body else None


def _open_and_run(page, lab: dict) -> None:
    page.goto(f"{lab['base']}/lab/tree/quiz.ipynb?token={lab['token']}", timeout=WAIT_MS)
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=WAIT_MS)
    # The status bar says "Idle" only once the kernel is really connected.
    page.get_by_role("button", name=re.compile(r"\| Idle$")).wait_for(timeout=WAIT_MS)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Run$")).click(timeout=WAIT_MS)
    page.locator(".lm-Menu-itemLabel", has_text=re.compile("^Run All Cells$")).click(timeout=WAIT_MS)


def _shot(locator, lab: dict, name: str) -> Path:
    folder = REPO / "docs" / "img" if os.environ.get("FREEZELAB_SCREENSHOTS") == "1" else lab["tmp"]
    folder.mkdir(parents=True, exist_ok=True)
    locator.screenshot(path=str(folder / name), timeout=WAIT_MS)
    return folder / name


def test_quiz_and_flashcards_in_jupyterlab(chromium, lab):
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 1000})
            page = context.new_page()
            _open_and_run(page, lab)

            # Quiz: a wrong answer explains itself; the right one raises the score.
            wrong = page.get_by_role("button", name=re.compile(r"B\. It deletes the parameter"))
            right = page.get_by_role("button", name=re.compile(r"A\. Autograd stops computing"))
            score = page.get_by_text(re.compile(r"Score: \d+ / 1 correct"))
            expect(score).to_contain_text("Score: 0 / 1 correct")
            wrong.click()
            expect(page.get_by_text("Not quite: B is wrong.")).to_be_visible()
            expect(wrong).to_be_disabled()
            right.click()
            expect(page.get_by_text("Correct: A is right.")).to_be_visible()
            expect(score).to_contain_text("Score: 1 / 1 correct")
            quiz_output = page.locator(".jp-OutputArea-output").filter(has=score)
            _shot(quiz_output, lab, "quiz.png")

            # Flashcards: flip with a click, then move on with the keyboard (Tab, Enter).
            position = page.get_by_text(re.compile(r"Card \d+ of \d+"))
            expect(position).to_contain_text("Card 1 of")
            flip = page.get_by_role("button", name="Flip card")
            flip.click()
            expect(position).to_contain_text("showing the back")
            deck_output = page.locator(".jp-OutputArea-output").filter(has=position)
            _shot(deck_output, lab, "flashcards.png")
            flip.focus()
            page.keyboard.press("Tab")  # Flip -> Next
            page.keyboard.press("Enter")
            expect(position).to_contain_text("Card 2 of")

            # Reopen with a fresh kernel: the saved progress comes back.
            for session in _api(lab, "GET", "/api/sessions"):
                _api(lab, "DELETE", f"/api/sessions/{session['id']}")
            page.close()
            page = context.new_page()
            _open_and_run(page, lab)
            expect(page.get_by_text(re.compile(r"Score: 1 / 1 correct"))).to_be_visible()
            expect(page.get_by_text(re.compile(r"Saved progress: correct after 2 attempt"))
                   ).to_be_visible()
        finally:
            browser.close()
    saved = json.loads((lab["progress"] / "quiz_progress.json").read_text())
    assert saved["items"][QUIZ_ITEM]["correct"] is True
