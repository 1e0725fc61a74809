"""Where a search's study lives, what it is called, and its trials that nobody runs any more.

A study is always stored in a database (Optuna's ``RDBStorage``), so re-running a command
continues its study. Without ``hydra.sweeper.storage`` it is ``optuna.db`` beside the MLflow
SQLite file (``sqlite:///mlflow.db`` -> ``sqlite:///optuna.db``), else in the working directory;
without ``hydra.sweeper.study_name`` it is named from the search (see :func:`default_name`).

Hydra's plugin scan executes this module in every ``mtrec`` process, sweep or not: Optuna, MLflow
(:mod:`mtrec.tracking.liveness`) and mtrec's config checks (numpy) are imported by the functions
that use them, not here, and annotations name Optuna's types as strings. No ``from __future__
import annotations``: Hydra executes plugin modules before it registers them.
"""

import hashlib
import json
import threading
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.trial import TrialState

DEFAULT_FILE = "optuna.db"
# Trial user attributes that name the process running the trial (mtrec.tracking.liveness's tags).
OWNER_ATTR = "mtrec.owner"


class StudyError(ValueError):
    """A storage that cannot be opened, or a study that does not fit the search."""


def done_states() -> "tuple[TrialState, ...]":
    """COMPLETE and PRUNED: the trials that count toward ``n_trials``."""
    from optuna.trial import TrialState

    return (TrialState.COMPLETE, TrialState.PRUNED)


def default_storage(tracking_uri: str | None) -> str:
    """``optuna.db`` in the folder of a ``sqlite:///`` MLflow store, else in the working directory."""
    if tracking_uri and tracking_uri.startswith("sqlite:///"):
        folder = Path(tracking_uri.removeprefix("sqlite:///")).parent
    else:
        folder = Path.cwd()
    return f"sqlite:///{(folder / DEFAULT_FILE).resolve()}"


def default_name(
    prefix: str,
    space: "Mapping[str, BaseDistribution]",
    fixed: Iterable[str],
    directions: Sequence[str],
    objectives: Sequence[str],
) -> str:
    """``<prefix>-<12 hex digits>``: a hash of what the study searches over, and with what.

    The search space, the directions, the objectives and the fixed overrides that define a run
    (``dataset.path=...``, ``experiment=smoke``; not ``hydra.*``, ``tracking.*``, ``sweep.*``)
    enter the hash; ``n_trials`` and ``n_jobs`` do not, so raising ``n_trials`` continues the study.
    """
    from optuna.distributions import distribution_to_json

    from mtrec.config.run_keys import defines_run

    kept = sorted(
        o for o in fixed if not o.startswith("hydra.") and defines_run(o.lstrip("+~").split("=")[0])
    )
    search = {
        "space": {k: json.loads(distribution_to_json(d)) for k, d in sorted(space.items())},
        "fixed": kept,
        "directions": list(directions),
        "objectives": list(objectives),
    }
    digest = hashlib.sha256(json.dumps(search, sort_keys=True).encode()).hexdigest()[:12]
    return f"{prefix}-{digest}"


