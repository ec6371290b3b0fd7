"""Training from the browser: background jobs, a lock per configuration, live progress.

A job trains on the board's warm worker processes (``mind_core.workflow.jobs.Workers``: two
children at nice 19, one torch thread each, kept up a few minutes between requests), fed by a
thread of the server, so it keeps going when the reader switches pages,
every session sees it, and the pages' reruns never wait for the training loop (which would hold
the server's GIL if it ran in one of its threads). Progress arrives through the library's plain
``progress(event, info)`` callback, relayed from the child, and is stored on the job; the Train
page polls it from a fragment (``st.fragment(run_every=...)``).

Two trainings of the same configuration cannot run at once: a job holds the configuration's
lock (:mod:`mind_core.artifacts.lock`, lock file ``artifacts/<dataset>/.lock-<model name>``) for its
whole run, the same lock ``mind-core train``, ``sweep`` and ``build-defaults`` take, so the app
and the CLI exclude each other too; a lock whose process is gone is taken over. The job calls
``train_bundle(..., lock=False)`` in its child because the server already holds the locks
(they are not re-entrant). A failed job shows its error; bundles are written atomically by the
library, so existing models stay as they were.

Safe to share (docs/design.md, "The app"): browser trainings run one at a time, the others wait
in a queue every viewer sees, capped at :data:`MAX_QUEUED`; a server trains at most
:data:`MAX_APP_MODELS` models for its browsers. On a shared server (``MIND_PUBLIC=1``, what
``make serve-public`` sets) a training starts only with the token the server was given
(``MIND_TRAIN_TOKEN``), or never when it was given none. :meth:`JobBoard.start` checks all of
it itself, so no page can start a training around it; pages only grey out their buttons with
the same reason (:func:`refusal`).
"""

from __future__ import annotations

import hmac
import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from mind_core.artifacts import (
    Lock,
    TrainingLocked,
    acquire,
    default_bundle_path,
    foreground,
    is_held,
    lock_path,
    model_name,
)
from mind_core.config import MINDConfig
from mind_core.workflow.jobs import (
    WORKERS,
    ModelProgress,
    RequestProgress,
    Task,
    TrainingFailed,
    Workers,
)

__all__ = ["Job", "JobBoard", "TrainingLocked", "TrainingRefused", "acquire_lock",
           "being_trained", "board", "lock_path", "refusal", "release_lock", "warm_workers"]
_held: dict[Path, Lock] = {}  # locks taken through acquire_lock, by path
MAX_QUEUED = 3  # trainings waiting behind the running one
MAX_APP_MODELS = 40  # models one server trains for its browsers (about 2 MB-40 MB each)


def is_public() -> bool:
    """Whether this server is shared beyond localhost (``MIND_PUBLIC=1``)."""
    return os.environ.get("MIND_PUBLIC", "").lower() in ("1", "true", "yes")


def refusal(token: str | None) -> str | None:
    """Why a session holding ``token`` may not start training here, or None if it may."""
    if not is_public():
        return None
    expected = os.environ.get("MIND_TRAIN_TOKEN", "")
    if not expected:
        return ("Training from the browser is off on this shared server: it was started "
                "without a training token (`make serve-public TOKEN=...` allows it).")
    if token and hmac.compare_digest(token.encode(), expected.encode()):
        return None
    if token:
        return ("That training token is not the one this shared server was started with: "
                "check it in the sidebar.")
    return ("Training from the browser needs the training token this shared server was "
            "started with: enter it in the sidebar.")


class TrainingRefused(Exception):
    """A training the server will not start: no token, a full queue, or the model cap."""


def acquire_lock(dataset: str, config: MINDConfig) -> Path:
    """Take ``config``'s lock on ``dataset`` (its lock file's path is returned) or raise
    :class:`TrainingLocked` ("... is already being trained by pid N");
    :func:`release_lock` lets go."""
    lock = acquire(default_bundle_path(config, dataset),
                   f"{model_name(config)} (K={config.interest_num})")
    _held[lock.path] = lock
    return lock.path


def release_lock(path: Path) -> None:
    lock = _held.pop(Path(path), None)
    if lock is not None:
        lock.release()


