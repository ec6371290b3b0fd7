"""The Streamlit app through ``streamlit.testing.v1.AppTest``: every page and widget path on
real (tiny) models trained on ml-100k by the ``model_home`` fixture.

AppTest cannot click chart points; the map's selection is set through ``session_state`` under
the chart's key, as Streamlit documents for selection-enabled charts, and the details panel
is checked.

``MIND_TEST_MODEL_HOME`` may point at an already built data folder of the same shape (K = 1, 2,
4 tiny bundles) to iterate on these tests without retraining.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.util import calc_hash

from app.services import training
from mind_core.artifacts import artifacts_dir, list_bundles, load_bundle
from mind_core.artifacts.lock import hold
from mind_core.config import MINDConfig
from mind_core.serving import recommend
from mind_core.workflow.pipeline import bundle_merge, ensure_bundle, load_data

REPO = Path(__file__).resolve().parents[2]
MAIN = str(REPO / "app" / "main.py")
TIMEOUT = 120


@pytest.fixture
def at(home):
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(MAIN, default_timeout=TIMEOUT)
    app.run()
    assert not app.exception, app.exception
    return app


def ok(app):
    """Run, then fail on any exception the script raised."""
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def switch_page(app, url_path: str):
    """Open the page served at ``/url_path`` on the next run. The pages are functions
    (``st.Page(render, url_path=...)``), which ``AppTest.switch_page`` cannot open (it takes a
    page file); Streamlit identifies a page by the hash of its URL path, so request that."""
    app._page_hash = calc_hash(url_path)
    return app


def header_bars(app, marker="border-top:6px"):
    return [m.value for m in app.markdown if marker in m.value]


class _TableReader(HTMLParser):
    """The header and the cells' text of an HTML table."""

    def __init__(self):
        super().__init__()
        self.head, self.rows, self._cell, self._in = [], [], None, None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._in, self._cell = tag, ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._in:
            (self.head if tag == "th" else self.rows[-1]).append(self._cell)
            self._in = None

    def handle_data(self, data):
        if self._in:
            self._cell += data


def merged_table(app) -> pd.DataFrame:
    """Explore's merged list (an HTML table) as a frame of its cells' text."""
    tables = [m.value for m in app.markdown if "class='merged-list'" in m.value]
    assert len(tables) == 1
    reader = _TableReader()
    reader.feed(tables[0])
    return pd.DataFrame([r for r in reader.rows if r], columns=reader.head)


def user_ids() -> list[int]:
    return [int(u) for u in load_data("ml-100k", 20).encoded.user_ids]


def subheaders(app):
    return [s.value for s in app.subheader]


# --- Explore ----------------------------------------------------------------------------------

def test_explore_opens_on_k4_with_one_column_per_interest(at):
    assert at.title[0].value == "Explore a user"
    assert at.sidebar.radio(key="w_k").value == 4
    assert at.sidebar.radio(key="w_k").options == ["K=1", "K=2", "K=4"]
    assert len(header_bars(at)) == 4
    assert len(merged_table(at)) == 10
    assert {"Interest map", "What each interest retrieves",
            "Merged recommendations"} <= set(subheaders(at))
    assert any(p.proto.spec for p in at.get("plotly_chart"))


@pytest.mark.parametrize("k", [1, 2, 4])
def test_every_k_gives_k_columns(at, k):
    at.sidebar.radio(key="w_k").set_value(k)
    ok(at)
    assert len(header_bars(at)) == k
    table = merged_table(at)
    assert len(table) == 10
    assert set(table["from"]) <= {f"Interest {i + 1}" for i in range(k)}


def test_user_picker_and_shortcuts_change_the_user(at):
    picker = at.sidebar.selectbox(key="w_user")
    assert len(picker.options) == 943
    assert picker.options[0].startswith("User 1 · 24 M · technician")
    ids = user_ids()
    picker.set_value(ids[41])
    ok(at)
    assert at.subheader[0].value == f"User {ids[41]}"
    seen = {at.subheader[0].value}
    for label in ["Random", "diverse"]:
        for _ in range(3):
            next(b for b in at.sidebar.button if label in b.label).click()
            ok(at)
            seen.add(at.subheader[0].value)
    assert len(seen) > 2


