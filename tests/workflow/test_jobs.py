"""Training in warm worker processes (:mod:`mind_core.workflow.jobs`), as the app's job board
does: real spawned workers train a small synthetic dataset two models at a time and relay their
progress, each model the same as trained alone; a failure in a child comes back as
TrainingFailed with the child's own message; the time left is read from the progress."""

from __future__ import annotations

import pytest

from mind_core.artifacts.bundle import load_bundle
from mind_core.config import MINDConfig
from mind_core.workflow.jobs import TrainingFailed, train_in_child

TINY = dict(embed_dim=8, epochs=2, batch_size=128, patience=1)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from mind_core.data.synth import generate

    path = tmp_path_factory.mktemp("jobs-data") / "synth"
    generate(path, users=40, items=60, ratings=1200, seed=0)
    return str(path)


def test_a_failure_in_the_child_is_raised_with_its_message(tmp_path):
    missing = tmp_path / "no-such-dataset"
    with pytest.raises(TrainingFailed) as err:
        train_in_child(str(missing), [MINDConfig(**TINY)], [tmp_path / "out"],
                       with_serving=False, nice=0)
    assert "no-such-dataset" in str(err.value)
    assert "Traceback" in err.value.detail
    assert not (tmp_path / "out").exists()


def test_two_warm_workers_train_a_request_as_one_process_would_alone(dataset, tmp_path):
    """Three models on two workers, all but the first handed out as workers free up, come
    back in the request's order, each bit for bit the model trained alone in this process at
    one thread (which worker trained it, and after what, changes nothing), and each bundle
    says how it was trained."""
    import torch

    from mind_core.workflow.jobs import Task, Workers
    from mind_core.workflow.pipeline import train_bundle

    configs = [MINDConfig(interest_num=k, seed=s, **TINY) for k, s in ((1, 0), (2, 0), (2, 1))]
    events, later, asked = [], [Task(c, tmp_path / f"w{i}") for i, c in enumerate(configs)], []

    def more(busy):  # the request's next models, asked for as workers free up
        asked.append([t.out for t in busy])
        return [later.pop(0)] if later else []

    with Workers(2, nice=0) as pool:
        paths = pool.run(dataset, [later.pop(0)], more=more,
                         progress=lambda e, info: events.append((e, info)))
    assert paths == [tmp_path / f"w{i}" for i in range(3)]
    assert asked[0] == [tmp_path / "w0"]  # the second worker asked while the first trained
    assert not later and len(asked) >= 3  # the run ended on an empty answer
    saved = sorted(info["index"] for e, info in events if e == "saved")
    assert saved == [0, 1, 2]
    assert sorted(info["index"] for e, info in events if e == "config") == [0, 1, 2]
    assert {info["index"] for e, info in events if e == "epoch"} == {0, 1, 2}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        alone = train_bundle(dataset, configs[2], out=tmp_path / "alone", with_serving=False)
    finally:
        torch.set_num_threads(threads)
    a = torch.load(paths[2] / "weights.pt", weights_only=True)
    b = torch.load(alone / "weights.pt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert load_bundle(paths[2]).metrics["trained_by"] == {
        "threads": 1, "runner": "warm worker", "workers": 2}
    assert load_bundle(alone).metrics["trained_by"]["runner"] == "in process"


def test_workers_warmed_ahead_pay_their_start_before_the_request_and_train_it(dataset,
                                                                              tmp_path):
    """``warm()`` starts the workers without waiting; each reports its one-off costs paid
    (torch's lazy imports; no map compiled unless asked); the request then runs on those
    same processes, and warming again during it changes nothing."""
    from mind_core.workflow.jobs import Task, Workers

    with Workers(1, nice=0) as pool:
        pool.warm()
        assert len(pool.children) == 1
        pid = pool.children[0].proc.pid
        assert pool.wait_ready(120)
        assert set(pool.children[0].warmed) == {"torch"}
        assert pool.children[0].warmed["torch"] > 0

        def more(busy):
            pool.warm()  # a page opened while the request runs
            return []

        paths = pool.run(dataset, [Task(MINDConfig(**TINY), tmp_path / "m")], more=more)
        assert paths == [tmp_path / "m"] and (tmp_path / "m" / "weights.pt").is_file()
        assert [c.proc.pid for c in pool.children] == [pid]


def test_the_time_left_reads_the_epochs_and_the_finished_models():
    """The estimate spreads what is left over the workers: a finished model's time stands in
    for one not started, a running model's own epochs give its own."""
    from mind_core.workflow.jobs import ModelProgress, RequestProgress

    config = MINDConfig(epochs=30, patience=2)
    req = RequestProgress([ModelProgress(config) for _ in range(4)], workers=2,
                          expected_more=1)
    assert req.seconds_left(now=0.0) is None  # nothing timed yet
    req("config", {"index": 0})
    req.models[0].started = 0.0
    req.models[0].finished = 40.0  # the first took 40 s
    req.models[1].started = 10.0
    req.models[1].epochs = [{"epoch": 1, "best_epoch": 1, "seconds": 10.0},
                            {"epoch": 2, "best_epoch": 2, "seconds": 10.0}]
    # at t = 30: two epochs of 10 s done, early stopping ends after epoch 4 at the soonest,
    # half an epoch of scoring: 25 s left; models 2, 3 and the one expected: 40 s each, on
    # two lanes in order: 25 + 40 on one, 40 + 40 on the other
    assert req.seconds_left(now=30.0) == 80.0
    assert 0.0 < req.fraction(now=30.0) < 1.0


def test_a_map_counts_as_a_fifth_of_a_model_when_its_worker_compiled_umap_ahead():
    """The index and map of a request's last step: a fifth of a finished model's time on a
    worker that compiled UMAP before the request (docs/benchmarks.md), a whole one on a cold
    worker, where the compilation is most of it."""
    from mind_core.workflow.jobs import WARM_SERVE_SHARE, ModelProgress, RequestProgress

    config = MINDConfig()
    req = RequestProgress([ModelProgress(config), ModelProgress(config, serve_only=True)],
                          workers=2)
    req.models[0].started, req.models[0].finished = 0.0, 20.0
    assert req.seconds_left(now=20.0) == 20.0 * WARM_SERVE_SHARE  # not started yet
    req("config", {"index": 1, "warm_map": False})
    req.models[1].started = 20.0
    assert req.seconds_left(now=21.0) == 19.0  # cold: a model's time, less the time run
    req.models[1].warm_map = True
    assert req.seconds_left(now=21.0) == 3.0


def test_a_model_not_started_counts_as_long_as_a_finished_one_of_its_own_k():
    """Before it starts, a model counts a finished model's time of the same K when there is
    one (the Playground's K=1 takes ~0.6 of its K=4), the median over all otherwise."""
    from mind_core.workflow.jobs import ModelProgress, RequestProgress

    k1, k4 = MINDConfig(interest_num=1), MINDConfig(interest_num=4)
    req = RequestProgress([ModelProgress(k4), ModelProgress(k1), ModelProgress(k4),
                           ModelProgress(MINDConfig(interest_num=2))], workers=1)
    req.models[0].started, req.models[0].finished = 0.0, 30.0
    req.models[1].started, req.models[1].finished = 0.0, 10.0
    # left: K=4 as the K=4 took (30 s), K=2 as the median of all (20 s), on one worker
    assert req.seconds_left(now=30.0) == 50.0
