"""Training in a child process, for servers that must stay responsive while a model trains.

A server (the app) that trains in one of its own threads shares the interpreter with every
page rerun: the training loop's Python work holds the GIL between torch kernels, and the pages
wait for it. :func:`train_in_child` trains in a separate process instead
(``python -m mind_core.workflow.jobs``, a fresh interpreter), at the lowest CPU priority (nice 19)
and on one torch thread, so on a 2-core machine one core stays free for the pages and the scheduler
hands the other to them whenever they want it. The job goes to the child as JSON on stdin; the
child reads the dataset itself and relays the library's ``progress(event, info)`` calls as
JSON lines on stdout; the caller's callback also gets ``("config", {"index": i, "of": n})``
before each configuration starts. (Not ``multiprocessing``: its ``spawn`` re-runs the parent's
main script in the child, which in a Streamlit server is the app itself.)

Locks stay with the caller (:mod:`mind_core.artifacts.lock`): the child trains with ``lock=False``,
and stops by itself if its parent dies (it would otherwise train unlocked). The bundles are
written by ``save_bundle`` as always: atomically, so a killed child costs no model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import traceback
from dataclasses import asdict
from pathlib import Path

import torch

from mind_core.config import MINDConfig
from mind_core.workflow.pipeline import train_bundle

EVENT = "@mind-core-job "  # prefix of the child's event lines (anything else is ignored)


class TrainingFailed(RuntimeError):
    """The child's training raised (``detail`` is its traceback) or the child died."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail


def train_in_child(dataset: str, configs: list[MINDConfig], outs: list[Path], progress=None,
                   with_serving: bool = True, nice: int = 19, threads: int = 1) -> list[Path]:
    """Train ``configs`` one after another into ``outs`` in a child process; returns the
    bundle paths. Blocks until done; raises :class:`TrainingFailed` if the child fails."""
    assert len(configs) == len(outs)
    job = {"dataset": str(dataset), "configs": [asdict(c) for c in configs],
           "outs": [str(o) for o in outs], "with_serving": with_serving, "nice": nice,
           "threads": threads, "parent": os.getpid()}
    paths: list[Path] = []
    with tempfile.TemporaryFile(mode="w+") as stderr:
        child = subprocess.Popen([sys.executable, "-m", "mind_core.workflow.jobs"], text=True,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)
        try:
            child.stdin.write(json.dumps(job))
            child.stdin.close()
            for line in child.stdout:
                if not line.startswith(EVENT):
                    continue
                kind, payload = json.loads(line[len(EVENT):])
                if kind == "progress" and progress is not None:
                    progress(*payload)
                elif kind == "saved":
                    paths.append(Path(payload))
                elif kind == "failed":
                    raise TrainingFailed(*payload)
            status = child.wait()
        finally:
            if child.poll() is None:  # the caller gave up (e.g. interrupted): so does the child
                child.kill()
                child.wait()
        if status != 0 or len(paths) != len(configs):
            stderr.seek(0)
            tail = stderr.read()[-3000:]
            raise TrainingFailed(f"the training process stopped (exit status {status}) "
                                 f"before it finished", tail)
    return paths


def _emit(kind: str, payload) -> None:
    print(EVENT + json.dumps([kind, payload], default=float), flush=True)


def _child() -> None:
    """The child's side: the job from stdin, events to stdout."""
    job = json.loads(sys.stdin.read())
    try:
        os.nice(job["nice"])


        torch.set_num_threads(job["threads"])

        def relay(event, info):
            if os.getppid() != job["parent"]:  # orphaned: the parent's locks are gone
                raise SystemExit("the server that started this training is gone")
            _emit("progress", [event, dict(info)])

        for i, (config, out) in enumerate(zip(job["configs"], job["outs"], strict=True)):
            relay("config", {"index": i, "of": len(job["configs"])})
            path = train_bundle(job["dataset"], MINDConfig.from_dict(config), out=Path(out),
                                progress=relay, with_serving=job["with_serving"], lock=False)
            _emit("saved", str(path))
    except BaseException as e:  # reported to the parent, which raises TrainingFailed
        _emit("failed", [f"{e.__class__.__name__}: {e}", traceback.format_exc(limit=6)])
        raise SystemExit(1) from None


if __name__ == "__main__":
    _child()