def test_n_backend_and_merge_strategies(at):
    at.sidebar.slider(key="w_n").set_value(25)
    ok(at)
    assert len(merged_table(at)) == 25
    for backend in ["exact", "annoy"]:
        at.sidebar.radio(key="w_backend").set_value(backend)
        ok(at)
        assert len(merged_table(at)) == 25
    for strategy in ["round_robin", "quota", "diverse", "proportional", "max_score"]:
        at.radio(key="w_merge").set_value(strategy)
        ok(at)
        table = merged_table(at)
        assert len(table) == 25
        assert table["movie"].is_unique
    assert at.radio(key="w_merge").value == "max_score"


def _user_with_retrieved_held_out(home, n=50):
    bundle = load_bundle(home["bundles"][4])
    data = load_data("ml-100k", bundle.config.max_length)
    ev = data.split.test
    for i in range(len(ev.users)):
        rec = recommend(bundle, data, int(ev.users[i]), n=n, backend="exact",
                        merge=bundle_merge(bundle))  # the app's: the model's own
        if int(ev.targets[i]) in [c for c, _, _ in rec.merged]:
            return int(data.encoded.user_ids[ev.users[i]]), data.encoded.titles[ev.targets[i]]
    pytest.skip("no user's held-out movie in the top 50")


def test_held_out_movie_is_marked_and_counted(at, home):
    user, title = _user_with_retrieved_held_out(home)
    at.sidebar.selectbox(key="w_user").set_value(user)
    at.sidebar.slider(key="w_n").set_value(50)
    at.sidebar.radio(key="w_backend").set_value("exact")
    ok(at)
    table = merged_table(at)
    marked = table[table["held out"] != ""]
    assert list(marked["movie"]) == [title]
    hit = next(m for m in at.metric if m.label == "hit@50")
    assert hit.value == "1 ✓"
    history = next(d.value for d in at.dataframe if "rating" in d.value.columns)
    assert history.iloc[0, 0] == "★ held out" and history.iloc[0]["title"] == title
    assert any("Held-out movie" in m.value and title in m.value for m in at.markdown)


def _selection(codes):
    return {"selection": {"points": [{"customdata": c, "curve_number": 0, "point_index": i,
                                      "point_number": i, "x": 0.0, "y": 0.0}
                                     for i, c in enumerate(codes)],
                          "point_indices": list(range(len(codes))), "box": [], "lasso": []}}


def test_map_selection_shows_details_and_neighbours(at):
    titles = load_data("ml-100k", 20).encoded.titles
    assert any("Nothing selected" in c.value for c in at.caption)
    at.session_state["umap_map"] = _selection([1])
    ok(at)
    assert any("1 movie selected" in c.value for c in at.caption)
    details = next(d.value for d in at.dataframe if "retrieved by" in d.value.columns)
    assert list(details["title"]) == [titles[1]]
    assert any(f"Nearest to _{titles[1]}_" in m.value for m in at.markdown)
    near = next(d.value for d in at.dataframe if "similarity" in d.value.columns)
    assert len(near) == 8 and titles[1] not in set(near["title"])

    # a box selection: several movies, and a picker for whose neighbours to show
    at.session_state["umap_map"] = _selection([50, 100, 181])
    ok(at)
    assert any("3 movies selected" in c.value for c in at.caption)
    focus = at.selectbox(key="map_focus")
    focus.set_value(181)
    ok(at)
    assert any(f"Nearest to _{titles[181]}_" in m.value for m in at.markdown)


# --- Compare ------------------------------------------------------------------------------

def test_compare_has_one_column_per_k_and_metrics(at):
    user = user_ids()[7]
    at.sidebar.selectbox(key="w_user").set_value(user)
    ok(at)
    switch_page(at, "compare")
    ok(at)
    assert at.title[0].value == "Compare interest numbers"
    assert at.subheader[0].value.startswith(f"User {user}:")  # the user survived the switch
    bars = header_bars(at)
    assert [b.split("K = ")[1].split("<")[0] for b in bars] == ["1", "2", "4"]
    assert {"Overlap between lists", "Genre spread",
            "Model quality against K"} <= set(subheaders(at))
    spread = next(d.value for d in at.dataframe if "diversity" in d.value.columns)
    assert list(spread["K"]) == [1, 2, 4]
    metrics = next(d.value for d in at.dataframe if "HR@50" in d.value.columns)
    assert list(metrics.index) == ["MIND K=1", "MIND K=2", "MIND K=4", "most popular"]
    assert (metrics["latency (ms)"].iloc[:3] > 0).all()
    # every metric is a mean ± sd over the seeds built, and says how many
    assert all(" ± " in v or v.endswith("(1 seed)") for v in metrics["HR@50"].iloc[:3])
    assert not any("± 0.0000" in v for v in metrics["HR@50"])  # one seed has no spread
    assert (metrics["seeds"].iloc[:3] >= 1).all()
    assert "Is it K, or the seed?" in subheaders(at)
    at.sidebar.slider(key="w_n").set_value(20)
    ok(at)
    assert len(header_bars(at)) == 3


