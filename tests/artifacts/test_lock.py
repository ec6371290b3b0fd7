"""One writer per bundle (:mod:`mind_core.artifacts.lock`), for the CLI and the app alike:
in-process behaviour, then real ``mind-core`` processes racing for one configuration."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import REPO, TINY_CONFIG

from mind_core.artifacts.lock import (
    TrainingLocked,
    acquire,
    hold,
    is_held,
    lock_file_for,
    lock_path,
)
from mind_core.artifacts.paths import default_bundle_path
from mind_core.config import MINDConfig
from mind_core.errors import BundleError

MIND_CORE = str(Path(sys.executable).with_name("mind-core"))
DEAD_PID = 2**22 + 4321  # above the kernel's pid_max default: never a live process


def test_second_writer_is_refused_until_the_first_releases(tmp_path):
    dest = tmp_path / "model"
    first = acquire(dest, "model (K=2)")
    path = lock_file_for(dest)
    assert path == tmp_path / ".lock-model" and path.is_file()
    assert json.loads(path.read_text())["pid"] == os.getpid()
    with pytest.raises(TrainingLocked) as info:  # not re-entrant, even in one process
        acquire(dest)
    assert isinstance(info.value, BundleError)  # so the CLI exits 2 with one line
    assert f"is already being trained by pid {os.getpid()}" in str(info.value)
    assert info.value.pid == os.getpid() and str(path) in str(info.value)
    first.release()
    assert not path.exists()
    first.release()  # twice is harmless
    with hold(dest):
        assert path.is_file()
    assert not path.exists()
    assert not [p for p in tmp_path.iterdir()]  # no private files left


def test_stale_lock_of_a_dead_owner_is_taken_over(tmp_path):
    dest = tmp_path / "model"
    path = lock_file_for(dest)
    path.write_text(json.dumps({"pid": DEAD_PID, "started": "long ago"}))
    with hold(dest) as lock:
        assert lock.path == path and json.loads(path.read_text())["pid"] == os.getpid()
    path.write_text("garbage, not JSON")  # unreadable and unheld: stale too
    with hold(dest):
        pass


def test_a_live_owner_is_never_taken_over_even_with_a_reused_pid(tmp_path):
    """Liveness is the owner's flock, not its pid: a lock file naming a dead pid but held by a
    live process stays locked (the pid was recorded by an old version, say)."""
    dest = tmp_path / "model"
    with hold(dest) as lock:
        lock.path.write_text(json.dumps({"pid": DEAD_PID}))  # same inode, still flock-ed
        with pytest.raises(TrainingLocked, match=f"pid {DEAD_PID}"):
            acquire(dest)


def test_only_one_of_many_threads_wins(tmp_path):
    dest = tmp_path / "model"
    lock_file_for(dest).write_text(json.dumps({"pid": DEAD_PID}))  # all race for a stale lock
    won, refused, start = [], [], threading.Barrier(8)

    def contend():
        start.wait()
        try:
            won.append(acquire(dest))
        except TrainingLocked:
            refused.append(1)

    threads = [threading.Thread(target=contend) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(refused) == 7
    won[0].release()


def test_lock_path_is_the_default_bundles():
    config = MINDConfig(**TINY_CONFIG, interest_num=2)
    dest = default_bundle_path(config, "ml-100k")
    assert lock_path("ml-100k", config) == dest.parent / f".lock-{dest.name}"


# --- real processes --------------------------------------------------------------------------

FLAGS = ["--embed-dim", "16", "--max-length", "20", "--batch-size", "1024",
         "--learning-rate", "0.005", "--mlp-hidden", "32"]


def _wait_for(path: Path, proc, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.1)


def test_two_processes_one_configuration(tmp_path, monkeypatch):
    """A running ``mind-core train`` holds its configuration's lock; a second ``train`` and a
    ``sweep`` of the same configuration exit 2 naming its pid, the app's lock is refused too;
    once the first is killed (SIGKILL, no clean-up), its stale lock is taken over."""
    real = REPO / "data" / "ml-100k"
    home = tmp_path / "home"
    home.mkdir()
    (home / "ml-100k").symlink_to(real, target_is_directory=True)
    env = {**os.environ, "MIND_CORE_DATA_DIR": str(home), "OMP_NUM_THREADS": "1"}
    # long enough that it is still training when the others ask (it is killed anyway)
    first = subprocess.Popen([MIND_CORE, "train", "--interest-num", "2", "--epochs", "50",
                              "--patience", "50", *FLAGS], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        config = MINDConfig(embed_dim=16, max_length=20, batch_size=1024, learning_rate=0.005,
                            mlp_hidden=(32,), interest_num=2, epochs=50, patience=50)
        monkeypatch.setenv("MIND_CORE_DATA_DIR", str(home))
        path = lock_path("ml-100k", config)
        _wait_for(path, first)
        assert json.loads(path.read_text())["pid"] == first.pid

        others = [subprocess.Popen([MIND_CORE, *argv, *FLAGS], env=env, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                  for argv in (["train", "--interest-num", "2", "--epochs", "50",
                                "--patience", "50"],
                               ["sweep", "--interest-num", "2", "--seeds", "0", "--epochs",
                                "50", "--patience", "50", "--no-start-choice"])]
        for proc in others:
            out, err = proc.communicate(timeout=180)
            assert proc.returncode == 2, (out, err)
            lines = [x for x in err.splitlines() if x.strip()]
            assert lines[-1].startswith("error: ") and len(lines) == 1, err
            assert f"is already being trained by pid {first.pid}" in lines[-1]
            assert path.name[len(".lock-"):] in lines[-1]
        with pytest.raises(TrainingLocked, match=f"pid {first.pid}"):  # as the app would
            acquire(path.parent / path.name[len(".lock-"):])
        assert first.poll() is None  # the first was never disturbed
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate()
    assert first.returncode == -signal.SIGKILL
    assert path.exists()  # a killed owner cannot clean up...
    with acquire(path.parent / path.name[len(".lock-"):]) as lock:  # ...but its lock is stale
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    assert not [p for p in path.parent.iterdir() if p.name.startswith((".tmp-", ".old-"))]


def test_is_held_asks_without_taking(tmp_path):
    dest = tmp_path / "mind-k4-abc"
    path = lock_file_for(dest)
    assert not is_held(path)  # no file
    with acquire(dest):
        assert is_held(path)
        with pytest.raises(TrainingLocked):  # asking did not take it
            acquire(dest)
    assert not is_held(path)
    path.write_text('{"pid": 999999999}')  # a stale file: nobody holds its flock
    assert not is_held(path)