@dataclass
class Job:
    """Models trained in the background for one request, two at a time on the board's warm
    workers (:class:`mind_core.workflow.jobs.Workers`). ``follow(busy, request)``, when given,
    is asked whenever a worker is free and none of these is left to give, for the request's
    next models (the playground's K values and seeds, once its start is chosen;
    :func:`mind_core.workflow.playground.follow_up`): ``(configs, serve)``, ``serve`` being
    built models that get their index and map once nothing is left to train. ``busy``: the
    bundle paths training now; ``request``: this job's per-model progress."""
    id: str
    dataset: str
    configs: list[MINDConfig]
    state: str = "queued"  # queued, running, done, failed
    paths: list[str] = field(default_factory=list)
    error: str | None = None
    detail: str | None = None
    started: float = field(default_factory=time.time)  # accepted
    began: float | None = None  # left the queue and started training
    finished: float | None = None
    locks: dict[int, Path] = field(default_factory=dict)  # model index -> its lock file
    with_serving: bool = True  # also build the Annoy index and the UMAP map
    dataset_name: str = ""  # the folder under artifacts/ its bundles go to
    follow: Callable[[list[Path], RequestProgress],
                     tuple[list[MINDConfig], list[MINDConfig]]] | None = None
    request: RequestProgress = None  # per-model progress and the time left

    def __post_init__(self):
        if self.request is None:
            self.request = RequestProgress([ModelProgress(c) for c in self.configs])

    @property
    def current(self) -> int:
        """The model most recently started (the first before any)."""
        started = [i for i, m in enumerate(self.request.models) if m.started is not None]
        return max(started, key=lambda i: self.request.models[i].started) if started else 0

    @property
    def config(self) -> MINDConfig:
        return self.configs[min(self.current, len(self.configs) - 1)]

    @property
    def epochs(self) -> list[dict]:
        return self.request.models[self.current].epochs

    @property
    def batch(self) -> dict:
        return self.request.models[self.current].batch

    @property
    def stages(self) -> list[str]:
        return self.request.stages

    @property
    def title(self) -> str:
        ks = ", ".join(str(c.interest_num) for c in self.configs)
        return f"K={ks} on {self.dataset}"

    def fraction(self) -> float:
        return 1.0 if self.state == "done" else self.request.fraction()

    def seconds_left(self) -> float | None:
        return 0.0 if self.state == "done" else self.request.seconds_left()

    def progress(self, event: str, info: dict) -> None:
        self.request(event, info)
        if event == "saved":  # a model landed: it is no longer being trained
            path = self.locks.pop(info["index"], None)
            if path is not None:
                release_lock(path)


WARM_SECONDS = 300  # how long the workers stay up after the last job, for the next request


