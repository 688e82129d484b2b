"""Take the student Lab's screenshots in docs/img from a fresh bundle, with real Chromium (headless).

    .venv/bin/python tests/browser/lab_screenshots.py            # writes docs/img/lab-*.png
    .venv/bin/python tests/browser/lab_screenshots.py --out DIR  # elsewhere

It releases the course into a scratch folder (`freezelab release`), opens it with `freezelab lab` as a
student would, and captures: the file browser at the course folder (lessons and assignments), and lesson 01
run top to bottom at its first quiz (docs/img/quiz.png and friends, answered, come from
tests/browser/test_quiz_browser.py). Needs Debian's chromium and Playwright for Python.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))  # test_student_path: the server helper the browser tests use
from test_student_lab import CHROMIUM, WAIT_MS  # noqa: E402
from test_student_path import _serve  # noqa: E402

LESSON = "notebooks/01_requires_grad.ipynb"
QUIZ = "rg-predict-one-step"  # the lesson's first question, asked before the cell that answers it
VIEW = {"width": 1280, "height": 900}


def release(bundle: Path) -> Path:
    """A fresh student bundle of this checkout in `bundle`."""
    subprocess.run([sys.executable, "-m", "freezelab.cli", "release", "--out", str(bundle)], check=True,
                   stdout=subprocess.DEVNULL)
    return bundle


def menu(page, top: str, item: str) -> None:
    """Click a menu bar entry, then one of its items."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{top}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{item}$")).first.click()


def shoot(page, out: Path) -> list[Path]:
    """The two screenshots; return their paths."""
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    shots = []
    # 1. the course folder: lessons and assignments side by side, the start page open next to it
    expect(page.locator(".lm-TabBar-tab.jp-mod-current")).to_contain_text("00_start_here.ipynb")
    page.locator(".jp-BreadCrumbs-home").click()
    listing = page.locator(".jp-DirListing-content")
    expect(listing).to_contain_text("assignments")
    page.wait_for_timeout(1500)  # the start page's markdown finishes rendering
    shots.append(out / "lab-course-folder.png")
    page.screenshot(path=str(shots[-1]))
    # 2. a lesson run top to bottom: the prose, the code and its first quiz, not yet answered
    listing.get_by_text("notebooks", exact=True).dblclick()
    listing.get_by_text("01_requires_grad.ipynb", exact=True).dblclick()
    expect(page.locator(".lm-TabBar-tab.jp-mod-current")).to_contain_text("01_requires_grad.ipynb")
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']:visible").wait_for(timeout=WAIT_MS)
    # a restart waits for the kernel (a plain Run All sent before it is connected runs nothing)
    menu(page, "Kernel", re.escape("Restart Kernel and Run All Cells…"))
    page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept").click()
    item = page.locator(f".freezelab-item-{QUIZ}").first
    item.wait_for(timeout=WAIT_MS)
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']:visible").wait_for(timeout=120_000)
    # the widget's end at the bottom of the window: the lesson's prose and code above it stay in view
    item.evaluate("e => e.scrollIntoView({block: 'end'})")
    page.wait_for_timeout(800)
    shots.append(out / "lab-lesson-quiz.png")
    page.screenshot(path=str(shots[-1]))
    return shots


def main(argv: list[str] | None = None) -> int:
    """Release, serve, shoot; print each screenshot's path and size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "img"), help="where the PNGs go (docs/img)")
    args = parser.parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="freezelab-shots-") as tmp:
        bundle = release(Path(tmp) / "bundle")
        server = _serve(Path(tmp), ["lab", str(bundle)])
        lab = next(server)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
                page = browser.new_page(viewport=VIEW)
                page.goto(f"http://{lab['base']}/?token={lab['token']}", timeout=WAIT_MS)
                try:
                    shots = shoot(page, out)
                except Exception:
                    page.screenshot(path=str(out / "lab-failed.png"))  # what the page showed, to see why
                    print(f"failed: the page as it was is in {out / 'lab-failed.png'}", file=sys.stderr)
                    raise
                browser.close()
        finally:
            server.close()
    for shot in shots:
        print(f"{shot} ({shot.stat().st_size // 1024} kB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
