"""Throwaway servers for tests: a real PostgreSQL 15 and a real Dask scheduler with workers, on loopback.

Both start in a fresh temporary folder, listen on a free 127.0.0.1 port and are killed and removed at
teardown, whatever the test did. Import the fixtures from a test module: `from tests._services import ...`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PG_BIN = Path(os.environ.get("FREEZELAB_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_USER = "postgres"  # initdb refuses to run as root: the server runs as this unprivileged user


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_pg_user(cmd: list[str]) -> list[str]:
    return cmd if os.geteuid() != 0 else ["runuser", "-u", PG_USER, "--", *cmd]


def _pg_missing() -> str | None:
    if not (PG_BIN / "initdb").is_file():
        return f"PostgreSQL 15 server binaries not found in {PG_BIN} (Debian package postgresql-15)"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam(PG_USER)
        except KeyError:
            return f"running as root without a '{PG_USER}' user to run the PostgreSQL server as"
    return None


@dataclass
class Postgres:
    """A running throwaway server; `url(db)` is a SQLAlchemy URL for database `db` on it."""

    port: int
    data: Path

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{db}"

    def create_database(self, name: str) -> str:
        """A new empty database; returns its URL."""
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user=PG_USER, dbname="postgres")
        conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
        try:
            with conn.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return self.url(name)


@contextlib.contextmanager
def postgres_server() -> Iterator[Postgres]:
    """initdb + pg_ctl start in a temp folder owned by the server's user; stopped and removed afterwards."""
    missing = _pg_missing()
    if missing:
        pytest.skip(missing)
    root = Path(tempfile.mkdtemp(prefix="freezelab-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, PG_USER, PG_USER)
    data, port = root / "data", free_port()
    started = False
    try:
        subprocess.run(_as_pg_user([str(PG_BIN / "initdb"), "-D", str(data), "-U", PG_USER, "--auth=trust",
                                    "-E", "UTF8", "--no-sync"]),
                       check=True, capture_output=True, timeout=120)
        opts = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c shared_buffers=16MB")
        subprocess.run(_as_pg_user([str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", opts,
                                    "-l", str(root / "server.log"), "-w", "-t", "60", "start"]),
                       check=True, capture_output=True, timeout=90)
        started = True
        yield Postgres(port, data)
    finally:
        if started:
            subprocess.run(_as_pg_user([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate",
                                        "-w", "-t", "30", "stop"]), capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class DaskCluster:
    """A scheduler and its workers, each a process of its own (session leader, so killable as a group)."""

    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen] = field(default_factory=list)


def _dask(args: list[str], cwd: Path, log: Path) -> subprocess.Popen:
    # TMPDIR inside the cluster's folder: what a SIGKILLed worker leaves behind goes at teardown
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore", TMPDIR=str(cwd))
    env.pop("FREEZELAB_DB_URL", None)  # only the coordinator talks to the gradebook
    with open(log, "ab") as fh:
        return subprocess.Popen([str(Path(sys.executable).parent / "dask"), *args], cwd=cwd, env=env,
                                stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    """SIGKILL a process we started and everything in its session (grader subprocesses included)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)


@contextlib.contextmanager
def dask_cluster(n_workers: int = 2, timeout: float = 60) -> Iterator[DaskCluster]:
    """`dask scheduler` + `dask worker` x n (1 thread, no nanny, no dashboard) on loopback."""
    root = Path(tempfile.mkdtemp(prefix="freezelab-dask-"))
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    cluster = DaskCluster(address, _dask(["scheduler", "--host", "127.0.0.1", "--port", str(port),
                                          "--no-dashboard"], root, root / "scheduler.log"))
    try:
        for i in range(n_workers):
            cluster.workers.append(_dask(["worker", address, "--nthreads", "1", "--no-nanny",
                                          "--no-dashboard", "--host", "127.0.0.1", "--name", f"w{i}",
                                          "--local-directory", str(root / f"w{i}")],
                                         root, root / f"worker{i}.log"))
        from distributed import Client

        with Client(address, timeout=timeout) as client:
            client.wait_for_workers(n_workers, timeout=timeout)
        yield cluster
    finally:
        for proc in [*cluster.workers, cluster.scheduler]:
            _stop(proc)
        shutil.rmtree(root, ignore_errors=True)


def worker_pids(address: str) -> dict[str, int]:
    """Worker address -> pid, as the scheduler knows them."""
    from distributed import Client

    with Client(address, timeout=30) as client:
        return client.run(os.getpid)  # runs on each worker's event loop, beside a busy task thread


def wait_until(predicate, timeout: float, what: str, every: float = 0.2) -> None:
    """Poll `predicate()` until true; fail the test naming `what` after `timeout` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