class JobBoard:
    """All training jobs of this server process (shared by every session): one runs at a
    time, in the order they were accepted, on one thread that feeds the warm workers."""

    def __init__(self):
        self.jobs: dict[str, Job] = {}
        self.mutex = threading.Lock()
        self.wake = threading.Condition(self.mutex)
        self.accepted_models = 0  # models accepted for training since the server started
        self.worker: threading.Thread | None = None
        # the Playground's map step then costs ~3 s instead of ~18 s (docs/benchmarks.md)
        self.workers = Workers(WORKERS, warm_map=True)

    def warm(self, with_map: bool = True) -> None:
        """Start the workers ahead of a request (:meth:`Workers.warm`; ``with_map``: UMAP
        compiled too, for a request that ends with a map) and the thread that lets them go
        :data:`WARM_SECONDS` after the last job, or after this if no job comes."""
        with self.mutex:
            self.workers.warm(with_map)
            if self.worker is None or not self.worker.is_alive():
                self.worker = threading.Thread(target=self._work, daemon=True,
                                               name="training-worker")
                self.worker.start()

    def active(self) -> list[Job]:
        return [j for j in self.jobs.values() if j.state in ("queued", "running")]

    def waiting(self) -> list[Job]:
        return [j for j in self.jobs.values() if j.state == "queued"]

    def start(self, dataset: str, configs: list[MINDConfig], dataset_name: str,
              with_serving: bool = True, token: str | None = None, follow=None,
              expect: int = 0) -> Job:
        """Queue ``configs`` for training, locking each configuration. Raises
        TrainingRefused (no token on a shared server, a full queue, the model cap) or
        TrainingLocked. ``with_serving=False`` skips the Annoy index and the UMAP map (much
        faster; the app then searches exactly and shows no map for that model). ``follow``:
        see :class:`Job`; ``expect``: how many models it will add (for the time left)."""
        reason = refusal(token)
        if reason:
            raise TrainingRefused(reason)
        with self.mutex:
            busy = any(j.state == "running" for j in self.jobs.values())
            if busy and len(self.waiting()) >= MAX_QUEUED:
                raise TrainingRefused(f"{len(self.waiting())} trainings are already waiting, "
                                      "the most this server queues: try again when one has "
                                      "finished (the Train page lists them).")
            if self.accepted_models + len(configs) > MAX_APP_MODELS:
                raise TrainingRefused(f"This server has trained {self.accepted_models} models "
                                      f"for its browsers, and trains at most {MAX_APP_MODELS}: "
                                      "train more with the `mind-core` command.")
            locks = {}
            try:
                for i, c in enumerate(configs):
                    locks[i] = acquire_lock(dataset_name, c)
            except TrainingLocked:
                for path in locks.values():
                    release_lock(path)
                raise
            job_id = "+".join(model_name(c) for c in configs) + f"@{time.time_ns()}"
            job = Job(job_id, dataset, list(configs), locks=locks, with_serving=with_serving,
                      dataset_name=dataset_name, follow=follow)
            job.request.expected_more = expect
            self.jobs[job_id] = job
            self.accepted_models += len(configs)
            if self.worker is None or not self.worker.is_alive():
                self.worker = threading.Thread(target=self._work, daemon=True,
                                               name="training-worker")
                self.worker.start()
            self.wake.notify_all()
        return job

    def _work(self) -> None:
        """Run the queued jobs one after another; keep the workers warm for
        :data:`WARM_SECONDS` after the last, then let them go."""
        while True:
            with self.mutex:
                job = next((j for j in self.jobs.values() if j.state == "queued"), None)
                if job is None:
                    self.wake.wait(WARM_SECONDS)
                    job = next((j for j in self.jobs.values() if j.state == "queued"), None)
                if job is None:
                    self.worker = None
                    self.workers.close()
                    return
                job.state = "running"
            self._run(job, job.dataset_name)

    def _run(self, job: Job, dataset_name: str) -> None:
        job.state, job.began = "running", time.time()
        try:
            with foreground.claim():  # `make run`'s background chain waits meanwhile
                self._steps(job, dataset_name)
            job.state = "done"
        except TrainingFailed as e:  # shown to the reader; the library left old bundles intact
            job.error, job.detail, job.state = str(e), e.detail, "failed"
        except Exception as e:
            job.error = f"{e.__class__.__name__}: {e}"
            job.detail = traceback.format_exc(limit=6)
            job.state = "failed"
        finally:
            job.finished = time.time()
            for path in job.locks.values():  # the job holds them; the child trains unlocked
                release_lock(path)
            job.locks.clear()

    def _steps(self, job: Job, dataset_name: str) -> None:
        """The job's models, then its follow-ups' as workers free up (both kept busy across
        the request's steps), then the index and map it serves."""
        def more(busy: list[Task]) -> list[Task]:
            train, serve = job.follow([t.out for t in busy], job.request)
            trained = {model_name(c) for c in job.configs}
            train = self._claim(job, [c for c in train if model_name(c) not in trained])
            if train:
                job.request.add(train)
                job.configs.extend(train)
                return [Task(c, default_bundle_path(c, dataset_name)) for c in train]
            if serve:  # follow() leaves out what is busy
                job.request.add(serve, serve_only=True)
                return [Task(c, default_bundle_path(c, dataset_name), serve_only=True)
                        for c in serve]
            return []

        tasks = [Task(c, default_bundle_path(c, dataset_name)) for c in job.configs]
        paths = self.workers.run(job.dataset, tasks, progress=job.progress,
                                 with_serving=job.with_serving,
                                 more=more if job.follow is not None else None)
        job.paths.extend(str(path) for path, m in zip(paths, job.request.models, strict=True)
                         if not m.serve_only)
        job.request.expected_more = 0

    def _claim(self, job: Job, configs: list[MINDConfig]) -> list[MINDConfig]:
        """The follow-up's models this job can lock (one another process trains is left to
        it), locked under the indices they will take."""
        claimed, first = [], len(job.request.models)
        for c in configs:
            try:
                path = acquire_lock(job.dataset_name, c)
            except TrainingLocked:
                continue
            job.locks[first + len(claimed)] = path
            claimed.append(c)
        self.accepted_models += len(claimed)
        return claimed


@st.cache_resource
def board() -> JobBoard:
    return JobBoard()


def warm_workers(with_map: bool = True) -> None:
    """Start the board's workers while a person reads a page that trains, so that the click
    does not pay their start (torch's imports; ``with_map``, for a page whose request ends
    with a map, UMAP's compilation, which a task arriving meanwhile waits for:
    docs/benchmarks.md).
    ``MIND_WARM_WORKERS=0`` leaves them to start with the first request (the test suite, where
    every page would otherwise start two processes)."""
    if os.environ.get("MIND_WARM_WORKERS", "1").lower() not in ("0", "false", "no"):
        board().warm(with_map)


def being_trained(dataset_name: str, config: MINDConfig) -> bool:
    """Whether a model is being trained now: by this server, or by any process holding its
    lock (e.g. the extra seeds `make run` builds in the background)."""
    name = model_name(config)  # names hash the configuration, not the dataset
    if any(job.dataset_name == dataset_name and any(model_name(c) == name for c in job.configs)
           for job in board().active()):
        return True
    return is_held(lock_path(dataset_name, config))
