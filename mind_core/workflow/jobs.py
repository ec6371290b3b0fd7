"""Training in warm child processes, for servers that must stay responsive while models train
and for requests of several models that should use every core.

A server (the app) that trains in one of its own threads shares the interpreter with every
page rerun: the training loop's Python work holds the GIL between torch kernels, and the pages
wait for it. :class:`Workers` trains in separate processes instead (``python -m
mind_core.workflow.jobs``, fresh interpreters), at the lowest CPU priority (nice 19) and on one
torch thread each. A worker stays warm: torch is imported and the dataset read once, then it
trains model after model from the lines it is sent, so a request of several models pays the
start once. With two workers on two cores a request's models train two at a time; at one
torch thread each they do not slow each other the way two 2-thread processes do, and the
scheduler still hands the pages a core whenever they want one (the workers are niced).

Which worker trains a model never changes it: each model is trained at one thread from its own
seed (:func:`mind_core.training.trainer.fit` is deterministic at a given thread count), so a
model trained in a request of six scores, bit for bit, as the same model trained alone at one
thread. The bundle records how it was trained (``metrics["trained_by"]``).

A task goes to the child as one JSON line on stdin, with the library's ``MIND_CORE_*`` settings
as they are when it is sent (the data folder above all), so a warm worker trains as a new
process started then would; the child relays the library's
``progress(event, info)`` calls as JSON lines on stdout, each with the task's index
(``info["index"]``); the caller's callback also gets ``("config", {"index": i, "of": n})``
when a task starts and ``("saved", {"index": i, "path": ...})`` when its bundle is written.
(Not ``multiprocessing``: its ``spawn`` re-runs the parent's main script in the child, which in a
Streamlit server is the app itself.)

Locks stay with the caller (:mod:`mind_core.artifacts.lock`): the child trains with
``lock=False``, and stops by itself if its parent dies (it would otherwise train unlocked). The
bundles are written by ``save_bundle`` as always: atomically, so a killed child costs no model.
"""

from __future__ import annotations

import json
import math
import os
import queue
import select
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from mind_core.config import MINDConfig
from mind_core.serving.projection import warm_up
from mind_core.workflow.pipeline import ensure_bundle, forget_loaded_data, train_bundle

EVENT = "@mind-core-job "  # prefix of the child's event lines (anything else is ignored)
WORKERS = 2  # warm workers of a request: one per core of the machine this was measured on
VALIDATION_SHARE = 1.15  # an epoch's time over its training batches' (validation: ~15%)
# An index and map built by a worker that compiled UMAP ahead, over the time of a model of the
# same request: ~3.5 s against ~22 s on the Playground's default request (docs/benchmarks.md);
# a cold worker's map pays UMAP's start too (~3-4 s with its kernels on disk, ~15-20 s when
# they are compiled: docs/benchmarks.md, "UMAP's kernels kept on disk").
WARM_SERVE_SHARE = 0.2


class TrainingFailed(RuntimeError):
    """The child's training raised (``detail`` is its traceback) or the child died."""

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.detail = detail


@dataclass(frozen=True)
class Task:
    """One model of a request: trained into ``out`` (``serve_only``: an existing bundle gets
    its Annoy index and UMAP map, nothing is trained)."""
    config: MINDConfig
    out: Path
    serve_only: bool = False