# --- Sweep --------------------------------------------------------------------------------

def test_sweep_page_defaults_to_k_and_refuses_bad_values(at):
    switch_page(at, "sweep")
    ok(at)
    assert at.title[0].value == "Sweep a hyperparameter"
    assert at.selectbox(key="w_sweep_param").value == "interest_num"
    assert "Test metrics against interest_num" in subheaders(at)
    table = next(d.value for d in at.dataframe if "seeds" in d.value.columns)
    assert list(table.index) == ["interest_num=1", "interest_num=2", "interest_num=4"]
    assert all(" ± " in v or v.endswith("(1 seed)") for v in table["HR@50"])
    # another setting: no model varies it yet, and nonsense values are refused, not trained
    at.selectbox(key="w_sweep_param").set_value("temperature")
    ok(at)
    assert any("Only temperature=0.1 is built" in i.value for i in at.info)
    at.text_input[0].set_value("0.1 lots")
    next(b for b in at.button if "Train what is missing" in b.label).click()
    ok(at)
    assert any("temperature: expected a number, got 'lots'" in e.value for e in at.error)
    assert not training.board().active()


# --- Model --------------------------------------------------------------------------------

def test_model_page_routing_and_metrics(at):
    at.sidebar.radio(key="w_k").set_value(2)
    ok(at)
    switch_page(at, "model")
    ok(at)
    assert at.subheader[0].value.endswith("K=2")
    metrics = next(d.value for d in at.dataframe if "HR@50" in d.value.columns)
    # this model, then K=2 and K=1 over the seeds built (one here), then the baseline
    assert list(metrics.index) == ["MIND K=2, seed 0 (this model)", "MIND K=2, over 1 seed",
                                   "MIND K=1, over 1 seed", "most popular"]
    assert metrics.loc["MIND K=2, over 1 seed", "HR@50"] == metrics.iloc[0]["HR@50"]
    charts = at.get("plotly_chart")
    assert len(charts) == 2  # training curves, routing heatmap
    heatmap = json.loads(charts[1].proto.spec)["data"][0]
    assert heatmap["type"] == "heatmap" and len(heatmap["x"]) == 2
    assert len(at.get("graphviz_chart")) == 1
    switch_page(at, "explore")
    ok(at)
    assert len(header_bars(at)) == 2  # K survived the page switches


# --- Train --------------------------------------------------------------------------------

TINY_FORM = {"t_interest_num": 3, "t_embed_dim": 8, "t_epochs": 1, "t_batch_size": 2048}


def _fill_form(app, serving=False, **extra):
    values = {**TINY_FORM, **extra}
    for key, value in values.items():
        widget = app.selectbox(key=key) if key in ("t_interest_num", "t_embed_dim",
                                                   "t_batch_size") else app.number_input(key=key)
        widget.set_value(value)
    app.checkbox(key="t_serving").set_value(serving)


def _submit_tiny_form(app):
    """On the Train page, submit the tiny configuration (no index or map)."""
    switch_page(app, "train")
    ok(app)
    _fill_form(app)
    next(b for b in app.button if b.label == "Train").click()
    ok(app)


def _tiny_config():
    return MINDConfig(interest_num=3, embed_dim=8, epochs=1, batch_size=2048)


def _wait_for_jobs(app, timeout=300):
    deadline = time.time() + timeout
    while training.board().active():
        assert time.time() < deadline, "training did not finish"
        time.sleep(1)
        ok(app)
    ok(app)


