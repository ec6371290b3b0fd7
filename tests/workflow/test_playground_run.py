"""The Playground's request outside the app (:func:`mind_core.workflow.playground.run`, the
benchmark's path): real warm workers train the start's candidates, the start is chosen on their
validation figures, and the K values asked follow. (The index and map built last are checked on
the app's path, tests/app/test_links_and_playground.py, where the page draws them.)"""

from __future__ import annotations

from mind_core.artifacts import default_bundle_path, load_bundle
from mind_core.data.tastes import TastesConfig
from mind_core.serving.backends import ANNOY_FILE
from mind_core.workflow import playground as pg
from mind_core.workflow.defaults import START_CANDIDATES, start_config


def test_run_builds_a_request_outside_the_app(tmp_path, monkeypatch):
    from mind_core.workflow.jobs import RequestProgress, Workers

    monkeypatch.setenv("MIND_CORE_DATA_DIR", str(tmp_path))
    knobs = TastesConfig(users=120, items=120, clusters=4, tastes=(2, 2), history=(12, 20),
                         stickiness=0.8, stray=0.05, seed=1)
    request = RequestProgress([])
    with Workers(2, nice=0) as workers:
        plan = pg.run(pg.plan(knobs, ks=(1,), seeds=(0, 1)), workers, request, with_map=False)
    assert plan.start in START_CANDIDATES and not pg.missing(plan)
    # the candidates (K=4), then K=1 at seeds 0 and 1 of the start chosen; no map asked
    assert [(m.config.interest_num, m.config.seed) for m in request.models] == [
        (4, 0)] * len(START_CANDIDATES) + [(1, 0), (1, 1)]
    assert request.done() == len(request.models) and request.expected_more == 1  # the map
    for config in plan.configs:
        bundle = load_bundle(default_bundle_path(config, plan.dataset))
        assert bundle.config.max_length == start_config(pg.PROTOCOL, plan.start).max_length
        assert bundle.metrics["trained_by"]["workers"] == 2
        assert not (default_bundle_path(config, plan.dataset) / ANNOY_FILE).exists()
    assert pg.follow_up(plan) == ([], [pg.map_model(plan)])  # what the app would build last
