"""What a process keeps between the jobs it runs: one object, :class:`ProcessState`.

A multirun's jobs share a process under Hydra's basic launcher (and within a joblib or Ray
worker). Work that does not depend on the job is done once per process and kept here: the parsed
and split dataset, the baselines of each split, the last exported serving graph, and whether the
long-lived imports have happened. Each saves real time (see the performance page of the docs);
all of it lives exactly as long as the process, in the one instance :func:`current` returns.
Tests make their own instances.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import threading
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from threadpoolctl import threadpool_limits

from mtrec.app.child_call import ChildCall
from mtrec.data.interactions import Split


@contextlib.contextmanager
def long_lived() -> Iterator[None]:
    """Creates objects that live as long as the process without the full collections their growth
    triggers, then moves everything alive to the collector's permanent generation.

    CPython runs a full collection whenever the objects that survived earlier ones grow by a
    quarter. Importing TensorFlow, or opening MLflow's SQL store, grows them several times over,
    and each of those collections re-scans everything (measured in ``experiment=tutorial``: 1.4 s
    of full collections during TensorFlow's import, 0.6 s during a new store's creation, and each
    later one slower for all that is now alive). Frozen objects are never scanned again, nor
    collected: use this only once or twice a process, around what it keeps to the end. It starts
    with one full collection, so that nothing already dead is frozen with them.
    """
    enabled = gc.isenabled()
    gc.collect()  # Whatever is already garbage is collected now, not frozen with them (a leak).
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def freeze_before_exit() -> None:
    """Moves everything alive out of the garbage collector's sight before the process exits.

    Python's shutdown ends with a full collection, which walks every TensorFlow graph object the
    jobs built (measured: 1.2-3 s after a three-model sweep). Nothing is left to run by then;
    atexit handlers, threads and open files still finish as usual.
    """
    gc.freeze()


@dataclass
class ProcessState:
    """The caches a process's jobs share, and what it has already set up.

    Attributes:
      splits: dataset key -> its train/test split (parsed, encoded and split once; a future: it
        may be loading in a prefetch thread, ``mtrec.app.prefetch``).
      baselines: split key -> ``baseline/*`` metrics of that split (a future: they may be computed
        in a child process or a thread, :meth:`start_baselines`).
      loads: how many splits this process has loaded; ``hits`` how often it reused one.
      export_graphs: the last exported serving graph (``mtrec.serving.export.GraphCache``), made
        on first use: creating it needs TensorFlow.
      set_up: names of the one-off set-ups done (:meth:`once`).
      warm_up: the thread loading what the end of the first run needs (``mtrec.app.warmup``),
        once started.
      prefetched: keys of splits a prefetch loaded that no job has taken yet;
        ``prefetches_taken`` how many such splits jobs have taken.
      children: the child processes computing baselines (:meth:`start_baselines`).
    """

    splits: dict[Hashable, Future[Split]] = field(default_factory=dict)
    baselines: dict[Hashable, Future[dict[str, float]]] = field(default_factory=dict)
    loads: int = 0
    hits: int = 0
    export_graphs: Any = None
    set_up: set[str] = field(default_factory=set)
    strategies: dict[str, Any] = field(default_factory=dict)
    warm_up: threading.Thread | None = None
    prefetched: set[Hashable] = field(default_factory=set)
    prefetches_taken: int = 0
    children: list[ChildCall] = field(default_factory=list)
    # The caches are filled from a prefetch thread (mtrec.app.prefetch) and the jobs' thread.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def split(self, key: Hashable, load: Callable[[], Split], prefetch: bool = False) -> Split:
        """The split cached under ``key``, loaded with ``load()`` by the first caller (another
        caller meanwhile waits for it). A load that fails is raised to every caller waiting for
        it and tried again by the next. ``prefetch``: a load ahead of the jobs; the first job that
        takes its split counts it as loaded, not as a reuse (``hits``)."""
        with self._lock:
            future = self.splits.get(key)
            owner = future is None
            if future is None:
                future = self.splits[key] = Future()
                self.loads += 1
                if prefetch:
                    self.prefetched.add(key)
            elif not prefetch:
                if key in self.prefetched:
                    self.prefetched.discard(key)
                    self.prefetches_taken += 1
                else:
                    self.hits += 1
        if owner:
            try:
                future.set_result(load())
            except BaseException as e:
                with self._lock:
                    del self.splits[key]
                    self.loads -= 1
                    self.prefetched.discard(key)
                future.set_exception(e)
        return future.result()

    def start_baselines(
        self,
        key: Hashable,
        compute: Callable[[], dict[str, float]],
        blas_threads: int | None = None,
        in_child: bool = True,
    ) -> None:
        """Starts ``compute()`` for ``key`` in a child process (``in_child``: ``compute`` must
        pickle) or a thread, unless its baselines are known or under way (:meth:`baselines_of`
        waits for them). ``blas_threads``: numpy's BLAS threads meanwhile (None: its default)."""
        future: Future[dict[str, float]] = Future()
        with self._lock:
            if key in self.baselines:
                return
            self.baselines[key] = future
        if in_child:
            try:
                self.children.append(ChildCall(compute, blas_threads, "mtrec-baselines", future))
            except OSError as e:  # no interpreter to start: raised by baselines_of, in the job
                future.set_exception(e)
            return
        if blas_threads is not None:
            unlimited = compute

            def compute() -> dict[str, float]:
                # numpy's BLAS pool is the whole process's: set only where nothing else needs it.
                with threadpool_limits(blas_threads, user_api="blas"):
                    return unlimited()

        def run() -> None:
            try:
                future.set_result(compute())
            except BaseException as e:  # Raised again by baselines_of, in the job that needs them.
                future.set_exception(e)

        # Not a daemon: a process that exits early (a failed job, Ctrl-C) waits for the numpy work
        # to end. A daemon thread still inside OpenBLAS at exit can hang the interpreter's
        # shutdown for good (seen here: a failed sweep that never exited).
        threading.Thread(target=run, name="mtrec-baselines").start()

    def stop_children(self) -> None:
        """Kills the child processes still computing (their results are no longer needed: the
        process's jobs have ended), so that the exit does not wait for them."""
        for child in self.children:
            child.stop()
        self.children.clear()

    def baselines_of(self, key: Hashable, compute: Callable[[], dict[str, float]]) -> dict[str, float]:
        """The baselines cached under ``key``: computed with ``compute()`` the first time, or
        awaited when :meth:`start_baselines` has started them. A computation that failed is
        tried again by the next call."""
        with self._lock:
            future = self.baselines.get(key)
            owner = future is None
            if future is None:
                future = self.baselines[key] = Future()
        if owner:
            try:
                future.set_result(compute())
            except BaseException as e:
                future.set_exception(e)
        try:
            return future.result()
        except BaseException:
            with self._lock:
                if self.baselines.get(key) is future:
                    del self.baselines[key]
            raise

    def cache_stats(self) -> dict[str, int]:
        """How often this process has loaded a split (``loads``) and reused a cached one (``hits``)."""
        return {"loads": self.loads, "hits": self.hits}

    def once(self, name: str) -> contextlib.AbstractContextManager[None]:
        """:func:`long_lived` the first time ``name`` is set up in this process, else nothing: for
        what a process creates once and keeps (TensorFlow's import, MLflow's SQL layer)."""
        if name in self.set_up:
            return contextlib.nullcontext()
        self.set_up.add(name)
        return long_lived()

    def strategy(self, name: str, make: Callable[[], Any]) -> Any:
        """The ``tf.distribute`` strategy called ``name``, made once (TF allows one multi-worker
        set-up a process)."""
        if name not in self.strategies:
            self.strategies[name] = make()
        return self.strategies[name]


@functools.cache
def current() -> ProcessState:
    """This process's state: made on first use, kept until the process exits."""
    return ProcessState()
