"""The Playground's request outside the app (:func:`mind_core.workflow.playground.run`, the
benchmark's path): real warm workers train the start's candidates, the start is chosen on their
validation figures, the K values asked follow, and the map's model gets its index and map
last."""

from __future__ import annotations

from mind_core.artifacts import default_bundle_path
from mind_core.data.tastes import TastesConfig
from mind_core.serving import PROJECTION_FILE
from mind_core.serving.backends import ANNOY_FILE
from mind_core.workflow import playground as pg
from mind_core.workflow.defaults import START_CANDIDATES


def test_run_builds_a_request_outside_the_app(tmp_path, monkeypatch):
    """:func:`mind_core.workflow.playground.run`, the same request in any process (the
    benchmark's path): candidates, the start, the K values asked, the map last."""
    from mind_core.workflow.jobs import RequestProgress, Workers

    monkeypatch.setenv("MIND_CORE_DATA_DIR", str(tmp_path))
    knobs = TastesConfig(users=120, items=120, clusters=4, tastes=(2, 2), history=(12, 20),
                         stickiness=0.8, stray=0.05, seed=1)
    request = RequestProgress([])
    with Workers(2, nice=0) as workers:
        plan = pg.run(pg.plan(knobs, ks=(1,), seeds=(0,)), workers, request)
    assert plan.start in START_CANDIDATES and not pg.missing(plan)
    assert [m.serve_only for m in request.models] == [False] * (len(START_CANDIDATES) + 1) + [
        True]  # the map's model is K=1 here: trained, then served
    shown = default_bundle_path(pg.map_model(plan), plan.dataset)
    assert (shown / ANNOY_FILE).is_file() and (shown / PROJECTION_FILE).is_file()
    assert pg.follow_up(plan) == ([], [])
