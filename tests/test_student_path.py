"""The student's Lab (`freezelab lab`, `make lab`, the bundle's start.py) and the instructor's formgrader.

A real server on loopback: its root holds lessons and assignments, `/` opens the start page inside it, the
lesson sources and goldens are hidden, nbgrader's instructor UI is off, and a terminal finds `freezelab`.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

from freezelab import lab
from freezelab.cli import main as cli_main
from freezelab.paths import DATA_DIR_ENV

REPO = Path(__file__).resolve().parents[1]
BIN = str(Path(sys.executable).parent)


def make_course_folder(root: Path) -> Path:
    """What a bundle (or the repo) looks like to the Lab: lessons with their jupytext twins, assignments."""
    for rel in ("notebooks/00_start_here.ipynb", "notebooks/01_requires_grad.ipynb",
                "assignments/a1_freezing_basics/a1_freezing_basics.ipynb"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# A lesson")])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, root / rel)
    (root / "notebooks" / "00_start_here.py").write_text("# %%\n")
    (root / "notebooks" / "01_requires_grad.py").write_text("# %%\n")
    (root / "notebooks" / "jupytext.toml").write_text("formats = 'ipynb,py:percent'\n")
    (root / "notebooks" / "expected").mkdir()
    (root / "notebooks" / "expected" / "01_requires_grad.json").write_text("{}")
    for folder in ("wheels", "requirements"):  # what a bundle's start.py installs from
        (root / folder).mkdir()
    return root


def test_student_config_turns_off_the_instructor_ui_and_hides_clutter():
    config = lab.student_config()
    server = config["jupyter_server_config.json"]
    assert not any(server["ServerApp"]["jpserver_extensions"].values())
    assert "nbgrader.server_extensions.formgrader" in server["ServerApp"]["jpserver_extensions"]
    disabled = config["labconfig/page_config.json"]["disabledExtensions"]
    assert {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
            "@jupyter/nbgrader:course-list", "@jupyter/nbgrader:menu"} <= set(disabled)
    assert "-l" not in server["ServerApp"]["terminado_settings"]["shell_command"]  # no login shell
    assert server["LabApp"]["news_url"] is None and lab.ANNOUNCEMENTS_PLUGIN in disabled


def test_lab_command_roots_the_lab_at_the_course_and_opens_the_start_page(tmp_path):
    cmd = lab.lab_command(tmp_path, "/lab/tree/notebooks/00_start_here.ipynb", ["--no-browser"])
    assert f"--ServerApp.root_dir={tmp_path}" in cmd and cmd[-1] == "--no-browser"
    assert "--LabApp.default_url=/lab/tree/notebooks/00_start_here.ipynb" in cmd
    env = lab.lab_env(tmp_path / "cfg")
    assert env["PATH"].split(os.pathsep)[0] == BIN  # terminals inherit the server's PATH
    assert env["JUPYTER_CONFIG_PATH"].split(os.pathsep)[0] == str(tmp_path / "cfg")


def test_lab_and_formgrader_refuse_a_folder_that_is_not_a_course(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli_main(["lab", str(tmp_path)]) == 2
    assert "no notebooks/00_start_here.ipynb" in capsys.readouterr().err
    assert cli_main(["formgrader", "--course", str(tmp_path)]) == 2
    assert "no nbgrader course root" in capsys.readouterr().err


def test_make_lab_and_the_bundle_use_freezelab_lab():
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^lab: .*\n\t\$\(BIN\)/freezelab lab \. ", makefile, re.M)
    assert re.search(r"^formgrader: .*\n\t\$\(BIN\)/freezelab formgrader ", makefile, re.M)
    from freezelab.grading import bundle_start

    # pip's progress shows, and the size of the download is said before it starts
    assert "--quiet" not in bundle_start.install_command(Path("freezelab-0.1.0-py3-none-any.whl"))
    assert re.search(r"downloads about \d+ GB", bundle_start.FIRST_RUN)


def test_bundle_start_py_names_the_variables_freezelab_paths_reads():
    from freezelab import paths
    from freezelab.grading import bundle_start

    assert (bundle_start.CHECKPOINT_ENV, bundle_start.QUIZ_DIR_ENV) == (paths.CHECKPOINT_ENV, paths.QUIZ_DIR_ENV)


def test_bundle_start_py_opens_the_course_with_freezelab_lab(tmp_path):
    """start.py in a bundle whose .venv is set up (here: a venv that sees this environment's packages)."""
    import site
    import venv

    from freezelab.grading import bundle_start

    bundle = make_course_folder(tmp_path / "bundle")
    (bundle / "wheels").mkdir(exist_ok=True)
    (bundle / "wheels" / "freezelab-0.1.0-py3-none-any.whl").write_bytes(b"stand-in")
    (bundle / "requirements").mkdir(exist_ok=True)
    (bundle / "requirements" / "lock.txt").write_text("")
    (bundle / "start.py").write_text(Path(bundle_start.__file__).read_text())
    venv.create(bundle / ".venv", with_pip=False)
    packages = next((bundle / ".venv" / "lib").glob("python*/site-packages"))
    # an `import` line of a .pth runs: addsitedir also reads this env's own .pth files (the editable install)
    (packages / "this_env.pth").write_text(f"import site; site.addsitedir({site.getsitepackages()[0]!r})\n")
    (bundle / ".venv" / ".freezelab-installed").write_text("freezelab-0.1.0-py3-none-any.whl")
    done = subprocess.run([sys.executable, str(bundle / "start.py"), "--help"], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "usage: freezelab lab" in done.stdout  # start.py hands the course folder to `freezelab lab`
    done = subprocess.run([sys.executable, str(bundle / "start.py"), "check", "nope.ipynb"], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2 and "nope.ipynb: no such file" in done.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 10) -> tuple[int, str, str]:
    """Status, final URL and body of a GET (redirects followed)."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())  # keeps the login cookie
    try:
        with opener.open(url, timeout=timeout) as resp:
            return resp.status, resp.url, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, url, ""
    except OSError:  # not listening yet
        return 0, url, ""


async def _terminal_says(base: str, token: str, command: str) -> str:
    """Open a Lab terminal, run `command`, return what the terminal printed."""
    from tornado.httpclient import AsyncHTTPClient, HTTPRequest
    from tornado.websocket import websocket_connect

    resp = await AsyncHTTPClient().fetch(f"http://{base}/api/terminals?token={token}", method="POST", body="")
    name = json.loads(resp.body)["name"]
    ws = await websocket_connect(HTTPRequest(f"ws://{base}/terminals/websocket/{name}?token={token}"))
    await ws.write_message(json.dumps(["stdin", f"{command}; echo END-OF-TEST\r"]))
    text, deadline = "", time.monotonic() + 30
    while "END-OF-TEST\r\n" not in text.replace("echo END-OF-TEST", "") and time.monotonic() < deadline:
        msg = await asyncio.wait_for(ws.read_message(), timeout=30)
        if msg is None:
            break
        kind, *payload = json.loads(msg)
        if kind == "stdout":
            text += payload[0]
    ws.close()
    return text


def _serve(tmp_path: Path, args: list[str]):
    """Run `freezelab ARGS` as a server on loopback with Jupyter's user dirs under tmp_path; stop it after."""
    home = tmp_path / "jupyter"
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "rt"),
               JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "ws"), SHELL="/bin/bash",
               **{DATA_DIR_ENV: str(tmp_path / "progress")})  # quiz answers: never the user's own progress
    log = open(tmp_path / "lab.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [sys.executable, "-m", "freezelab.cli", *args, "--no-browser", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", f"--ServerApp.token={token}", "--ServerApp.port_retries=0"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    base = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while _get(f"http://{base}/api/status?token={token}")[0] != 200:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the Lab did not start:\n" + (tmp_path / "lab.log").read_text()[-3000:])
            time.sleep(0.5)
        yield {"base": base, "token": token}
    finally:
        server.send_signal(signal.SIGTERM)  # freezelab lab passes it on to the server
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture
def student_lab(tmp_path):
    """`freezelab lab FOLDER` on a course folder."""
    yield from _serve(tmp_path, ["lab", str(make_course_folder(tmp_path / "course"))])


@pytest.mark.slow
def test_student_lab_end_to_end(student_lab):
    base, token = student_lab["base"], student_lab["token"]
    # the start page opens inside the root, which holds both lessons and assignments
    status, url, _ = _get(f"http://{base}/?token={token}")
    assert status == 200 and url.split("?")[0].endswith("/lab/tree/notebooks/00_start_here.ipynb")
    top = json.loads(_get(f"http://{base}/api/contents/?token={token}")[2])
    assert {item["name"] for item in top["content"]} == {"notebooks", "assignments"}
    lessons = json.loads(_get(f"http://{base}/api/contents/notebooks?token={token}")[2])
    assert sorted(item["name"] for item in lessons["content"]) == ["00_start_here.ipynb",
                                                                   "01_requires_grad.ipynb"]
    # no formgrader, no courses list; the page tells the Lab to load none of nbgrader's instructor plugins
    assert _get(f"http://{base}/formgrader?token={token}")[0] == 404
    assert _get(f"http://{base}/formgrader/api/courses?token={token}")[0] == 404
    page = _get(f"http://{base}/lab?token={token}")[2]
    config = json.loads(re.search(r'id="jupyter-config-data" type="application/json">(.*?)</script>',
                                  page, re.S).group(1))
    assert {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment"} <= set(
        config["disabledExtensions"])
    # nor JupyterLab's news pop-up and update check; the server fetches no feed and asks PyPI nothing
    assert lab.ANNOUNCEMENTS_PLUGIN in config["disabledExtensions"] and config["news"] == {"disabled": True}
    news = json.loads(_get(f"http://{base}/lab/api/news?token={token}")[2])
    update = json.loads(_get(f"http://{base}/lab/api/update?token={token}")[2])
    assert news["news"] == [] and update["notification"] is None, (news, update)
    # a terminal finds this environment's freezelab
    said = asyncio.run(_terminal_says(base, token, "command -v freezelab"))
    assert f"{BIN}/freezelab" in said, said


@pytest.mark.slow
def test_formgrader_command_serves_formgrader_on_the_course(tmp_path):
    course = tmp_path / "course"
    (course / "source" / "a1").mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(), course / "source" / "a1" / "a1.ipynb")
    (course / "nbgrader_config.py").write_text('c = get_config()  # noqa: F821\nc.CourseDirectory.course_id = "t"\n')
    server = _serve(tmp_path, ["formgrader", "--course", str(course)])
    lab_ = next(server)
    try:
        status, url, page = _get(f"http://{lab_['base']}/?token={lab_['token']}")
        assert status == 200 and "/formgrader/" in url and "nbgrader formgrade" in page, url
        # formgrader reads the course's source/ folder (and makes its gradebook: slow the first time)
        api = _get(f"http://{lab_['base']}/formgrader/api/assignments?token={lab_['token']}", timeout=90)
        assert api[0] == 200 and '"name": "a1"' in api[2], api
    finally:
        server.close()


def test_stamp_language_info_once_in_a_course_folder_never_in_the_repo(tmp_path):
    """Lessons get this kernel's language_info once (no 'save your work?' on close); the repo is untouched."""
    import shutil

    repo = REPO
    kernel_language_info, stamp_language_info = lab.kernel_language_info, lab.stamp_language_info
    assert stamp_language_info(repo) == []  # tracked lessons serve every Python version: left alone
    (tmp_path / "notebooks").mkdir()
    lesson = tmp_path / "notebooks" / "00_start_here.ipynb"
    shutil.copy(repo / "notebooks" / "00_start_here.ipynb", lesson)
    twin = tmp_path / "notebooks" / "00_start_here.py"
    twin.write_text("# %%\n")
    os.utime(twin, (0, 0))
    cells_before = nbformat.read(lesson, as_version=4).cells
    assert stamp_language_info(tmp_path) == [lesson]
    stamped = nbformat.read(lesson, as_version=4)
    assert stamped.metadata["language_info"] == kernel_language_info()
    assert stamped.cells == cells_before  # metadata only
    assert twin.stat().st_mtime > 0  # jupytext's text twin kept level with the notebook
    assert stamp_language_info(tmp_path) == []  # once