class _Child:
    """One warm worker process and the thread that reads its events into a shared queue."""

    def __init__(self, slot: int, events: queue.Queue, nice: int, threads: int, workers: int,
                 warm_map: bool = False):
        self.slot = slot
        self.ready = threading.Event()  # set when the child has paid its one-off costs
        self.warmed: dict = {}  # what it paid, in seconds (the child's "ready" event)
        self.stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mind_core.workflow.jobs"], text=True, bufsize=1,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
            env={**os.environ, "MIND_CORE_WORKER": json.dumps(
                {"nice": nice, "threads": threads, "parent": os.getpid(),
                 "workers": workers, "warm_map": warm_map})})
        self.reader = threading.Thread(target=self._read, args=(events,), daemon=True,
                                       name=f"training-worker-{slot}")
        self.reader.start()

    def _read(self, events: queue.Queue) -> None:
        for line in self.proc.stdout:
            if line.startswith(EVENT):
                kind, index, payload = json.loads(line[len(EVENT):])
                if kind == "ready":
                    self.warmed = payload
                    self.ready.set()
                    continue
                events.put((self.slot, kind, index, payload))
        events.put((self.slot, "exit", None, None))

    def send(self, message: dict) -> None:
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def tail(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()[-3000:]

    def stop(self) -> None:
        try:
            self.proc.stdin.close()  # a warm worker ends when its input ends
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()


class Workers:
    """``n`` warm worker processes (nice ``nice``, ``threads`` torch threads each). :meth:`run`
    hands a request's tasks out in order, each to the first worker free; the workers stay
    up between requests until :meth:`close` (or the end of a ``with`` block)."""

    def __init__(self, n: int = WORKERS, nice: int = 19, threads: int = 1,
                 warm_map: bool = False):
        assert n >= 1 and threads >= 1
        self.n, self.nice, self.threads = n, nice, threads
        self.warm_map = warm_map  # each worker also compiles UMAP when it starts idle
        self.children: list[_Child] = []
        self.events: queue.Queue = queue.Queue()
        self.mutex = threading.Lock()  # one request at a time

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for child in self.children:
            child.stop()
        self.children = []

    def warm(self, with_map: bool | None = None) -> None:
        """Start the workers now, if they are not up, without waiting: each pays its one-off
        costs (torch's imports; with ``warm_map``, UMAP's compilation, when no task is waiting
        for it yet) before a request comes, instead of in its first model. ``with_map``, when
        given, sets ``warm_map`` for the workers started now. Does nothing while a request
        runs (its workers are up)."""
        if with_map is not None:
            self.warm_map = with_map
        if self.mutex.acquire(blocking=False):
            try:
                self._start(self.n)
            finally:
                self.mutex.release()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Whether every started worker has paid its one-off costs, waiting up to
        ``timeout`` seconds (False at once if one has stopped)."""
        deadline = math.inf if timeout is None else time.monotonic() + timeout
        for child in list(self.children):
            while not child.ready.wait(0.1):
                if child.proc.poll() is not None or time.monotonic() > deadline:
                    return False
        return True

    def _start(self, count: int) -> None:
        alive = [c for c in self.children if c.proc.poll() is None]
        for c in self.children:
            if c not in alive:
                c.stop()
        self.children = alive
        while not self.events.empty():  # every worker is idle: what is queued is stale (an
            self.events.get_nowait()    # idle worker's exit is handled by restarting it)
        while len(self.children) < count:
            self.children.append(_Child(len(self.children), self.events, self.nice,
                                        self.threads, self.n, self.warm_map))
        for i, c in enumerate(self.children):
            c.slot = i

    def run(self, dataset: str, tasks: list[Task], progress=None,
            with_serving: bool = False, more=None) -> list[Path]:
        """Train ``tasks`` on ``dataset``; returns their bundle paths in the tasks' order.
        Blocks until all are written; raises :class:`TrainingFailed` at the first failure (the
        other workers are stopped, the bundles already written stay).

        ``more(busy)``, when given, is asked for further tasks whenever a worker is free and
        none is waiting (``busy``: the tasks being trained now); what it returns is trained
        too (its indices follow the tasks before it) and its paths returned after theirs. The
        run ends when nothing is running and ``more`` has nothing. So a request whose next
        models depend on what its first ones show keeps both workers busy across its steps."""
        tasks = list(tasks)
        if more is not None and not tasks:
            tasks = list(more([]))
        if not tasks:
            return []
        with self.mutex:
            self._start(self.n if more is not None else min(self.n, len(tasks)))
            paths: dict[int, Path] = {}
            waiting = list(range(len(tasks)))
            running: dict[int, int] = {}  # worker slot -> task index

            def fill() -> None:  # every free worker takes the next task, asked for if none
                for child in self.children:
                    if child.slot in running:
                        continue
                    if not waiting and more is not None:
                        extra = list(more([tasks[i] for i in running.values()]))
                        waiting.extend(range(len(tasks), len(tasks) + len(extra)))
                        tasks.extend(extra)
                    if not waiting:
                        return
                    running[child.slot] = waiting.pop(0)
                    self._give(child, dataset, tasks, running[child.slot], with_serving,
                               progress)

            try:
                fill()
                while running:
                    slot, kind, index, payload = self.events.get()
                    child = self.children[slot]
                    if kind == "progress" and progress is not None:
                        progress(payload[0], {**payload[1], "index": index})
                    elif kind == "saved":
                        paths[index] = Path(payload)
                        del running[slot]
                        if progress is not None:
                            progress("saved", {"index": index, "path": payload})
                        fill()
                    elif kind == "failed":
                        raise TrainingFailed(*payload)
                    elif kind == "exit":
                        status = child.proc.wait()
                        raise TrainingFailed(f"the training process stopped (exit status "
                                             f"{status}) before it finished", child.tail())
            except BaseException:
                self.close()  # a failed or abandoned request takes its workers down
                raise
        return [paths[i] for i in range(len(tasks))]

    def _give(self, child: _Child, dataset, tasks, index, with_serving, progress) -> None:
        task = tasks[index]
        if progress is not None:
            progress("config", {"index": index, "of": len(tasks),
                                "warm_map": bool(child.warmed.get("map"))})
        child.send({"index": index, "dataset": str(dataset), "config": asdict(task.config),
                    "out": str(task.out), "with_serving": with_serving,
                    "serve_only": task.serve_only, "env": _settings()})


@dataclass
class ModelProgress:
    """One model of a request as its worker reports it."""
    config: MINDConfig
    serve_only: bool = False  # its index and map are built, nothing trained
    warm_map: bool = True  # its worker compiled UMAP ahead (known once it starts)
    started: float | None = None
    finished: float | None = None
    batch: dict = field(default_factory=dict)  # the last "batch" event
    epochs: list[dict] = field(default_factory=list)  # the "epoch" events

    first_batch: tuple[float, int] | None = None  # (when, step) of the first batch seen

    def seconds_left(self, now: float, typical: float | None) -> float | None:
        """Its time still to come: its epoch time (its own epochs' seconds, or before the
        first ends its batch rate) times the epochs early stopping still takes at the soonest,
        plus half an epoch for the test scoring; ``typical`` (a finished model's time) before
        it starts, less the time it has run while it gives no figure of its own."""
        if self.finished is not None:
            return 0.0
        if self.epochs:
            per_epoch = statistics.fmean(e["seconds"] for e in self.epochs)
            best = self.epochs[-1].get("best_epoch", len(self.epochs))
            until = min(self.config.epochs, max(len(self.epochs) + 1,
                                                best + self.config.patience))
        elif self.batch and self.first_batch and self.batch["step"] > self.first_batch[1] + 2:
            per_batch = (now - self.first_batch[0]) / (self.batch["step"] - self.first_batch[1])
            per_epoch = per_batch * self.batch["steps"] * VALIDATION_SHARE
            until = min(self.config.epochs, 2 + self.config.patience)  # best at epoch 2: typical
        elif self.started is not None and typical is not None:  # no figure of its own (an
            return max(typical - (now - self.started), 0.1 * typical)  # index and map): ticks
        else:
            return typical
        return max(0.0, per_epoch * (until - len(self.epochs) - self._within() + 0.5))

    def _within(self) -> float:
        """How far into its current epoch it is (0 to 1)."""
        b = self.batch
        if not b or (self.epochs and b.get("epoch", 0) <= self.epochs[-1]["epoch"]):
            return 0.0
        return b["step"] / max(1, b["steps"])


@dataclass
class RequestProgress:
    """What a request of several models has done and what is left, fed by :class:`Workers`'
    events (``progress(event, info)`` with ``info["index"]``): per model its epochs, and an
    estimate of the time left (:meth:`seconds_left`). ``expected_more``: models the request
    will add once these are done (the playground's models after its start is chosen)."""
    models: list[ModelProgress]
    workers: int = WORKERS
    expected_more: int = 0
    stages: list[str] = field(default_factory=list)

    def __call__(self, event: str, info: dict) -> None:
        if event == "stage":
            self.stages.append(str(info.get("message", "")))
        if "index" not in info:
            return
        m, now = self.models[info["index"]], time.time()
        if event == "config":
            m.started = now
            m.warm_map = bool(info.get("warm_map", True))
        elif event == "batch":
            m.batch = dict(info)
            if m.first_batch is None:
                m.first_batch = (now, info["step"])
        elif event == "epoch":
            m.epochs.append(dict(info))
        elif event == "saved":
            m.finished = now

    def add(self, configs: list[MINDConfig], serve_only: bool = False) -> int:
        """Append a follow-up's models; returns the index of the first."""
        first = len(self.models)
        self.models.extend(ModelProgress(c, serve_only) for c in configs)
        self.expected_more = max(0, self.expected_more - len(configs))
        return first

    def done(self) -> int:
        return sum(m.finished is not None for m in self.models)

    def running(self) -> list[ModelProgress]:
        return [m for m in self.models if m.started is not None and m.finished is None]

    def fraction(self, now: float | None = None) -> float:
        """The share of the request done, a running model counting by its time spent
        against its time left."""
        now = time.time() if now is None else now
        total = len(self.models) + self.expected_more
        part = 0.0
        for m in self.running():
            spent, left = now - m.started, m.seconds_left(now, None)
            if left is not None and spent + left > 0:
                part += spent / (spent + left)
        return min(1.0, (self.done() + part) / total) if total else 1.0

    def seconds_left(self, now: float | None = None) -> float | None:
        """The wall time still to come, or None before any figure to estimate it from: each
        model's own time left (:meth:`ModelProgress.seconds_left`; a model not started yet
        counts as long as the finished ones took), spread over the workers."""
        now = time.time() if now is None else now
        finished = [m for m in self.models
                    if m.finished is not None and m.started is not None and not m.serve_only]
        typical = statistics.median(m.finished - m.started for m in finished) \
            if finished else None
        if typical is None:  # none finished: a running model's own estimate stands in
            whole = [now - m.started + left for m in self.running()
                     if (left := m.seconds_left(now, None)) is not None]
            typical = max(whole) if whole else None

        def typical_for(m: ModelProgress) -> float | None:
            """A finished model's time for ``m``: one of the same K if any (a K=1 model of
            the Playground takes ~0.6 of a K=4 one), a fifth for a warm worker's map."""
            if typical is None:
                return None
            if m.serve_only:
                return typical * WARM_SERVE_SHARE if m.warm_map else typical
            same = [f.finished - f.started for f in finished
                    if f.config.interest_num == m.config.interest_num]
            return statistics.median(same) if same else typical

        left = [m.seconds_left(now, typical_for(m)) for m in self.models]
        left += [typical] * self.expected_more
        if any(s is None for s in left):
            return None
        return _makespan([s for s in left if s > 0], self.workers)


def shifted(progress, first: int):
    """``progress`` for a :meth:`Workers.run` whose task 0 is model ``first`` of something
    larger (a request, a job): every event's index moved by ``first``."""
    return lambda event, info: progress(
        event, {**info, "index": info["index"] + first} if "index" in info else info)


def _makespan(seconds: list[float], workers: int) -> float:
    """When ``workers`` lanes that take the jobs in order finish them all."""
    lanes = [0.0] * max(1, workers)
    for s in seconds:
        lanes[lanes.index(min(lanes))] += s
    return max(lanes)


def train_in_child(dataset: str, configs: list[MINDConfig], outs: list[Path], progress=None,
                   with_serving: bool = True, nice: int = 19, threads: int = 1,
                   workers: int = 1) -> list[Path]:
    """Train ``configs`` into ``outs`` in ``workers`` warm child processes (one after another
    by default); returns the bundle paths. Blocks until done; raises :class:`TrainingFailed`
    if a child fails."""
    assert len(configs) == len(outs)
    with Workers(workers, nice, threads) as pool:
        return pool.run(dataset, [Task(c, Path(o)) for c, o in zip(configs, outs, strict=True)],
                        progress, with_serving)


def _settings() -> dict:
    """The library's environment settings (``MIND_CORE_*``: the data folder, ...) as they are
    now: a warm worker started earlier applies them to each task, as a new process would
    inherit them."""
    return {k: v for k, v in os.environ.items()
            if k.startswith("MIND_CORE_") and k != "MIND_CORE_WORKER"}


def _apply(settings: dict) -> None:
    before = _settings()
    for key in before.keys() - settings.keys():
        del os.environ[key]
    os.environ.update(settings)
    if before.get("MIND_CORE_DATA_DIR") != settings.get("MIND_CORE_DATA_DIR"):
        forget_loaded_data()  # another data folder: names may mean other datasets


def _emit(kind: str, index, payload) -> None:
    print(EVENT + json.dumps([kind, index, payload], default=float), flush=True)


def _warm_up(setup: dict) -> dict:
    """The one-off costs a process would otherwise pay in its first model, paid before any
    task: torch's lazy imports (the deterministic mode imports torch._inductor, ~1.5 s) and,
    with ``warm_map`` and no task waiting yet, UMAP's kernels (~3-4 s once numba keeps them on
    disk, :func:`mind_core.serving.projection.cache_kernels`; ~15-20 s on a machine's first
    map, which compiles them). A task that comes meanwhile waits for it."""
    t0 = time.perf_counter()
    torch.use_deterministic_algorithms(torch.are_deterministic_algorithms_enabled())
    paid = {"torch": time.perf_counter() - t0}
    if setup.get("warm_map") and not select.select([sys.stdin], [], [], 0)[0]:
        paid["map"] = warm_up()
    return paid


def _child() -> None:
    """A warm worker: tasks from stdin, one JSON line each, until stdin ends; events to
    stdout."""
    setup = json.loads(os.environ["MIND_CORE_WORKER"])
    os.nice(setup["nice"])
    torch.set_num_threads(setup["threads"])
    _emit("ready", None, _warm_up(setup))
    how = {"runner": "warm worker", "workers": setup["workers"]}
    for line in sys.stdin:
        task = json.loads(line)
        index = task["index"]

        def relay(event, info, index=index):
            if os.getppid() != setup["parent"]:  # orphaned: the parent's locks are gone
                raise SystemExit("the server that started this training is gone")
            _emit("progress", index, [event, dict(info)])

        try:
            _apply(task["env"])
            config = MINDConfig.from_dict(task["config"])
            if task["serve_only"]:  # the index and map of a bundle trained without them
                bundle, _ = ensure_bundle(task["dataset"], config, relay, with_serving=True)
                path = bundle.path
            else:
                path = train_bundle(task["dataset"], config, out=Path(task["out"]),
                                    progress=relay, with_serving=task["with_serving"],
                                    lock=False, trained_by=how)
            _emit("saved", index, str(path))
        except BaseException as e:  # reported to the parent, which raises TrainingFailed
            _emit("failed", index, [f"{e.__class__.__name__}: {e}",
                                    traceback.format_exc(limit=6)])
            raise SystemExit(1) from None


if __name__ == "__main__":
    _child()
