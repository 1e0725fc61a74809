"""No run stays RUNNING after its process is gone: where a run lives, its heartbeat, and the end
of the runs whose process died.

A process killed by SIGKILL (the OOM killer, a pre-empted machine, ``kill -9``) cannot close its
run. So every mtrec run (a job's, and a sweep's parent run) records where it runs, as tags:

- ``mtrec.host``: the machine's host name;
- ``mtrec.pid``: the process id;
- ``mtrec.process_started``: when that process started (Unix seconds, read from ``/proc`` on
  Linux), so that a later process reusing the id is not mistaken for it;
- ``mtrec.heartbeat``: Unix seconds, rewritten every :data:`HEARTBEAT_INTERVAL_SECONDS` by a
  daemon thread (:class:`Heartbeat`) for as long as the run is open.

Whenever mtrec opens a store (every command: :func:`mtrec.tracking.connect.open_store`),
:func:`end_dead_runs` ends KILLED each RUNNING run whose process is certainly gone: on this host,
no process with its id and start time exists (or only a zombie); on another host (which this one
cannot look into), its heartbeat is older than :data:`HEARTBEAT_TIMEOUT_SECONDS`. The run's tag
``mtrec.error`` then says which, and its end time is its last heartbeat. A run on this host whose
process is alive is never ended, however old its heartbeat (a store locked for minutes delays
heartbeats). Runs that mtrec did not start (no ``mtrec.host`` tag) are left alone.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import mlflow
from mlflow.entities import Run, RunStatus

from mtrec.tracking.store import retry_locked

HEARTBEAT_INTERVAL_SECONDS = 60.0
"""How often an open run rewrites its ``mtrec.heartbeat`` tag."""
HEARTBEAT_TIMEOUT_SECONDS = 900.0
"""A run on another host whose heartbeat is older than this (15 missed beats) is ended KILLED."""
HOST_TAG, PID_TAG, STARTED_TAG, HEARTBEAT_TAG = (
    "mtrec.host",
    "mtrec.pid",
    "mtrec.process_started",
    "mtrec.heartbeat",
)
# Two readings of one process's start differ by the clock's adjustments since boot, at most.
SAME_START_TOLERANCE_SECONDS = 2.0
log = logging.getLogger("mtrec")


def process_started(pid: int) -> float | None:
    """When process ``pid`` started (Unix seconds); None if there is no such live process, or no
    ``/proc`` to read it from (not Linux). A zombie counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        btime = next(line for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime"))
    except (OSError, StopIteration):
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the command's name, in parentheses, may hold spaces
    if fields[0] in ("Z", "X"):  # zombie or dead: the run can never be closed by it
        return None
    return int(btime.split()[1]) + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def _is_alive(pid: int, started: float | None) -> bool:
    """Whether process ``pid`` of this host is alive and is the one that started at ``started``."""
    if Path("/proc/self/stat").is_file():
        now_started = process_started(pid)
        if now_started is None:
            return False
        return started is None or abs(now_started - started) <= SAME_START_TOLERANCE_SECONDS
    try:  # Without /proc: the id alone (a reused id keeps the run until its heartbeat times out).
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_tags() -> dict[str, str]:
    """The tags that say where this process's run lives, and its first heartbeat."""
    tags = {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid()), HEARTBEAT_TAG: f"{time.time():.0f}"}
    started = process_started(os.getpid())
    if started is not None:
        tags[STARTED_TAG] = f"{started:.2f}"
    return tags


def _float(tags: Mapping[str, str], key: str) -> float | None:
    try:
        return float(tags[key])
    except (KeyError, ValueError):
        return None


def dead_reason(tags: Mapping[str, str], now: float | None = None) -> str | None:
    """Why a RUNNING run's process is certainly gone, from its tags; None if it may be alive."""
    host = tags.get(HOST_TAG)
    if host is None:
        return None  # not an mtrec run, or one from before these tags
    pid = tags.get(PID_TAG, "")
    if host == socket.gethostname() and pid.isdigit():
        if _is_alive(int(pid), _float(tags, STARTED_TAG)):
            return None
        return f"ProcessDied: the run's process (pid {pid} on {host}) is gone; the run was still RUNNING"
    beat = _float(tags, HEARTBEAT_TAG)
    age = (now or time.time()) - (beat or 0.0)
    if beat is not None and age <= HEARTBEAT_TIMEOUT_SECONDS:
        return None
    return (
        f"HeartbeatLost: no heartbeat from the run's process (pid {pid} on {host}) for {age:.0f} s "
        f"(timeout {HEARTBEAT_TIMEOUT_SECONDS:.0f} s); the run was still RUNNING"
    )


def end_dead_runs(now: float | None = None) -> list[str]:
    """Ends KILLED every RUNNING run of the current store whose process is gone (see the module).

    Returns:
      The ids of the runs it ended.
    """
    client = mlflow.MlflowClient()
    running: list[Run] = retry_locked(
        mlflow.search_runs,
        search_all_experiments=True,
        filter_string="attributes.status = 'RUNNING'",
        output_format="list",
    )
    ended = []
    for run in running:
        reason = dead_reason(run.data.tags, now)
        if reason is None:
            continue
        # Read again: the run may have ended since the search (its process closing it, then exiting).
        if retry_locked(client.get_run, run.info.run_id).info.status != "RUNNING":
            continue
        beat = _float(run.data.tags, HEARTBEAT_TAG)
        retry_locked(client.set_tag, run.info.run_id, "mtrec.error", reason)
        retry_locked(
            client.set_terminated,
            run.info.run_id,
            status=RunStatus.to_string(RunStatus.KILLED),
            end_time=int(beat * 1000) if beat else None,
        )
        log.warning(f"mtrec: run {run.info.run_id} ({run.info.run_name}): {reason}; marked KILLED")
        ended.append(run.info.run_id)
    return ended


class Heartbeat:
    """Rewrites a run's ``mtrec.heartbeat`` tag every ``interval`` seconds from a daemon thread,
    from ``start()`` until ``stop()`` (or the ``with`` block's end); ``interval`` defaults to
    :data:`HEARTBEAT_INTERVAL_SECONDS`."""

    def __init__(self, run_id: str, interval: float | None = None) -> None:
        self.run_id = run_id
        self.interval = interval or HEARTBEAT_INTERVAL_SECONDS
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"mtrec-heartbeat-{run_id}", daemon=True)

    def _beat(self) -> None:
        client = mlflow.MlflowClient()
        while not self._stopped.wait(self.interval):
            try:
                retry_locked(client.set_tag, self.run_id, HEARTBEAT_TAG, f"{time.time():.0f}")
            except Exception as e:  # A missed beat is not the run's failure; the next one may pass.
                log.debug(f"mtrec: heartbeat of run {self.run_id} not written ({type(e).__name__}: {e})")

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def __enter__(self) -> Heartbeat:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
