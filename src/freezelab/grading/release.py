"""`freezelab release`: generate every assignment with nbgrader and build the student bundle.

The bundle (a folder and a zip) holds the lessons, the released assignments, course_content/,
the freezelab wheel, a student README and `start.py`. Before anything is written to --out, every
file (and every member of every archive) is scanned for solution code and hidden checks.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from .course import (
    CHECKS_PACKAGE,
    SECRET_MARKERS,
    GradingError,
    UsageError,
    find_course,
    generate,
    list_assignments,
    repo_root,
)

STUDENT_README = """\
# freezelab: student bundle

Everything you need for the course: lessons in `notebooks/`, assignments in `assignments/`.

## Set up and open the course (one command)

    python3 start.py

You need Python 3.10 or newer. The first run creates `.venv/` here and installs freezelab with its
dependencies at the tested versions: about 3 GB to download from the Python package index (mostly
PyTorch and its CUDA libraries, which also run on a CPU), about 6 GB on disk, 5 to 15 minutes.
pip shows its progress. Then, and on every later run, JupyterLab opens in this folder on the start
page. Stop it with Ctrl+C in the terminal.

## Assignments

{assignments}

1. Open the assignment notebook in JupyterLab and replace every `raise NotImplementedError()`
   with your code. Multiple-choice answers are code, e.g. `ANSWER_Q1 = "b"`. Write free-response
   answers in the markdown cells marked for them.
2. Run the public tests in the notebook as you go (the cells after each exercise).
3. Self-check before you submit. In JupyterLab's terminal (File > New > Terminal):

       freezelab check assignments/<assignment>/<assignment>.ipynb

   or, from any terminal in this folder, `python3 start.py check assignments/...`. It runs the
   notebook in a fresh kernel and reports each exercise. Passing it does not guarantee full marks:
   hidden tests also run at grading time.
4. Submit the `.ipynb` file the way your instructor asked (usually: upload it to your LMS). Do not
   rename, copy or delete the graded cells: a duplicated cell fails the whole notebook.
"""


WHEEL_README = """\
# freezelab