def test_train_form_end_to_end(at, home):
    before = set(list_bundles("ml-100k"))
    _submit_tiny_form(at)
    new = None
    try:
        _wait_for_jobs(at)
        assert not at.error, [e.value for e in at.error]
        assert any(s.value.startswith("Built mind-k3-") for s in at.success)
        new = set(list_bundles("ml-100k")) - before
        assert len(new) == 1
        (path,) = new
        assert load_bundle(path).config.embed_dim == 8
        assert not list((path.parent).glob(".lock-*"))  # the lock was released
        models = next(d.value for d in at.dataframe if "model" in d.value.columns)
        assert path.name in set(models["model"])
        # the new model is in every picker: a second configuration now exists
        switch_page(at, "explore")
        ok(at)
        configs = at.sidebar.selectbox(key="w_family")
        assert any("D=8" in label for label in configs.options)
        family = next(f for f in _family_values() if json.loads(f)["embed_dim"] == 8)
        configs.set_value(family)
        ok(at)
        assert at.sidebar.radio(key="w_k").options == ["K=3"]
        assert len(header_bars(at)) == 3
        # built without serving files: exact search and no map, said plainly
        assert any("built without an Annoy index" in c.value for c in at.sidebar.caption)
        assert "Annoy" not in at.sidebar.radio(key="w_backend").options  # the control is true
        assert any("has no map" in i.value for i in at.info)
        with hold(artifacts_dir("ml-100k") / "a-build"):  # a build elsewhere makes no map here
            at.run()
            ok(at)
            assert any("has no map" in i.value for i in at.info)
        # with its index but not its map, while a build holds a lock (`make run` adds the first
        # model's map in the background), the panel says the map is coming, and polls for it
        ensure_bundle("ml-100k", load_bundle(path).config, with_serving=True, with_map=False)
        with hold(artifacts_dir("ml-100k") / "a-build"):
            at.run()
            ok(at)
            assert any("map is being computed" in i.value for i in at.info)
            assert not any("has no map" in i.value for i in at.info)
            assert "Annoy" in at.sidebar.radio(key="w_backend").options
        # submitting the same configuration again does not retrain it
        _submit_tiny_form(at)
        assert any("already built" in i.value for i in at.info)
        assert not training.board().active()
    finally:
        for p in new or ():
            shutil.rmtree(p, ignore_errors=True)


def _family_values():
    from app.services import catalog

    return sorted(catalog.families(catalog.catalog("ml-100k")))


def test_train_lock_refuses_a_second_training(at):
    config = _tiny_config()
    lock = training.acquire_lock("ml-100k", config)
    try:
        _submit_tiny_form(at)
        assert any("already being trained" in e.value for e in at.error)
        assert not training.board().active()
    finally:
        lock.unlink(missing_ok=True)


def test_stale_lock_is_taken_over(home):
    config = _tiny_config()
    path = training.lock_path("ml-100k", config)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": 2**22 + 12345, "started": "long ago"}))
    try:
        assert training.acquire_lock("ml-100k", config) == path
        assert json.loads(path.read_text())["pid"] == os.getpid()
        with pytest.raises(training.TrainingLocked, match="already being trained"):
            training.acquire_lock("ml-100k", config)
    finally:
        path.unlink(missing_ok=True)


def test_training_failure_is_readable_and_leaves_models_alone(at, monkeypatch):
    from mind_core.artifacts.bundle import CRASH_ENV

    # the training process dies (SIGKILL, the crash test's hook) while it saves the bundle
    monkeypatch.setenv(CRASH_ENV, "before_rename")
    before = {p: (p / "weights.pt").stat().st_mtime_ns for p in list_bundles("ml-100k")}
    _submit_tiny_form(at)
    _wait_for_jobs(at)
    errors = [e.value for e in at.error]
    assert any("Training failed" in e and "exit status -9" in e for e in errors), errors
    after = {p: (p / "weights.pt").stat().st_mtime_ns for p in list_bundles("ml-100k")}
    assert after == before
    assert not list(training.lock_path("ml-100k", _tiny_config()).parent.glob(".lock-*"))


# --- no model ---------------------------------------------------------------------------------

