"""Who trains first: a person's request over the background.

`make run` builds the other models in the background (``mind-core build-defaults
--background``) while the app serves; a Playground or Sweep request started in the browser
should not wait behind that chain. The app *claims* the foreground while it trains a request
(:func:`claim`: a file ``artifacts/.foreground-<pid>`` in the data folder); a background
training pauses between two batches while a claim by a live process exists
(:func:`yielding`), so the request gets both cores, and goes on where it stopped once the claim
is gone. A claim whose process died is ignored and removed, so a crashed server never parks the
chain for good.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from mind_core.artifacts.paths import pid_alive
from mind_core.data.fetch import data_dir

PREFIX = ".foreground-"
CHECK_EVERY = 0.5  # seconds between two looks at the claims while training


def _root() -> Path:
    return data_dir() / "artifacts"


@contextmanager
def claim():
    """Hold the foreground for this process while the block runs."""
    root = _root()
    root.mkdir(parents=True, exist_ok=True)
    mark = root / f"{PREFIX}{os.getpid()}"
    mark.write_text(str(os.getpid()))
    try:
        yield mark
    finally:
        mark.unlink(missing_ok=True)


def claimed() -> list[int]:
    """The live processes claiming the foreground (stale claims are removed)."""
    pids = []
    try:
        marks = list(_root().glob(f"{PREFIX}*"))
    except OSError:
        return []
    for mark in marks:
        try:
            pid = int(mark.name[len(PREFIX):])
        except ValueError:
            continue
        if pid != os.getpid() and pid_alive(pid):
            pids.append(pid)
        elif pid != os.getpid():
            mark.unlink(missing_ok=True)
    return pids


def yielding(progress: Callable | None = None, poll: float = 1.0,
             sleep: Callable[[float], None] = time.sleep) -> Callable:
    """A ``progress(event, info)`` callback for a background training: it passes every event
    on to ``progress`` and, between batches, waits while the foreground is claimed (telling
    ``progress`` once, as a "stage" event, that it pauses and when it resumes)."""
    last = [0.0]

    def callback(event: str, info: dict):
        if progress is not None:
            progress(event, info)
        now = time.monotonic()
        if event not in ("batch", "epoch", "stage") or now - last[0] < CHECK_EVERY:
            return
        last[0] = now
        if not claimed():
            return
        began = time.monotonic()
        if progress is not None:
            progress("stage", {"message": "paused: the app is training a request"})
        while claimed():
            sleep(poll)
        if progress is not None:
            progress("stage", {"message": f"resumed after {time.monotonic() - began:.0f} s"})

    return callback


__all__ = ["claim", "claimed", "yielding", "PREFIX"]
