"""A real JupyterLab on loopback, driven by Chromium: answer, reopen, run axe-core, finish a quiz by keyboard.

One JupyterLab and one browser serve the whole module. Set FREEZELAB_SCREENSHOTS=1 to (re)write the
screenshots in docs/img, FREEZELAB_CHROMIUM to use a browser other than Debian's /usr/bin/chromium, and
FREEZELAB_AXE_JS to an axe.min.js to run offline (otherwise `npm pack` fetches axe-core once per session).
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
import tarfile
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from freezelab.lab import stamp_language_info
from freezelab.quiz import load_bank

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("FREEZELAB_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
AXE_CORE = "axe-core@4.14.1"  # pinned, so a new axe release cannot fail the suite on its own
WAIT_MS = 45_000  # every UI wait fails well under a minute
QUIZ_ITEM = "rg-mcq-meaning"
LESSON = "00_start_here"


def _need(condition: bool, why: str, fix: str) -> None:
    # In CI a missing tool is a failure; on a laptop it is a clear skip.
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why} (CI=true, so the browser tests must run)")
    pytest.skip(f"{why}; {fix} to run the browser tests")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_of_each_kind() -> list[dict]:
    """One bank item of every kind the quiz widget draws (an mcq whose options hold inline code)."""
    wanted = [("mcq", lambda i: any("`" in o["text"] for o in i["options"])),
              ("multi", None), ("code-output", lambda i: not i.get("options")),
              ("code-output", lambda i: bool(i.get("options"))), ("predict", lambda i: bool(i.get("options"))),
              ("predict", lambda i: not i.get("options")), ("free-response", None), ("flashcard", None)]
    bank = load_bank()
    return [next(i for i in bank if i["type"] == kind and (test is None or test(i))) for kind, test in wanted]


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


def _write_notebook(path: Path, *sources: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium and Playwright, or a clear skip (a failure under CI=true)."""
    _need(Path(CHROMIUM).exists(), f"chromium not found at {CHROMIUM}", "apt-get install chromium")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _need(False, "playwright for Python is missing", "pip install playwright")
    return CHROMIUM


@pytest.fixture(scope="session")
def axe_js(tmp_path_factory) -> str:
    """axe-core's browser script: $FREEZELAB_AXE_JS, or `npm pack` from the npm registry once per session."""
    if os.environ.get("FREEZELAB_AXE_JS"):
        return Path(os.environ["FREEZELAB_AXE_JS"]).read_text(encoding="utf-8")
    npm = shutil.which("npm")
    _need(npm is not None, "npm is missing (needed to fetch axe-core)", "install node and npm")
    folder = tmp_path_factory.mktemp("axe")
    done = subprocess.run([npm, "pack", AXE_CORE, "--silent", "--pack-destination", str(folder)], cwd=folder,
                          capture_output=True, text=True, timeout=180)
    tarballs = list(folder.glob("axe-core-*.tgz"))
    _need(done.returncode == 0 and bool(tarballs), f"npm pack {AXE_CORE} failed: {done.stderr.strip()[-300:]}",
          "allow npm to reach its registry or set FREEZELAB_AXE_JS")
    with tarfile.open(tarballs[0]) as tar:
        return tar.extractfile("package/axe.min.js").read().decode("utf-8")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """Start JupyterLab with everything (config, data, progress) in a temp dir; stop it after the module."""
    tmp = tmp_path_factory.mktemp("lab")
    root, home = tmp / "root", tmp / "jupyter"
    root.mkdir()
    _write_notebook(root / "quiz.ipynb", f'from freezelab.quiz import show, flashcards\nshow(ids=["{QUIZ_ITEM}"])',
                    'flashcards(topic="requires_grad")')
    ids = [item["id"] for item in one_of_each_kind()]
    _write_notebook(root / "kinds.ipynb", f"from freezelab.quiz import show, flashcards\nshow(ids={ids})",
                    'flashcards(topic="requires_grad")')
    for name in (f"{LESSON}.ipynb", f"{LESSON}.py", "jupytext.toml"):  # a lesson as a student gets it
        (root / "notebooks").mkdir(exist_ok=True)
        shutil.copy(REPO / "notebooks" / name, root / "notebooks" / name)
    assert stamp_language_info(root) == [root / "notebooks" / f"{LESSON}.ipynb"]  # as `freezelab lab` does
    _write_settings(home / "settings")
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ,
               FREEZELAB_DATA_DIR=str(tmp / "progress"),
               JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
               JUPYTER_PREFER_ENV_PATH="1")
    log = open(tmp / "lab.log", "w")  # noqa: SIM115 - closed in the finally below
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
                                       + (tmp / "lab.log").read_text()[-3000:]) from None
                time.sleep(0.5)
        yield {"base": base, "token": token, "progress": tmp / "progress", "tmp": tmp, "root": root}
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def context(chromium, lab):
    """One Chromium for the module; each test opens its own pages in this context."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield browser.new_context(viewport={"width": 1200, "height": 1000})
        finally:
            browser.close()


def _api(lab: dict, method: str, path: str) -> object:
    req = urllib.request.Request(f"{lab['base']}{path}", method=method,
                                 headers={"Authorization": f"token {lab['token']}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        body = resp.read()
    return json.loads(body) if body else None


def _stop_kernels(lab: dict) -> None:
    for session in _api(lab, "GET", "/api/sessions"):
        _api(lab, "DELETE", f"/api/sessions/{session['id']}")


def _open(context, lab: dict, name: str):
    """Open a notebook and wait until its kernel is connected and idle."""
    page = context.new_page()
    # ?reset: a fresh workspace, so the notebooks of earlier pages do not reopen beside this one.
    page.goto(f"{lab['base']}/lab/tree/{name}?reset&token={lab['token']}", timeout=WAIT_MS)
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(timeout=WAIT_MS)
    # The status bar says "Idle" only once the kernel is really connected.
    page.get_by_role("button", name=re.compile(r"\| Idle$")).wait_for(timeout=WAIT_MS)
    return page


def _menu(page, menu: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{menu}$")).click(timeout=WAIT_MS)
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{item}$")).click(timeout=WAIT_MS)


def _letter(item, letter: str):
    """An option's button: its name is the letter, after the verdict icon once answered."""
    return item.get_by_role("button", name=re.compile(rf"^\W*{letter}$"))


