"""One writer per bundle: the lock shared by the CLI (``train``, ``sweep``, ``build-defaults``)
and the app's training jobs.

A bundle ``<folder>/<name>`` is written under the lock file ``<folder>/.lock-<name>``; for the
default destination that is ``artifacts/<dataset>/.lock-<model name>``, one per configuration.
The file holds the owner's pid and start time, so a second writer is told who has it.

How it stays correct when a writer is killed:

- The lock file appears atomically and already owned: it is written (pid, time) and locked
  with ``flock`` under a private name, then hard-linked to ``.lock-<name>``; ``link`` fails if
  that name exists, exactly like ``open(O_CREAT | O_EXCL)``.
- Its owner holds the ``flock`` for as long as it lives, and the kernel drops it when the
  process dies, however it dies (SIGKILL included). A lock file nobody holds is stale and is
  taken over: the taker ``flock``-s it first, so two takers cannot both remove a fresh lock,
  and a reused pid cannot pass for a live owner.
- Not re-entrant: a second acquire of the same name, even from the same process, is refused.
  The app's job board holds the locks of a whole job and calls
  ``train_bundle(..., lock=False)``; everything else calls it with the default ``lock=True``.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

from mind_core.artifacts.paths import default_bundle_path, pid_alive
from mind_core.errors import BundleError


class TrainingLocked(BundleError):
    """The bundle is already being written (trained) by another live process or job."""

    def __init__(self, message: str, pid: int | None = None):
        super().__init__(message)
        self.pid = pid


def lock_file_for(dest) -> Path:
    dest = Path(dest)
    return dest.parent / f".lock-{dest.name}"


def lock_path(dataset: str, config) -> Path:
    """The lock of ``config``'s default bundle on ``dataset``."""
    return lock_file_for(default_bundle_path(config, dataset))


def _read_owner(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        info = json.loads(os.read(fd, 4096) or b"{}")
        return info if isinstance(info, dict) else {}
    except (OSError, ValueError):
        return {}


def is_held(path) -> bool:
    """Whether lock file ``path`` is held now: a live owner holds an exclusive flock on it, a
    stale file left by a dead one holds none. Asks without taking it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


class Lock:
    """A held lock; :meth:`release` (or leaving ``with``) removes the file and lets go."""

    def __init__(self, path: Path, fd: int):
        self.path, self.fd = path, fd

    @property
    def held(self) -> bool:
        return self.fd is not None

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            st, now = os.fstat(self.fd), os.stat(self.path)
            if (st.st_dev, st.st_ino) == (now.st_dev, now.st_ino):  # still ours: remove it
                self.path.unlink()
        except FileNotFoundError:
            pass
        finally:
            os.close(self.fd)  # drops the flock
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()

    def __fspath__(self):
        return str(self.path)


def _new_owned_file(path: Path) -> tuple[int, Path]:
    """A private file already flock-ed by us and holding our pid, beside ``path``."""
    private = path.with_name(f".newlock-{path.name[len('.lock-'):]}-{os.getpid()}-"
                             f"{time.time_ns()}")
    fd = os.open(private, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, json.dumps({"pid": os.getpid(),
                             "started": time.strftime("%Y-%m-%d %H:%M:%S")}).encode())
    os.fsync(fd)
    return fd, private


def acquire(dest, label: str | None = None) -> Lock:
    """Take the lock of bundle ``dest`` or raise :class:`TrainingLocked` naming the owner's pid.
    ``label`` names the model in the message (default: the folder name)."""
    path = lock_file_for(dest)
    path.parent.mkdir(parents=True, exist_ok=True)
    label = label or Path(dest).name
    waits = 0  # for a taker of a dead owner's lock to finish removing it
    for _ in range(50):
        fd, private = _new_owned_file(path)
        try:
            os.link(private, path)
        except FileExistsError:
            os.close(fd)
        else:
            return Lock(path, fd)
        finally:
            private.unlink(missing_ok=True)
        # someone has the name: alive (holds its flock) or stale (nobody does)
        try:
            other = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue  # released meanwhile: try again
        try:
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                info = _read_owner(other)
                pid = int(info.get("pid", 0) or 0) if str(info.get("pid", "")).isdigit() else 0
                if pid and not pid_alive(pid) and waits < 5:
                    waits += 1
                    time.sleep(0.02)  # its owner is gone; another taker is removing it
                    continue
                raise TrainingLocked(
                    f"{label} is already being trained by pid {pid or '?'} (started "
                    f"{info.get('started', '?')}); wait for it to finish (lock file {path})",
                    pid or None) from None
            st, now = os.fstat(other), os.stat(path)
            if (st.st_dev, st.st_ino) == (now.st_dev, now.st_ino):
                path.unlink()  # stale: its owner died without releasing it
        except FileNotFoundError:
            pass
        finally:
            os.close(other)
    raise TrainingLocked(f"could not take the lock {path}: it keeps changing hands")


@contextmanager
def hold(dest, label: str | None = None):
    """``with hold(dest):`` the lock of bundle ``dest`` for the block."""
    lock = acquire(dest, label)
    try:
        yield lock
    finally:
        lock.release()


__all__ = ["Lock", "TrainingLocked", "acquire", "hold", "lock_file_for", "lock_path"]
