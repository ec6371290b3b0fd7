"""A real ``mind-core train`` killed with SIGKILL inside ``save_bundle`` never costs the previous
bundle: after each kill, the next load finds a whole bundle at the destination (the previous
one, or the new one once it is completely in place) and nothing half-written around it.

The kill points come from the test-only hook ``MIND_CORE_CRASH_AT=<point>``
(:data:`mind_core.artifacts.bundle.CRASH_POINTS`), which makes the process SIGKILL itself there. The
processes run in parallel, one data folder each, training the tiny configuration on a small
synthetic dataset (``mind_core.data.synth``, 1,200 ratings): the step under test is the save, and
most of their time is imports and the UMAP fit of the serving files.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY_CONFIG

from mind_core.artifacts.bundle import CRASH_ENV, CRASH_POINTS, load_bundle
from mind_core.artifacts.lock import acquire, lock_file_for
from mind_core.artifacts.manifest import MANIFEST_FILE
from mind_core.errors import BundleError

MIND_CORE = str(Path(sys.executable).with_name("mind-core"))
# the tiny configuration, seed 7 (its name differs from the copied bundle's: --out is used)
FLAGS = ["--embed-dim", "16", "--max-length", str(TINY_CONFIG["max_length"]), "--epochs", "1",
         "--seed", "7",
         "--batch-size", "1024", "--patience", "1", "--learning-rate", "0.005",
         "--mlp-hidden", "32", "--interest-num", "2", "--no-map"]
# killed before the new bundle is in place: the previous one must load; killed after: the new
POINTS = {"before_rename": "previous", "after_old_rename": "previous",
          "after_new_rename": "new"}


@pytest.fixture(scope="module")
def killed_runs(model_home, tmp_path_factory):
    """{point: (dest, the previous bundle's manifest, returncode, names left beside dest)}."""
    from mind_core.data.synth import generate

    source = model_home["bundles"][2]  # a whole K=2 bundle, with its manifest: the previous
    # a small synthetic dataset (ml-25m layout) trains in seconds; any data would do
    dataset = tmp_path_factory.mktemp("crash-data") / "synth-small"
    generate(dataset, users=40, items=60, ratings=1200, seed=0)
    runs = {}
    for point in POINTS:
        home = tmp_path_factory.mktemp(f"crash-{point}")
        dest = home / "artifacts" / "ml-100k" / "model"
        shutil.copytree(source, dest)
        env = {**os.environ, "MIND_CORE_DATA_DIR": str(home), CRASH_ENV: point,
               "OMP_NUM_THREADS": "1"}
        proc = subprocess.Popen([MIND_CORE, "train", "--dataset", str(dataset),
                                 "--out", str(dest), *FLAGS], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        runs[point] = (dest, (dest / MANIFEST_FILE).read_text(), proc)
    out = {}
    for point, (dest, manifest, proc) in runs.items():
        try:
            _, err = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        out[point] = (dest, manifest, proc.returncode, err,
                      sorted(p.name for p in dest.parent.iterdir()))
    return out


def test_crash_points_are_the_documented_ones():
    assert set(POINTS) <= set(CRASH_POINTS)


@pytest.mark.parametrize("point", POINTS)
def test_killed_writer_leaves_a_whole_bundle(killed_runs, point):
    dest, previous_manifest, code, err, left = killed_runs[point]
    assert code == -signal.SIGKILL, f"not killed at {point} (exit {code}): {err[-2000:]}"
    # the kill happened where it says: what it left on disk shows the step
    tmps = [n for n in left if n.startswith(".tmp-model-")]
    olds = [n for n in left if n.startswith(".old-model-")]
    if point == "before_rename":
        assert "model" in left and len(tmps) == 1 and not olds
        assert (dest.parent / tmps[0] / MANIFEST_FILE).is_file()  # complete, not yet in place
    elif point == "after_old_rename":
        assert "model" not in left and len(tmps) == 1 and len(olds) == 1  # no bundle at dest
    else:
        assert "model" in left and not tmps and len(olds) == 1
    assert ".lock-model" in left  # the killed writer's lock, now stale

    bundle = load_bundle(dest)  # puts the previous bundle back / cleans up, then verifies
    manifest = (dest / MANIFEST_FILE).read_text()
    if POINTS[point] == "previous":
        assert manifest == previous_manifest
        assert bundle.config.seed == 0
    else:
        assert manifest != previous_manifest and bundle.config.seed == 7
    names = set(json.loads(manifest)["files"])
    assert {"items.ann", "weights.pt"} <= names  # the index is inside the atomic write
    assert ("projection.npz" in names) == (POINTS[point] == "previous")  # the new one: --no-map
    assert sorted(p.name for p in dest.parent.iterdir()) == [".lock-model", "model"]
    # the dead writer's lock is stale: the next writer takes it over
    with acquire(dest) as lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    assert not lock_file_for(dest).exists()


def test_a_refused_bundle_is_not_restored_over(tmp_path):
    """Recovery never invents a bundle: with no .old-* to restore, a missing one stays missing."""
    with pytest.raises(BundleError, match="no such model bundle"):
        load_bundle(tmp_path / "model")