def test_no_model_message_and_build_button(home, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    empty = tmp_path / "empty-home"
    empty.mkdir()
    (empty / "ml-100k").symlink_to(Path(home["home"]) / "ml-100k", target_is_directory=True)
    monkeypatch.setenv("MIND_CORE_DATA_DIR", str(empty))
    started = []
    monkeypatch.setattr(training.JobBoard, "start",
                        lambda self, dataset, configs, name, with_serving=True, token=None,
                        **follow: started.append([c.interest_num for c in configs]))
    app = AppTest.from_file(MAIN, default_timeout=TIMEOUT)
    ok(app)
    assert any("No trained model for ml-100k" in w.value for w in app.warning)
    for page in ["compare", "model"]:
        switch_page(app, page)
        ok(app)
        assert any("No trained model for ml-100k" in w.value for w in app.warning)
    switch_page(app, "explore")
    ok(app)
    app.button(key="build_defaults").click()
    ok(app)
    assert started == [[1, 2, 4, 8]]
    assert any("Training started" in s.value for s in app.success)
    switch_page(app, "train")
    ok(app)
    assert any("No model trained" in i.value for i in app.info)


def test_a_broken_bundle_is_reported_not_fatal(home, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    copy = tmp_path / "broken-home"
    (copy / "artifacts" / "ml-100k").mkdir(parents=True)
    (copy / "ml-100k").symlink_to(Path(home["home"]) / "ml-100k", target_is_directory=True)
    src = Path(home["bundles"][2])
    dest = copy / "artifacts" / "ml-100k" / src.name
    shutil.copytree(src, dest)
    (dest / "weights.pt").write_bytes(b"not a torch file")
    (dest / "user_active.npy").write_bytes(b"truncated")
    monkeypatch.setenv("MIND_CORE_DATA_DIR", str(copy))
    # the only model is damaged: the page says which file, and offers to build new ones
    app = AppTest.from_file(MAIN, default_timeout=TIMEOUT)
    ok(app)
    errors = [e.value for e in app.error]
    assert any("damaged model folder" in e and src.name in e and "user_active.npy" in e
               for e in errors), errors
    assert any("No trained model for ml-100k" in w.value for w in app.warning)
    # beside a whole model: the app serves the whole one and lists the damaged one apart
    good = Path(home["bundles"][1])
    shutil.copytree(good, copy / "artifacts" / "ml-100k" / good.name)
    app = AppTest.from_file(MAIN, default_timeout=TIMEOUT)
    ok(app)
    assert app.sidebar.radio(key="w_k").options == ["K=1"]
    assert any(src.name in c.value and "user_active.npy" in c.value for c in app.sidebar.caption)


# --- page loads import no umap and train nothing ---------------------------------------------

PROBE = r"""
import sys, time
import mind_core.training
import mind_core.training.trainer
def refuse(*a, **k):
    raise AssertionError("a page load trained a model")
mind_core.training.trainer.fit = mind_core.training.fit = refuse
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash
at = AppTest.from_file(sys.argv[1], default_timeout=120)
t = time.perf_counter(); at.run(); first = time.perf_counter() - t
assert not at.exception, at.exception
for page in ["compare", "sweep", "model", "train", "explore"]:
    at._page_hash = calc_hash(page); at.run()  # as switch_page() in this file
    assert not at.exception, (page, at.exception)
print("UMAP" if "umap" in sys.modules else "NO-UMAP", f"{first:.2f}")
"""


def test_page_loads_import_no_umap_and_train_nothing(home):
    env = {**os.environ, "MIND_CORE_DATA_DIR": str(home["home"])}
    out = subprocess.run([sys.executable, "-c", PROBE, MAIN], env=env, capture_output=True,
                         text=True, timeout=300, cwd=REPO)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split()[0] == "NO-UMAP", out.stdout


def test_interest_colours_are_consistent():
    from app.components.theme import INTEREST_COLORS, interest_color

    assert len(set(INTEREST_COLORS)) == 8
    assert [interest_color(k) for k in range(8)] == INTEREST_COLORS
    assert np.all([c.startswith("#") and len(c) == 7 for c in INTEREST_COLORS])


def test_configuration_labels_name_what_differs():
    from app.services.catalog import family_key, family_label
    from mind_core.config import PAPER_FAITHFUL, MINDConfig

    default, paper, wide, future = (family_key(MINDConfig(**kw).to_dict()) for kw in (
        {}, PAPER_FAITHFUL, {"embed_dim": 32}, {"protocol": "future"}))
    every = [default, paper, wide, future]
    assert family_label(default, every) == "default"
    assert family_label(paper, every).startswith("paper-faithful")
    # what sets each apart from the others
    assert family_label(wide, every) == "D=32 · protocol=leave_last_out"
    assert family_label(future, every) == "D=64 · protocol=future"
    assert family_label(wide, [wide]) == "D=32 · L=20 · epochs=30 · lr=0.003 · τ=0.1"
    # seeds are not configurations: two seeds of one setting share a family
    assert family_key(MINDConfig(seed=1).to_dict()) == default
    # nor is a field older config.json files lack, at the value they implicitly had
    old = {k: v for k, v in MINDConfig().to_dict().items() if k != "protocol"}
    assert family_key(old) == default
    narrow = family_key(MINDConfig(embed_dim=32, mlp_hidden=(32,)).to_dict())
    assert family_label(narrow, [wide, narrow]) == "mlp_hidden=[32]"
