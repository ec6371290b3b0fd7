"""Shareable links (the view in the query string, bad parameters falling back with a notice) and
the Playground page over a small taste mixture whose models are built beforehand."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_app import MAIN, TIMEOUT, merged_table, ok, switch_page

from mind_core.artifacts import default_bundle_path, load_bundle, model_name
from mind_core.config import MINDConfig
from mind_core.data.tastes import TastesConfig
from mind_core.serving.backends import ANNOY_FILE
from mind_core.workflow import playground as pg
from mind_core.workflow.defaults import START_CANDIDATES, start_config


def app_with(query: dict):
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(MAIN, default_timeout=TIMEOUT)
    for key, value in query.items():
        app.query_params[key] = value
    return app


def k_bundle(k: int) -> str:
    """The tiny model of K=k, seed 0 (other configurations may be on disk: the Train page's)."""
    from conftest import TINY_CONFIG  # the root conftest, beside this folder's

    return model_name(MINDConfig(**TINY_CONFIG, interest_num=k))


def test_a_link_opens_the_same_view(home):
    name = k_bundle(2)
    app = ok(app_with({"dataset": "ml-100k", "model": name, "user": "5", "n": "25",
                       "merge": "round_robin"}))
    assert app.sidebar.radio(key="w_k").value == 2
    assert app.sidebar.selectbox(key="w_user").value == 5
    assert len(merged_table(app)) == 25
    assert app.radio(key="w_merge").value == "round_robin"
    assert not [i for i in app.info if "link" in i.value]
    link = dict(app.query_params)
    assert link["model"] == name and link["user"] == "5" and link["n"] == "25"
    app.sidebar.radio(key="w_k").set_value(4)
    ok(app)
    assert app.query_params["model"] == k_bundle(4)  # the link follows the view


def test_a_bad_link_falls_back_with_one_notice(home):
    app = ok(app_with({"user": "999999", "merge": "best", "n": "many", "model": "mind-k9-x"}))
    notices = [i.value for i in app.info if "The link asked for" in i.value]
    assert len(notices) == 1
    for asked in ("user='999999'", "merge='best'", "n='many'", "model='mind-k9-x'"):
        assert asked in notices[0]
    assert len(merged_table(app)) == 10  # the defaults
    shown = load_bundle(home["home"] / "artifacts" / "ml-100k" / app.query_params["model"])
    assert app.query_params["merge"] == shown.metrics["merge"]  # the model's own, from validation
    assert app.query_params["n"] == "10"
    ok(app)
    assert not [i for i in app.info if "The link asked for" in i.value]  # said once


def test_a_dataset_switch_brings_that_datasets_own_choices(home, tmp_path, monkeypatch):
    """A dataset's merge is its models' own (chosen on its validation set) until the person picks
    another there; switching datasets neither carries one dataset's merge to the other nor
    forgets what was picked on each. The address follows."""
    import shutil

    from mind_core.cli import main as cli
    from mind_core.workflow.pipeline import train_bundle

    folder = tmp_path / "data"
    (folder / "artifacts").mkdir(parents=True)
    (folder / "ml-100k").symlink_to(home["home"] / "ml-100k", target_is_directory=True)
    for k in (2, 4):
        shutil.copytree(home["home"] / "artifacts" / "ml-100k" / k_bundle(k),
                        folder / "artifacts" / "ml-100k" / k_bundle(k))
    monkeypatch.setenv("MIND_CORE_DATA_DIR", str(folder))
    cli(["data", "synth", "--users", "60", "--items", "80", "--ratings", "1500", "--seed", "3",
         "--out", str(folder / "tiny"), "--quiet"])
    first = load_bundle(folder / "artifacts" / "ml-100k" / k_bundle(4)).metrics["merge"]
    own = "quota" if first != "quota" else "round_robin"  # the tiny model's, unlike ml-100k's
    picked = next(m for m in ("round_robin", "proportional", "max_score") if m not in (first, own))
    train_bundle("tiny", MINDConfig(interest_num=2, embed_dim=8, epochs=1, batch_size=512),
                 with_serving=False, merge=own)

    app = ok(app_with({"dataset": "ml-100k", "model": k_bundle(4)}))
    assert app.query_params["merge"] == first
    app.sidebar.selectbox(key="w_dataset").set_value("tiny")
    ok(app)
    assert app.query_params["dataset"] == "tiny" and app.query_params["merge"] == own
    assert app.radio(key="w_merge").value == own
    app.radio(key="w_merge").set_value(picked)
    ok(app)
    assert app.query_params["merge"] == picked
    app.sidebar.selectbox(key="w_dataset").set_value("ml-100k")
    ok(app)
    assert app.query_params["merge"] == first and app.radio(key="w_merge").value == first
    assert app.query_params["model"] == k_bundle(4)
    app.sidebar.selectbox(key="w_dataset").set_value("tiny")
    ok(app)
    assert app.query_params["merge"] == picked  # what the person chose there, kept


# smaller than the page's knobs allow: the page is handed the request, not the form
KNOBS = TastesConfig(users=150, items=160, clusters=4, tastes=(2, 3), history=(14, 24),
                     stickiness=0.8, stray=0.05, seed=0)


@pytest.fixture(scope="module")
def taste_plan(home):
    """A request's models built as the page builds them, without the map, through
    :func:`mind_core.workflow.playground.run` on real warm workers (the benchmark's path; the
    page training it through its job board, each figure drawn as its model lands and the map
    last, is walked in a real browser: tests/browser/test_browser.py). Checked here too, so the
    request is trained once: the start's candidates (K=4) first, the start chosen on their
    validation figures, then K=1 of that start (started, when the worker that built one
    candidate is free before the other, from the candidate leading so far: a guess whose
    miss costs one model of the other start); every bundle says two workers trained it."""
    from mind_core.workflow.jobs import RequestProgress, Workers

    request = RequestProgress([])
    with Workers(2, nice=0) as workers:
        plan = pg.run(pg.plan(KNOBS, ks=(1, 4), seeds=(0,)), workers, request, with_map=False)
    assert plan.start in START_CANDIDATES and not pg.missing(plan)
    models = [m.config for m in request.models]
    candidates = [start_config(pg.PROTOCOL, s, interest_num=4, seed=0) for s in START_CANDIDATES]
    assert models[:2] == candidates
    k1 = {s: replace(start_config(pg.PROTOCOL, s), interest_num=1, seed=0)
          for s in START_CANDIDATES}
    assert models[-1] == k1[plan.start]  # the chosen start's K=1, last or guessed right
    assert models[2:-1] in ([], [k1[s] for s in START_CANDIDATES if s != plan.start])
    assert request.done() == len(request.models)
    # what the time left still counts: the map (no map asked here), less a wrong guess's model
    assert request.expected_more == (1 if len(models) == 3 else 0)
    for config in plan.configs:
        path = default_bundle_path(config, plan.dataset)
        bundle = load_bundle(path)
        assert bundle.config.max_length == start_config(pg.PROTOCOL, plan.start).max_length
        assert bundle.metrics["trained_by"] == {"threads": 1, "runner": "warm worker",
                                                "workers": 2}
        assert not (path / ANNOY_FILE).exists()
    assert pg.follow_up(plan) == ([], [pg.map_model(plan)])  # what the app builds last
    return plan


def test_playground_reads_a_built_request(home, taste_plan):
    """A dataset written earlier is read again from the list of them, nothing trained (the
    form's request, trained and drawn as it lands, is walked in tests/browser)."""
    app = ok(switch_page(app_with({}), "playground"))
    assert app.title[0].value.startswith("Playground")
    app.selectbox(key="playground_pick").set_value(taste_plan.dataset)
    ok(app)
    app.button(key="playground_show").click()
    ok(app)
    assert app.session_state["playground"] == (taste_plan.dataset, (1, 4), (0,))
    assert any(taste_plan.dataset in s.value for s in app.subheader)
    assert any(p.proto.spec for p in app.get("plotly_chart"))
    assert any("cannot tell yet" in m.value for m in app.markdown)  # one seed: no spread
    # the ranking that knows the tastes: its line on the curve and how close each K comes
    assert any("knows the tastes (ceiling)" in p.proto.spec for p in app.get("plotly_chart"))
    assert any("How much there was to win" in m.value and "K=4" in m.value
               for m in app.markdown)
    figures = next(d.value for d in app.dataframe if "taste_recall" in d.value.columns)
    assert list(figures.index) == ["K=1", "K=4"]


def test_the_playground_figures_follow_the_request_not_only_the_disk(home, taste_plan):
    """Two requests on one taste mixture read the same models on disk: the figures of one
    (K=1 alone) must not stand in for the other's (K=1 and 4), in a new session or this one."""
    from app.views import playground

    playground.summary_of.clear()  # the figures read so far (memo, then Streamlit's cache)
    playground.summary_of.__wrapped__.clear()
    views = {}
    for ks in ((1,), (1, 4)):
        app = app_with({})
        app.session_state["playground"] = (taste_plan.dataset, ks, (0,))
        ok(switch_page(app, "playground"))
        figures = next(d.value for d in app.dataframe if "taste_recall" in d.value.columns)
        views[ks] = list(figures.index)
    assert views == {(1,): ["K=1"], (1, 4): ["K=1", "K=4"]}