An interactive course on freezing layers in PyTorch: lessons, quizzes and self-checked
assignments that run in JupyterLab. See the README of the student bundle to get started.
"""


def build_wheel(dest: Path) -> Path:
    """Build the freezelab wheel from a scratch copy of the source (never writes into the repo)."""
    root = repo_root()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src-copy"
        src.mkdir()
        for name in ("pyproject.toml", "LICENSE"):
            if (root / name).exists():
                shutil.copy2(root / name, src / name)
        # the repo README (the wheel's long description) has the instructor guide: not for students
        (src / "README.md").write_text(WHEEL_README)
        shutil.copytree(root / "src", src / "src",
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"))
        proc = subprocess.run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps",
                               "--no-build-isolation", "--quiet", "-w", str(dest)],
                              cwd=src, capture_output=True, text=True)
        if proc.returncode != 0:
            raise GradingError(f"building the freezelab wheel failed: {proc.stderr.strip()[-300:]}")
    return sorted(dest.glob("freezelab-*.whl"))[-1]


def secret_files(course: Path) -> tuple[set[str], set[str]]:
    """Content hashes and .py file names of every instructor-only file (autograder/, solutions/)."""
    hashes, names = set(), set()
    roots = [course, course.parent / "solutions", repo_root() / "solutions"]
    for root in roots:
        if not root.is_dir():
            continue
        for path in root.rglob("*"):
            parts = set(path.relative_to(root).parts)
            if not path.is_file() or parts & {"release", "__pycache__", ".ipynb_checkpoints"}:
                continue
            data = path.read_bytes()
            if len(data) >= 64:  # tiny files (empty __init__.py) would match innocent ones
                hashes.add(hashlib.sha256(data).hexdigest())
            if path.suffix == ".py" and path.name != "__init__.py":
                names.add(path.name)
    return hashes, names


def _check_blob(label: str, data: bytes, hashes: set[str], names: set[str]) -> str | None:
    """Why this file is a secret, or None."""
    parts = label.replace("\\", "/").replace("!", "/").split("/")
    if set(parts) & {"autograder", "solutions", CHECKS_PACKAGE}:
        return "an autograder/ or solutions/ path"
    # the package's own modules may share a name with an instructor file; their text is scanned anyway
    if parts[-1] in names and "freezelab" not in parts[:-1]:
        return f"has the name of an instructor-only file ({parts[-1]})"
    for marker in SECRET_MARKERS:
        if marker.encode() in data:
            return f"contains {marker!r}"
    if len(data) >= 64 and hashlib.sha256(data).hexdigest() in hashes:
        return "is a copy of an autograder/ or solutions/ file"
    return None


def scan_bundle(bundle: Path, course: Path) -> list[str]:
    """Every secret found in the bundle, as 'path: reason' (archives are searched member by member)."""
    hashes, names = secret_files(course)
    found = []
    for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
        label = path.relative_to(bundle).as_posix()
        blobs = [(label, path.read_bytes())]
        if zipfile.is_zipfile(path):  # archives (wheel, zip, torch checkpoint): scan each member
            with zipfile.ZipFile(path) as zf:
                blobs = [(label, b"")] + [(f"{label}!{m.filename}", zf.read(m)) for m in zf.infolist()
                          if not m.is_dir()]
        for name, data in blobs:
            reason = _check_blob(name, data, hashes, names)
            if reason:
                found.append(f"{name}: {reason}")
    return found


def build_bundle(course: Path, stage: Path, wheel: Path | None = None) -> None:
    """Fill `stage` with lessons, released assignments, course content, wheel, README, start.py."""
    root = repo_root()
    assignments = list_assignments(course)
    (stage / "notebooks").mkdir(parents=True)
    for nb in sorted((root / "notebooks").glob("*.ipynb")):
        shutil.copy2(nb, stage / "notebooks" / nb.name)
    for name in assignments:
        shutil.copytree(course / "release" / name, stage / "assignments" / name,
                        ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    if (root / "course_content").is_dir():
        shutil.copytree(root / "course_content", stage / "course_content",
                        ignore=shutil.ignore_patterns("__pycache__"))
    (stage / "wheels").mkdir()
    if wheel:
        shutil.copy2(wheel, stage / "wheels" / wheel.name)
    else:
        build_wheel(stage / "wheels")
    shutil.copy2(Path(__file__).with_name("bundle_start.py"), stage / "start.py")
    lock = root / "requirements" / "lock.txt"
    if not lock.is_file():
        raise GradingError(f"{lock} is missing: run `make lock` in the repository, then release again")
    (stage / "requirements").mkdir()
    shutil.copy2(lock, stage / "requirements" / "lock.txt")  # start.py installs exactly these versions
    listing = "\n".join(f"- `assignments/{a}/{a}.ipynb`" for a in assignments)
    (stage / "README.md").write_text(STUDENT_README.format(assignments=listing))
    # the folder can be pushed as a student-only git repository (e.g. for nbgitpuller on a JupyterHub)
    (stage / ".gitignore").write_text(".venv/\n.ipynb_checkpoints/\n__pycache__/\n")


MARKER = ".freezelab-release"  # in the bundle folder: what the last release wrote there, one path a line


def previous_release(out: Path) -> list[str]:
    """The files a previous `freezelab release` wrote into `out` (empty if it did not write there)."""
    marker = out / MARKER
    if not marker.is_file():
        return []
    return [line for line in marker.read_text().splitlines() if line and not line.startswith("#")]


def check_out(out: Path, force: bool, new_files: list[str], zip_path: Path | None) -> list[str]:
    """Refuse an --out that holds anything this command did not write; return the old files to replace."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; pass a folder (new or empty) for the bundle")
    ours = previous_release(out) if out.is_dir() else []
    if out.is_dir() and any(out.iterdir()):
        if not force:
            hint = ("it holds an earlier release: pass --force to replace the files that release wrote"
                    if ours else "choose a new or empty folder")
            raise UsageError(f"--out {out} is not empty; {hint}")
        if not ours:
            raise UsageError(f"--out {out} is not empty and no earlier `freezelab release` wrote there "
                             f"(no {MARKER} file): --force replaces only a release's own files; "
                             "choose a new or empty folder")
        foreign = [f for f in new_files if (out / f).exists() and f not in ours]
        if foreign:
            raise UsageError(f"--out {out}: {foreign[0]} is in the way and was not written by a release; "
                             "move it away or choose another folder")
    zip_name = zip_path.name if zip_path else None
    if zip_path and zip_path.exists() and f"../{zip_name}" not in ours:
        raise UsageError(f"{zip_path} exists and was not written by a release into {out}; "
                         "move it away, choose another --out, or pass --no-zip")
    return ours


