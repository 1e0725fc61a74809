"""Helpers shared by the tests: config composition without the CLI, the real ml-100k's place, CLI
subprocesses, MLflow queries and process control. Imported as ``tests.helpers``."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from hydra import compose, initialize_config_dir

from mtrec.config import CONF_DIR, register_configs

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SCRIPTS = Path(__file__).resolve().parent / "scripts"
# The real MovieLens 100K lives beside the project, never inside it (GroupLens terms).
# MTREC_ML_100K points elsewhere (a git worktree's checkout is not beside shared/).
ML_100K = Path(os.environ.get("MTREC_ML_100K", REPO.parent / "shared" / "data" / "ml-100k"))


def compose_config(*overrides: str):
    """The config `mtrec <overrides>` would run, composed the way Hydra's CLI composes it."""
    register_configs()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def repo_env() -> dict[str, str]:
    """The environment for a subprocess that imports this checkout's mtrec, wherever it runs: the
    repo first on PYTHONPATH (an editable install may point at another checkout of mtrec)."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }


def run_mtrec(cwd: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """Runs `python -m mtrec ARGS` in `cwd`, as a user would, with a SQLite store there."""
    return run_module(cwd, "mtrec", *args, timeout=timeout)


def run_module(cwd: Path, module: str, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """Runs `python -m MODULE ARGS` in `cwd` (a console command: `mtrec.app.transfer`, ...)."""
    env = {**repo_env(), "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def runs_in(db: Path, experiment: str = "mtrec"):
    """All runs of an experiment in a SQLite store, as a pandas DataFrame."""
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{db}")
    return mlflow.search_runs(experiment_names=[experiment])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(ready: Callable[[], bool], timeout: float, what: str, interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, f"{what}: not ready after {timeout:.0f} s"
        time.sleep(interval)


def stop_process_group(proc: subprocess.Popen, grace: float = 10.0, sig: int = signal.SIGTERM) -> None:
    """``sig``, then SIGKILL after ``grace`` s, to the process group of ``proc`` (start_new_session).

    Daemons that a command forks (Ray's GCS and raylet, PostgreSQL's backends) stay in its group,
    so this stops exactly what the test started, never same-named processes of anyone else.
    """
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        proc.poll()  # reaps the group's leader: a zombie would still count as a member
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def run_script(name: str, *args: str, cwd: Path = REPO, timeout: int = 600) -> subprocess.CompletedProcess:
    """Runs ``tests/scripts/<name>`` in a fresh interpreter (the repo importable); fails the test,
    with the script's stderr, unless it exits 0."""
    out = subprocess.run(
        [sys.executable, str(SCRIPTS / name), *args],
        cwd=cwd,
        env=repo_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert out.returncode == 0, f"{name} exited {out.returncode}:\n{out.stderr[-3000:]}"
    return out


def write_ml_100k_table(ml_100k: Path, path: Path) -> Path:
    """The real ml-100k's ratings as one table at ``path`` (.csv or .parquet, UTF-8), with other
    column names than GroupLens's and the item column holding titles, as a practitioner's log
    would: ``customer, film, stars, seen_at``. Written at test time, never kept in the repo."""
    import pandas as pd

    ratings = pd.read_csv(
        ml_100k / "u.data", sep="\t", header=None, names=["customer", "movie_id", "stars", "seen_at"]
    )
    titles = pd.read_csv(
        ml_100k / "u.item",
        sep="|",
        header=None,
        usecols=[0, 1],
        names=["movie_id", "film"],
        encoding="latin-1",
    )
    table = ratings.merge(titles, on="movie_id", how="left", sort=False)[
        ["customer", "film", "stars", "seen_at"]
    ]
    if path.suffix == ".parquet":
        table.to_parquet(path, index=False)
    else:
        table.to_csv(path, index=False)
    return path


# The columns of write_ml_100k_table, as dataset=table overrides (ml-100k rates a title twice
# when two movie ids share it, so the repeated pairs are kept, as the GroupLens reader keeps them).
ML_100K_TABLE_COLUMNS = (
    "dataset.columns.user=customer",
    "dataset.columns.item=film",
    "dataset.columns.rating=stars",
    "dataset.columns.timestamp=seen_at",
    "dataset.duplicates=keep",
)


@contextlib.contextmanager
def mock_tfds(num_examples: int) -> Iterator[None]:
    """``tfds.testing.mock_data``, with the garbage collector off while it is active.

    The mock generates examples in Python, through ``tf.data.Dataset.from_generator``, on one of
    tf.data's threads. Twice the whole suite hung in ``read_tfds`` on this mock (the main thread
    idle in ``iterator_get_next``, no other Python thread), after different earlier tests; the
    same tests alone never did. The likeliest cause is a collection started on that thread running
    the finaliser of an earlier TensorFlow object, which waits for the runtime that waits for the
    generator; with collection off while the mock is read, that cannot happen. Real TFDS data is
    read without a Python generator.
    """
    import gc

    import tensorflow_datasets as tfds

    enabled = gc.isenabled()
    gc.disable()
    try:
        with tfds.testing.mock_data(num_examples=num_examples):
            yield
    finally:
        if enabled:
            gc.enable()


@contextlib.contextmanager
def serve_mlflow(
    options: list[str],
    log_path: Path,
    timeout: float,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> Iterator[str]:
    """A real ``mlflow server <options>`` on a free port of 127.0.0.1, healthy; yields its URL and
    stops its process group afterwards. Its output goes to ``log_path`` (shown if it dies)."""
    import urllib.request

    port = free_port()
    log = log_path.open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", *options, "--host", "127.0.0.1", "--port", str(port)],
        cwd=cwd,
        env=env,
        start_new_session=True,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert server.poll() is None, log_path.read_text()[-3000:]
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    try:
        wait_until(healthy, timeout, f"mlflow server {' '.join(options[:2])}")
        yield url
    finally:
        stop_process_group(server, grace=5)
        log.close()


def postgres_bin(name: str) -> str:
    """A PostgreSQL server program: Debian keeps them in /usr/lib/postgresql/<major>/bin, off PATH."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=lambda p: int(p.split("/")[4]))
    path = found[-1] if found else shutil.which(name)
    assert path, f"PostgreSQL's {name} not found: apt-get install postgresql (scripts/install.sh does)"
    return path


def as_postgres(*cmd: str) -> list[str]:
    """PostgreSQL refuses to run as root; CI runs as root, so drop to the distribution's user."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)


def blas_pools() -> list[dict]:
    """numpy's BLAS thread pools in this process (a function a child process can be given)."""
    import numpy  # noqa: F401
    import threadpoolctl

    return [pool for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"]