def _dirty_tab(page):
    """The current notebook's tab when it has unsaved changes (closing it would ask to save)."""
    return page.locator(".lm-TabBar-tab.jp-mod-current.jp-mod-dirty")


def _shot(locator, lab: dict, name: str) -> Path:
    folder = REPO / "docs" / "img" if os.environ.get("FREEZELAB_SCREENSHOTS") == "1" else lab["tmp"]
    folder.mkdir(parents=True, exist_ok=True)
    locator.screenshot(path=str(folder / name), timeout=WAIT_MS)
    return folder / name


def _axe(page, axe_js: str) -> list[str]:
    """axe-core on every live quiz and deck on the page: its serious and critical violations, described."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=axe_js)
    result = page.evaluate("""async () => {
        const r = await axe.run({include: [['.freezelab-widget']]}, {resultTypes: ['violations']});
        return {passes: r.passes.length, violations: r.violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map(n => n.target.join(' ')).join(', ')}`)};
    }""")
    assert result["passes"] > 10, "axe-core checked (almost) nothing: are the widgets on the page?"
    return result["violations"]


def _layout_problems(page) -> list[str]:
    """Horizontal scrollbars inside the widgets, button labels cut short, and enabled buttons whose text
    contrast is under WCAG AA's 4.5 (axe-core leaves one-letter buttons out of its contrast rule)."""
    return page.evaluate("""() => {
        const lum = (colour) => {
            const [r, g, b] = colour.match(/[\\d.]+/g).slice(0, 3).map((v) => {
                v = Number(v) / 255;
                return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
            });
            return 0.2126 * r + 0.7152 * g + 0.0722 * b;
        };
        const out = [];
        for (const e of document.querySelectorAll('.freezelab-widget, .freezelab-widget *')) {
            const style = getComputedStyle(e);
            if (e.scrollWidth > e.clientWidth + 1 && ['auto', 'scroll'].includes(style.overflowX))
                out.push(`scrollbar under ${e.className}`);
            if (e.tagName !== 'BUTTON') continue;
            if (e.scrollWidth > e.clientWidth + 1) out.push(`clipped label "${e.innerText}"`);
            const [hi, lo] = [lum(style.color), lum(style.backgroundColor)].sort((a, b) => b - a);
            const ratio = (hi + 0.05) / (lo + 0.05);
            if (!e.disabled && ratio < 4.5) out.push(`contrast ${ratio.toFixed(2)} on "${e.innerText}"`);
        }
        return out;
    }""")


def test_answer_save_and_reopen(context, lab):
    """Wrong then right answer, flip a card; save, reopen: readable before re-running, progress after."""
    from playwright.sync_api import expect

    page = _open(context, lab, "quiz.ipynb")
    _menu(page, "Run", "Run All Cells")
    item = page.locator(f".freezelab-item-{QUIZ_ITEM}")
    score = page.locator(".freezelab-score")
    expect(score).to_contain_text("Score: 0 / 1 right on the first try")
    expect(page.locator(".freezelab-fallback")).to_have_count(2)
    expect(page.locator(".freezelab-fallback:visible")).to_have_count(0)  # hidden next to live widgets
    wrong, right = _letter(item, "B"), _letter(item, "A")
    wrong.click()
    expect(item.get_by_role("alert")).to_contain_text("Not quite: B is wrong.")  # announced
    expect(wrong).to_be_disabled()
    right.click()
    expect(item.get_by_role("alert")).to_contain_text("Correct: A is right.")
    expect(score).to_contain_text("Score: 0 / 1 right on the first try, 1 more after retrying")
    _shot(page.locator(".jp-OutputArea-output").filter(has=score), lab, "quiz.png")

    # Flashcards: flip with a click, then move on with the keyboard (Tab, Enter).
    position = page.get_by_text(re.compile(r"Card \d+ of \d+ ·"))
    expect(position).to_contain_text("Card 1 of")
    flip = page.get_by_role("button", name="Flip card")
    flip.click()
    expect(position).to_contain_text("showing the back")
    _shot(page.locator(".jp-OutputArea-output").filter(has=position), lab, "flashcards.png")
    flip.focus()
    page.keyboard.press("Tab")  # Flip -> Next
    page.keyboard.press("Enter")
    expect(position).to_contain_text("Card 2 of")

    _menu(page, "File", "Save Notebook")
    expect(_dirty_tab(page)).to_have_count(0)
    _stop_kernels(lab)
    page.close()
    saved = nbformat.read(lab["root"] / "quiz.ipynb", as_version=4)
    assert "freezelab-fallback" in saved.cells[1].outputs[0]["data"]["text/html"]

    # Reopened with a fresh kernel and no widget state: the saved fallback reads as the quiz, no error.
    page = _open(context, lab, "quiz.ipynb")
    fallback = page.locator(".freezelab-fallback").first
    expect(fallback).to_contain_text("Run this cell to load the interactive quiz")
    expect(fallback).to_contain_text("What does")
    expect(fallback).to_contain_text("A. Autograd stops computing gradients")  # options lettered like answers
    missing = page.get_by_text("Error displaying widget: model not found")
    expect(missing.first).to_be_attached()  # JupyterLab's verdict on the saved widget output...
    expect(missing.filter(visible=True)).to_have_count(0)  # ...hidden next to the fallback
    expect(page.get_by_text("Loading widget...").filter(visible=True)).to_have_count(0)
    _shot(page.locator(".jp-Cell-outputArea").first, lab, "quiz-reopened.png")
    page.wait_for_timeout(1000)  # the kernel's language info arrives after "Idle"
    expect(_dirty_tab(page)).to_have_count(0)  # opening and reading changes nothing
    _menu(page, "Run", "Run All Cells")
    expect(page.locator(".freezelab-score")).to_contain_text("Score: 0 / 1 right on the first try, 1 more after")
    expect(page.get_by_text(re.compile(r"Saved progress: correct after 2 attempt"))).to_be_visible()
    expect(page.locator(".freezelab-fallback:visible")).to_have_count(0)
    page.close()
    _stop_kernels(lab)
    progress = json.loads((lab["progress"] / "quiz_progress.json").read_text())
    assert progress["items"][QUIZ_ITEM]["correct"] is True


def _tab_to(page, box: str, name: str, limit: int = 30) -> None:
    """Press Tab until the focused control inside `box` is called `name` (its text, label or placeholder)."""
    seen = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate("""(sel) => {
            const a = document.activeElement;
            if (!a || !a.closest(sel)) return null;
            const label = a.closest('label');
            const text = a.innerText || (label && label.innerText) || a.getAttribute('placeholder') || '';
            return text.replace(/^[^\\w]+/, '').trim();  // without the icon glyph
        }""", box)
        seen.append(focused)
        if focused is not None and focused.startswith(name):
            return
    raise AssertionError(f"Tab never reached {name!r} in {box}; focus went through {seen}")


def test_every_widget_kind_is_accessible_and_keyboard_operable(context, lab, axe_js):
    """axe-core finds no serious or critical issue; Tab, Space, arrows and Enter alone finish quiz and deck."""
    from playwright.sync_api import expect

    items = one_of_each_kind()
    mcq, multi, typed, choice, predict, open_predict, free, card = items
    page = _open(context, lab, "kinds.ipynb")
    _menu(page, "Run", "Run All Cells")
    widgets = page.locator(".freezelab-widget")
    expect(widgets).to_have_count(2)
    expect(page.get_by_text(re.compile(r"Card 1 of \d+ ·"))).to_be_visible()
    assert _layout_problems(page) == []
    assert _axe(page, axe_js) == []

    def box(item: dict) -> str:
        return f".freezelab-item-{item['id']}"

    def right_letter(item: dict) -> str:
        return "ABCDEFGHIJ"[[bool(o.get("correct")) for o in item["options"]].index(True)]

    # Start at the first question's first option; from here on, only the keyboard.
    _letter(page.locator(box(mcq)), "A").focus()
    page.keyboard.press("Shift+Tab")
    _tab_to(page, box(mcq), right_letter(mcq))
    page.keyboard.press("Enter")
    expect(page.locator(box(mcq)).get_by_role("alert")).to_contain_text("Correct")
    for letter, option in zip("ABCDEFGHIJ", multi["options"], strict=False):
        if option.get("correct"):
            _tab_to(page, box(multi), f"{letter}.")
            page.keyboard.press("Space")
    _tab_to(page, box(multi), "Check answer")
    page.keyboard.press("Enter")
    expect(page.locator(box(multi)).get_by_role("alert")).to_contain_text("Correct: all options right.")
    _tab_to(page, box(typed), "type the printed output")
    page.keyboard.type(typed["answer"].replace("\n", " "))
    page.keyboard.press("Enter")
    expect(page.locator(box(typed)).get_by_role("alert")).to_contain_text("Correct: that is what it prints.")
    _tab_to(page, box(choice), right_letter(choice))
    page.keyboard.press("Enter")
    expect(page.locator(box(choice)).get_by_role("alert")).to_contain_text("Correct")
    _tab_to(page, box(predict), right_letter(predict))
    page.keyboard.press("Enter")
    expect(page.locator(box(predict)).get_by_role("alert")).to_contain_text("Your prediction:")
    # A picked, not yet locked, prediction: an enabled coloured button.
    assert _layout_problems(page) == []
    assert _axe(page, axe_js) == []
    _tab_to(page, box(predict), "Lock in my answer")
    page.keyboard.press("Enter")
    expect(page.locator(box(predict)).get_by_role("alert")).to_contain_text(
        f"Correct: you locked in {right_letter(predict)}")
    _tab_to(page, box(open_predict), "write your prediction")
    page.keyboard.type("my prediction")
    _tab_to(page, box(open_predict), "Lock in my answer")
    page.keyboard.press("Enter")
    expect(page.locator(box(open_predict)).get_by_role("alert")).to_contain_text("Locked in.")
    _tab_to(page, box(free), "explain in your own words")
    page.keyboard.type("my explanation")
    _tab_to(page, box(free), "Show model answer")
    page.keyboard.press("Enter")
    expect(page.locator(box(free)).get_by_role("alert")).to_contain_text("Model answer")
    _tab_to(page, box(free), re.sub(r"`", "", free["checklist"][0])[:20])
    page.keyboard.press("Space")
    expect(page.locator(box(free))).to_contain_text(f"You covered 1 / {len(free['checklist'])} concepts.")
    _tab_to(page, box(card), "Flip card")
    page.keyboard.press("Enter")
    expect(page.locator(box(card)).get_by_role("alert")).to_contain_text("Back:")
    expect(page.locator(".freezelab-score")).to_contain_text("Score: 5 / 5 right on the first try. 8 of 8 questions")

    # The deck, still by keyboard: flip, next, rate.
    deck = ".freezelab-live-deck"
    _tab_to(page, deck, "Flip card")
    page.keyboard.press("Enter")
    expect(page.locator(deck).get_by_role("alert")).to_contain_text("Back (card 1 of")
    _tab_to(page, deck, "Next")
    page.keyboard.press("Enter")
    expect(page.locator(deck).get_by_role("alert")).to_contain_text("Front (card 2 of")
    _tab_to(page, deck, "I knew it")
    page.keyboard.press("Enter")
    expect(page.locator(deck)).to_contain_text("Card 3 of")
    expect(page.locator(deck)).to_contain_text("1 of")

    # With feedback, verdict colours, checklist and card backs on screen.
    assert _layout_problems(page) == []
    assert _axe(page, axe_js) == []
    _shot(page.locator(box(typed)), lab, "quiz-code-output.png")
    page.close()
    _stop_kernels(lab)


def test_untouched_lesson_does_not_ask_to_save(context, lab):
    """Opening a lesson and closing it without running anything leaves nothing to save.

    The lab fixture stamps the course folder as `freezelab lab` does (freezelab.lab.stamp_language_info):
    without it JupyterLab writes the kernel's language_info into the lesson on open and marks it changed.
    """
    from playwright.sync_api import expect

    page = _open(context, lab, f"notebooks/{LESSON}.ipynb")
    page.wait_for_timeout(1500)  # the kernel's language info arrives after "Idle"
    try:
        expect(_dirty_tab(page)).to_have_count(0, timeout=1000)
    finally:
        page.close()
        _stop_kernels(lab)