def install(stage: Path, out: Path, old: list[str], zip_path: Path | None) -> None:
    """Replace the previous release's files in `out` by the staged ones; leave everything else alone."""
    inside = [rel for rel in old if not rel.startswith("../")]  # the zip next to `out` is replaced below
    for rel in inside:
        target = (out / rel).resolve()
        if target.is_file() and out.resolve() in target.parents:
            target.unlink()
    for rel in sorted(inside, key=lambda r: -r.count("/")):  # prune folders it made and left empty
        for parent in (out / rel).parents:
            if parent == out:
                break
            if parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
    files = sorted(p.relative_to(stage).as_posix() for p in stage.rglob("*") if p.is_file())
    for rel in files:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(stage / rel), out / rel)
    written = files + ([f"../{zip_path.name}"] if zip_path else [])
    (out / MARKER).write_text("# written by `freezelab release`; `--force` replaces exactly these files\n"
                              + "".join(f"{rel}\n" for rel in written))
    if zip_path:
        tmp = zip_path.with_name(zip_path.name + ".part")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for rel in files:
                zf.write(out / rel, f"{out.name}/{rel}")
        tmp.replace(zip_path)


def release(course: Path, out: Path, wheel: Path | None = None, make_zip: bool = True,
            force: bool = False) -> Path:
    """Generate all assignments, build, scan and write the bundle; return the bundle folder.

    Nothing in `out` is touched unless it is new, empty or (with `force`) holds an earlier release, and
    then only the files that release wrote are replaced.
    """
    assignments = list_assignments(course)
    if not assignments:
        raise GradingError(f"no assignments under {course / 'source'}")
    out = out.resolve()
    zip_path = out.with_name(out.name + ".zip") if make_zip else None
    check_out(out, force, [], zip_path)  # fail fast, before nbgrader runs
    for name in assignments:
        print(f"nbgrader generate_assignment {name}")
        generate(course, name)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".freezelab-release-") as tmp:
        stage = Path(tmp) / out.name
        build_bundle(course, stage, wheel)
        secrets = scan_bundle(stage, course)
        if secrets:
            raise GradingError(f"refusing to release: {secrets[0]}"
                               + (f" (and {len(secrets) - 1} more)" if len(secrets) > 1 else ""))
        new_files = [p.relative_to(stage).as_posix() for p in stage.rglob("*") if p.is_file()]
        old = check_out(out, force, new_files, zip_path)
        out.mkdir(exist_ok=True)
        install(stage, out, old, zip_path)
    return out


def main(argv: list[str]) -> int:
    """Entry point of `freezelab release`."""
    parser = argparse.ArgumentParser(prog="freezelab release", description=__doc__.splitlines()[0])
    parser.add_argument("--course", help="nbgrader course root (default: ./autograder or the current folder "
                                         "if it is one, else the repo's autograder/)")
    parser.add_argument("--out", default="dist/student_bundle",
                        help="the bundle folder itself, new or empty (default dist/student_bundle; "
                             "a .zip of it is written next to it)")
    parser.add_argument("--force", action="store_true",
                        help="replace an earlier release in --out (only the files it wrote; "
                             "anything else there is kept)")
    parser.add_argument("--wheel", help="use this prebuilt freezelab wheel instead of building one")
    parser.add_argument("--no-zip", action="store_true", help="write only the folder")
    args = parser.parse_args(argv)
    try:
        course = find_course(args.course)
        print(f"course: {course}")
        wheel = Path(args.wheel) if args.wheel else None
        if wheel and not wheel.is_file():
            raise GradingError(f"--wheel {wheel}: no such file")
        out = release(course, Path(args.out), wheel, make_zip=not args.no_zip, force=args.force)
    except UsageError as exc:
        print(f"freezelab release: {exc}", file=sys.stderr)
        return 2
    except GradingError as exc:
        print(f"freezelab release: {exc}", file=sys.stderr)
        return 1
    zipped = "" if args.no_zip else f" and {out}.zip"
    print(f"student bundle written to {out}{zipped} (scanned: no solutions, no hidden tests)")
    return 0
