"""Projection: coordinates stored at bundle build, read without umap, deterministic for a
seed; nearest items in item space."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from mind_core.artifacts.bundle import load_bundle
from mind_core.errors import BundleError
from mind_core.serving.projection import (
    PROJECTION_FILE,
    fit_projection,
    import_umap,
    load_projection,
    nearest_items,
)


@pytest.fixture(scope="module")
def bundle(model_home):
    return load_bundle(model_home["bundles"][4])


def test_stored_projection_has_every_item_and_active_interest(bundle):
    proj = load_projection(bundle)
    items_xy, interests_xy = proj["items_xy"], proj["interests_xy"]
    n_items = len(bundle.item_vectors)
    U, K = bundle.user_active.shape
    assert items_xy.shape == (n_items, 2) and items_xy.dtype == np.float32
    assert interests_xy.shape == (U, K, 2) and interests_xy.dtype == np.float32
    assert np.isnan(items_xy[0]).all() and np.isfinite(items_xy[1:]).all()
    active = bundle.user_active  # all True on ml-100k at K <= 4: see the test below for NaN
    assert np.isnan(interests_xy[~active]).all()
    assert np.isfinite(interests_xy[active]).all()
    assert proj["metric"] == "cosine" and proj["seed"] == bundle.config.seed


def test_loading_coordinates_does_not_import_umap(bundle):
    code = textwrap.dedent(f"""
        import sys
        from mind_core.artifacts.bundle import load_bundle
        from mind_core.serving.projection import load_projection, nearest_items
        b = load_bundle({str(bundle.path)!r})
        p = load_projection(b)
        nearest_items(b, 1, 5)
        assert p["items_xy"].shape[1] == 2
        print("umap" in sys.modules, "numba" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False", "False"]


def test_projection_is_deterministic_for_a_seed(bundle):
    # refit the items the bundle was built from, in this process: the same seed must give the
    # very coordinates stored when the bundle was built (in another fit)
    few = slice(0, 40)
    active = bundle.user_active[few].copy()
    active[0, 2:] = False  # inactive interests are not placed
    again = fit_projection(bundle.item_vectors, bundle.user_interests[few], active,
                           seed=bundle.config.seed)
    stored = load_projection(bundle)
    np.testing.assert_array_equal(again["items_xy"], stored["items_xy"])
    assert np.isfinite(again["interests_xy"][active]).all()
    assert np.isnan(again["interests_xy"][~active]).all()


def test_missing_projection_is_a_clear_error(bundle, tmp_path):
    import shutil

    copy = tmp_path / "b"
    shutil.copytree(bundle.path, copy)
    (copy / PROJECTION_FILE).unlink()
    with pytest.raises(BundleError, match="no UMAP projection"):
        load_projection(load_bundle(copy))


@pytest.mark.parametrize("metric", ["cosine", "dot"])
def test_nearest_items(bundle, metric):
    near = nearest_items(bundle, 50, 8, metric=metric)
    codes = [c for c, _ in near]
    assert len(codes) == 8 and 50 not in codes and 0 not in codes
    scores = [s for _, s in near]
    assert scores == sorted(scores, reverse=True)
    v = bundle.item_vectors
    if metric == "cosine":
        unit = v[1:] / np.linalg.norm(v[1:], axis=1, keepdims=True)
        sims = unit @ unit[49]
        sims[49] = -np.inf
        assert codes == list(np.argsort(-sims)[:8] + 1)
    with pytest.raises(ValueError):
        nearest_items(bundle, 0, 5)


def test_a_map_added_later_is_the_one_built_with_the_bundle(bundle, tmp_path):
    # `make run` serves its first model with the index alone and adds the map in the background
    import json
    import shutil

    from mind_core.artifacts.lock import is_held, lock_file_for
    from mind_core.artifacts.manifest import update_manifest, verify_bundle
    from mind_core.serving.backends import SERVING_FILE
    from mind_core.workflow.pipeline import ensure_map

    copy = tmp_path / bundle.path.name
    shutil.copytree(bundle.path, copy)
    (copy / PROJECTION_FILE).unlink()
    record = json.loads((copy / SERVING_FILE).read_text())
    annoy = record["annoy"]
    del record["projection"]
    (copy / SERVING_FILE).write_text(json.dumps(record))
    update_manifest(copy, [PROJECTION_FILE, SERVING_FILE])
    served = load_bundle(copy)
    with pytest.raises(BundleError, match="no UMAP projection"):
        load_projection(served)

    assert ensure_map(served) is True
    assert not is_held(lock_file_for(copy))  # released
    verify_bundle(copy)  # the manifest records the new files
    added = load_projection(load_bundle(copy))
    np.testing.assert_array_equal(added["items_xy"], load_projection(bundle)["items_xy"])
    np.testing.assert_array_equal(added["interests_xy"], load_projection(bundle)["interests_xy"])
    record = json.loads((copy / SERVING_FILE).read_text())
    assert record["annoy"] == annoy and record["projection"]["seed"] == bundle.config.seed
    assert not [p for p in copy.iterdir() if p.name.startswith(".tmp-")]
    assert ensure_map(load_bundle(copy)) is False  # already there: nothing refitted


def test_umaps_kernels_are_kept_on_disk_and_loaded_by_the_next_process(tmp_path):
    """umap does not ask numba to cache its kernels, so every process compiled them again
    (~15 s); fit_projection does. After a fit here, the kernels' index files are on disk
    (where numba keeps them: beside umap's sources, or under NUMBA_CACHE_DIR); a new process
    loads them without writing anything, and draws the same map."""
    from numba.core.dispatcher import Dispatcher

    code = textwrap.dedent("""
        import sys
        import numpy as np
        from mind_core.serving.projection import fit_projection
        rng = np.random.default_rng(0)
        p = fit_projection(rng.normal(size=(80, 8)).astype(np.float32),
                           rng.normal(size=(5, 2, 8)).astype(np.float32),
                           np.ones((5, 2), dtype=bool), n_epochs=20)
        np.save(sys.argv[1], np.concatenate([p["items_xy"][1:],
                                             p["interests_xy"].reshape(-1, 2)]))
    """)
    exec(code.replace("sys.argv[1]", repr(str(tmp_path / "here.npy"))), {})
    umap = import_umap()
    # two kernels umap leaves uncached: the layout's epoch and the graph's distances
    kernels = [obj for module in (umap.layouts, umap.umap_) for obj in vars(module).values()
               if isinstance(obj, Dispatcher) and obj.py_func.__name__ in
               ("_optimize_layout_euclidean_single_epoch", "smooth_knn_dist")]
    index = {Path(k._cache._cache_file._index_path) for k in kernels}
    assert len(index) == 2 and all(p.is_file() for p in index), index
    written = {p: p.stat().st_mtime_ns for p in index}
    subprocess.run([sys.executable, "-c", code, tmp_path / "there.npy"], check=True)
    assert {p: p.stat().st_mtime_ns for p in index} == written  # loaded, not compiled again
    np.testing.assert_array_equal(np.load(tmp_path / "here.npy"),
                                  np.load(tmp_path / "there.npy"))
