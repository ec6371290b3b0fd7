"""Training from the browser: background jobs, a lock per configuration, live progress.

A job runs ``mind_core.pipeline.train_bundle`` in a thread of the server process, so it keeps
going when the reader switches pages, and every session sees it. Progress arrives through the
library's plain ``progress(event, info)`` callback and is stored on the job; the Train page
polls it from a fragment (``st.fragment(run_every=...)``).

Two trainings of the same configuration cannot run at once: a job holds a lock file
``artifacts/<dataset>/.lock-<model name>`` created with ``O_EXCL`` (so it also holds across
server processes); a lock whose process is gone is stale and is taken over. A failed job
shows its error; bundles are written atomically by the library, so existing models stay as
they were.
"""

from __future__ import annotations

import json
import os
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from mind_core.bundle import artifacts_dir, default_bundle_path, model_name
from mind_core.model import MINDConfig


class TrainingLocked(RuntimeError):
    """This configuration is already being trained."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lock_path(dataset: str, config: MINDConfig) -> Path:
    return artifacts_dir(dataset) / f".lock-{model_name(config)}"


def acquire_lock(dataset: str, config: MINDConfig) -> Path:
    """Create the configuration's lock file or raise :class:`TrainingLocked`."""
    path = lock_path(dataset, config)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                info = json.loads(path.read_text() or "{}")
            except (OSError, ValueError):
                info = {}
            pid = int(info.get("pid", 0) or 0)
            if pid and _pid_alive(pid):
                raise TrainingLocked(
                    f"{model_name(config)} (K={config.interest_num}) is already being trained "
                    f"(process {pid}, started {info.get('started', '?')}). Wait for it to "
                    f"finish, or delete {path} if that process is gone.") from None
            path.unlink(missing_ok=True)  # stale: its process is gone
            continue
        with os.fdopen(fd, "w") as f:
            json.dump({"pid": os.getpid(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}, f)
        return path
    raise TrainingLocked(f"could not take the lock {path}")


@dataclass
class Job:
    """One or more configurations trained one after another in a background thread."""
    id: str
    dataset: str
    configs: list[MINDConfig]
    current: int = 0
    state: str = "queued"  # queued, running, done, failed
    epochs: list[dict] = field(default_factory=list)  # per-epoch rows of the current config
    batch: dict = field(default_factory=dict)
    stages: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    error: str | None = None
    detail: str | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None
    locks: list[Path] = field(default_factory=list)
    with_serving: bool = True  # also build the Annoy index and the UMAP map

    @property
    def config(self) -> MINDConfig:
        return self.configs[min(self.current, len(self.configs) - 1)]

    @property
    def title(self) -> str:
        ks = ", ".join(str(c.interest_num) for c in self.configs)
        return f"K={ks} on {self.dataset}"

    def fraction(self) -> float:
        if self.state == "done":
            return 1.0
        per = 1.0 / len(self.configs)
        c = self.config
        b = self.batch
        within = 0.0
        if b:
            within = ((b["epoch"] - 1) + b["step"] / max(1, b["steps"])) / max(1, c.epochs)
        return min(1.0, per * (self.current + within))

    def progress(self, event: str, info: dict) -> None:
        if event == "batch":
            self.batch = dict(info)
        elif event == "epoch":
            self.epochs.append(dict(info))
        elif event == "stage":
            self.stages.append(str(info.get("message", "")))


class JobBoard:
    """All training jobs of this server process (shared by every session)."""

    def __init__(self):
        self.jobs: dict[str, Job] = {}
        self.mutex = threading.Lock()

    def active(self) -> list[Job]:
        return [j for j in self.jobs.values() if j.state in ("queued", "running")]

    def start(self, dataset: str, configs: list[MINDConfig], dataset_name: str,
              with_serving: bool = True) -> Job:
        """Lock every configuration, then train them in a thread. Raises TrainingLocked.
        ``with_serving=False`` skips the Annoy index and the UMAP map (much faster; the app
        then searches exactly and shows no map for that model)."""
        with self.mutex:
            locks = []
            try:
                for c in configs:
                    locks.append(acquire_lock(dataset_name, c))
            except TrainingLocked:
                for p in locks:
                    p.unlink(missing_ok=True)
                raise
            job_id = "+".join(model_name(c) for c in configs) + f"@{time.time_ns()}"
            job = Job(job_id, dataset, list(configs), locks=locks, with_serving=with_serving)
            self.jobs[job_id] = job
        threading.Thread(target=self._run, args=(job, dataset_name), daemon=True,
                         name=f"train-{job_id}").start()
        return job

    def _run(self, job: Job, dataset_name: str) -> None:
        from mind_core.pipeline import train_bundle

        job.state = "running"
        try:
            for i, config in enumerate(job.configs):
                job.current, job.epochs, job.batch = i, [], {}
                out = default_bundle_path(config, dataset_name)
                job.paths.append(str(train_bundle(job.dataset, config, out=out,
                                                  progress=job.progress,
                                                  with_serving=job.with_serving)))
            job.state = "done"
        except Exception as e:  # shown to the reader; the library left old bundles intact
            job.error = f"{e.__class__.__name__}: {e}"
            job.detail = traceback.format_exc(limit=6)
            job.state = "failed"
        finally:
            job.finished = time.time()
            for p in job.locks:
                p.unlink(missing_ok=True)


@st.cache_resource
def board() -> JobBoard:
    return JobBoard()