def open_study(
    url: str,
    name: str,
    directions: Sequence[str],
    sampler: "optuna.samplers.BaseSampler",
    pruner: "optuna.pruners.BasePruner",
    heartbeat_interval: int,
    grace_period: int,
) -> "tuple[optuna.Study, optuna.storages.RDBStorage]":
    """Creates the study, or loads it when it exists (``load_if_exists``); returns it and its storage.

    Raises:
      StudyError: the storage cannot be opened, or the stored study has other directions.
    """
    import optuna

    kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # heartbeats
    for attempt in range(3):
        try:
            storage = optuna.storages.RDBStorage(
                url, engine_kwargs=kwargs, heartbeat_interval=heartbeat_interval, grace_period=grace_period
            )
            study = optuna.create_study(
                storage=storage,
                study_name=name,
                sampler=sampler,
                pruner=pruner,
                directions=cast(list[Any], list(directions)),
                load_if_exists=True,
            )
            break
        except Exception as e:  # SQLAlchemy's and Optuna's errors: the storage or the study is unusable
            why = (str(e).strip().splitlines() or [type(e).__name__])[0]
            # Two commands creating one new SQLite file's tables at once: the later one retries.
            # Optuna stamping a new file's schema version twice is the same race ("UNIQUE
            # constraint failed: alembic_version.version_num", seen once on a loaded machine).
            if attempt < 2 and any(sign in why for sign in ("already exists", "locked", "UNIQUE constraint")):
                time.sleep(1.0)
                continue
            if _holds_mlflow(url):
                raise StudyError(
                    f"hydra.sweeper.storage={_redact(url)} is an MLflow store's database; MLflow and "
                    "Optuna both version their tables in alembic_version, so the study needs a "
                    "database of its own (e.g. createdb optuna; hydra.sweeper.storage=postgresql://"
                    "host/optuna)"
                ) from e
            raise StudyError(
                f"hydra.sweeper.storage={_redact(url)}: cannot open study {name!r}: {why}"
            ) from e
    stored = [d.name.lower() for d in study.directions]
    if stored != [d.lower() for d in directions]:
        raise StudyError(
            f"study {name!r} in {_redact(url)} has directions {stored}, not {list(directions)}; "
            "set another hydra.sweeper.study_name"
        )
    return study, storage


def _holds_mlflow(url: str) -> bool:
    """Whether the database at ``url`` has MLflow's tracking tables (its ``experiments`` and
    ``runs``): MLflow's alembic revision then sits in the ``alembic_version`` table Optuna's
    schema check reads, and Optuna refuses the storage (checked with optuna 5.1.0, mlflow 3.17.2)."""
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(url)
        try:
            tables = set(sqlalchemy.inspect(engine).get_table_names())
        finally:
            engine.dispose()
    except Exception:  # unreachable, or no database at all: the caller's own message says so
        return False
    return {"experiments", "runs"} <= tables


def _redact(url: str) -> str:
    from mtrec.tracking.store import redact

    return redact(url)


def claim(trial: "optuna.trial.Trial") -> None:
    """Records which process runs ``trial``, so a later command can tell that it died."""
    from mtrec.tracking.liveness import process_tags

    trial.set_user_attr(OWNER_ATTR, process_tags())


def fail_abandoned(study: "optuna.Study") -> list[int]:
    """Fails the RUNNING trials nobody runs any more; returns their numbers.

    A trial of a process on this host that is gone (SIGKILL, a crash) fails at once; one of
    another host when its heartbeat is older than the storage's grace period
    (``optuna.storages.fail_stale_trials``). A trial whose process lives (another command sharing
    the study) is left alone.
    """
    import optuna
    from optuna.trial import TrialState

    from mtrec.tracking.liveness import HOST_TAG, dead_reason, process_tags

    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.user_attrs.get(OWNER_ATTR) or {}
        if owner.get(HOST_TAG) != process_tags()[HOST_TAG] or dead_reason(owner) is None:
            continue
        try:
            study.tell(trial.number, state=TrialState.FAIL)
        except (ValueError, RuntimeError):
            continue  # another command got there first
        failed.append(trial.number)
    before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))}
    optuna.storages.fail_stale_trials(study)
    after = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))}
    return sorted({*failed, *(after - before)})


def count(study: "optuna.Study", states: "Sequence[TrialState]") -> int:
    return len(study.get_trials(deepcopy=False, states=tuple(states)))


class Heartbeats:
    """Beats for the trials this process runs (by number), every ``interval`` s, on a daemon
    thread: what ``study.optimize`` does for its trials, which an ask-and-tell loop must do itself."""

    def __init__(self, storage: "optuna.storages.RDBStorage", study_name: str, interval: float) -> None:
        self.storage, self.interval = storage, interval
        self.study_id = storage.get_study_id_from_name(study_name)
        self.numbers: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="optuna-heartbeat")

    def __enter__(self) -> "Heartbeats":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def beat(self) -> None:
        for number in list(self.numbers):
            try:
                self.storage.record_heartbeat(
                    self.storage.get_trial_id_from_study_id_trial_number(self.study_id, number)
                )
            except Exception:  # a beat lost to a locked SQLite file is made up next time
                continue

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()
