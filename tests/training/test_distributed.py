"""Data-parallel training through torchrun: ``mind-core train --nproc 2`` runs two real worker
processes (gloo over loopback) on a small synthetic dataset, and rank 0 writes one bundle.

With the whole-catalogue softmax (no sampled negatives, so nothing differs between the ranks)
and a global batch that splits evenly, averaging the two ranks' gradients is the gradient of
the whole batch: the two-process model must equal the one-process model up to float rounding.
That is the check that the shards cover every sample once and the gradients are averaged,
not summed or dropped.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mind_core.artifacts.bundle import load_bundle
from mind_core.config import MINDConfig
from mind_core.training.distributed import without_nproc
from mind_core.workflow.pipeline import load_data, train_bundle

MIND_CORE = str(Path(sys.executable).with_name("mind-core"))
SETTINGS = dict(embed_dim=8, interest_num=2, epochs=2, batch_size=64, seed=3)
FLAGS = ["--embed-dim", "8", "--interest-num", "2", "--epochs", "2", "--batch-size", "64",
         "--seed", "3"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from mind_core.data.synth import generate

    path = tmp_path_factory.mktemp("ddp-data") / "synth"
    generate(path, users=60, items=200, ratings=3000, seed=0)
    return path


def test_nproc_is_kept_from_torchrun():
    assert without_nproc(["train", "--nproc", "2", "--seed", "1"]) == ["train", "--seed", "1"]
    assert without_nproc(["train", "--nproc=4", "--out", "x"]) == ["train", "--out", "x"]


def test_two_processes_train_the_one_process_model(dataset, tmp_path):
    config = MINDConfig(**SETTINGS)
    split = load_data(str(dataset), config.max_length).split
    n = len(split.train_labels)
    assert n % config.batch_size % 2 == 0, "the last global batch must split evenly"

    one = train_bundle(str(dataset), config, out=tmp_path / "one", with_serving=False)
    env = {**os.environ, "MIND_CORE_DATA_DIR": str(tmp_path)}
    proc = subprocess.run([MIND_CORE, "train", "--dataset", str(dataset), "--out",
                           str(tmp_path / "two"), "--nproc", "2", *FLAGS],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("bundle:") == 1  # rank 0 alone reports and writes

    a, b = load_bundle(one), load_bundle(tmp_path / "two")
    ma = json.loads((one / "metrics.json").read_text())
    mb = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert (ma["processes"], mb["processes"]) == (1, 2)
    assert len(mb["history"]) == len(ma["history"]) == 2
    np.testing.assert_allclose(b.item_vectors, a.item_vectors, atol=1e-5)
    np.testing.assert_allclose([h["loss"] for h in mb["history"]],
                               [h["loss"] for h in ma["history"]], rtol=1e-5)
    assert mb["test"]["HR@50"] == pytest.approx(ma["test"]["HR@50"], abs=0.02)
    assert not list(tmp_path.glob("two.*")), "no temporary or leftover folder beside the bundle"


def test_a_failing_worker_fails_the_command(tmp_path):
    # the workers fail (no such dataset): torchrun stops them, the command says so and exits 1
    proc = subprocess.run([MIND_CORE, "train", "--dataset", str(tmp_path / "missing"), "--out",
                           str(tmp_path / "bad"), "--nproc", "2", *FLAGS],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr[-2000:]
    # both workers fail; which one torchrun reports first is a race
    assert re.search(r"training worker [01] failed", proc.stderr), proc.stderr[-2000:]
    assert "no such dataset" in proc.stderr
    assert not (tmp_path / "bad").exists()


def test_a_locked_destination_stops_every_rank(dataset, tmp_path):
    # rank 0 cannot take the lock: it exits with the lock's message and the other rank, already
    # in the training's collectives, is stopped by torchrun instead of waiting forever
    from mind_core.artifacts.lock import acquire

    dest = tmp_path / "locked"
    with acquire(dest, "held by the test"):
        proc = subprocess.run([MIND_CORE, "train", "--dataset", str(dataset), "--out", str(dest),
                               "--nproc", "2", *FLAGS], capture_output=True, text=True,
                              timeout=240)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert f"already being trained by pid {os.getpid()}" in proc.stderr
    assert not dest.exists()


@pytest.mark.parametrize("flags, message", [(["--nproc", "0"], "--nproc: expected"),
                                            (["--loss", "nonsense"], "invalid loss='nonsense'")])
def test_bad_settings_get_one_clear_line(flags, message, tmp_path):
    proc = subprocess.run([MIND_CORE, "train", "--out", str(tmp_path / "x"), *flags],
                          capture_output=True, text=True, timeout=60)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
