"""The foreground claim (:mod:`mind_core.artifacts.foreground`): a background training pauses
between batches while a live process claims the foreground, and a dead claimer's mark is
ignored."""

from __future__ import annotations

import subprocess

from mind_core.artifacts import foreground


def test_a_background_training_waits_while_another_process_claims(tmp_path, monkeypatch):
    monkeypatch.setenv("MIND_CORE_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(foreground, "CHECK_EVERY", 0.0)  # look at every batch
    server = subprocess.Popen(["sleep", "60"])  # stands for the app's server
    try:
        mark = tmp_path / "artifacts" / f"{foreground.PREFIX}{server.pid}"
        mark.parent.mkdir(parents=True)
        mark.write_text(str(server.pid))
        assert foreground.claimed() == [server.pid]
        seen, naps = [], []

        def nap(seconds):  # the request finishes while the chain waits
            naps.append(seconds)
            if len(naps) == 3:
                mark.unlink()

        callback = foreground.yielding(lambda e, info: seen.append((e, info)), sleep=nap)
        callback("batch", {"epoch": 1, "step": 1, "steps": 10, "loss": 1.0})
        assert len(naps) == 3  # it waited until the claim was gone, then went on
        assert seen[0][0] == "batch"
        assert [i["message"].split(":")[0].split(" ")[0] for e, i in seen[1:]] == [
            "paused", "resumed"]
        callback("batch", {"epoch": 1, "step": 2, "steps": 10, "loss": 1.0})
        assert len(naps) == 3  # no claim: no wait
    finally:
        server.kill()
        server.wait()


def test_own_and_dead_claims_never_park_anyone(tmp_path, monkeypatch):
    monkeypatch.setenv("MIND_CORE_DATA_DIR", str(tmp_path))
    gone = subprocess.Popen(["true"])
    gone.wait()
    with foreground.claim() as mine:
        assert mine.is_file() and foreground.claimed() == []  # one's own claim is not a wait
        stale = mine.with_name(f"{foreground.PREFIX}{gone.pid}")
        stale.write_text(str(gone.pid))
        assert foreground.claimed() == [] and not stale.exists()  # a dead claimer's: removed
    assert not mine.exists()
