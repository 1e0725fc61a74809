"""Python's garbage collector and the objects that live as long as the process."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


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
