"""Training in a child process (:mod:`mind_core.workflow.jobs`), as the app's Train page does: a
real spawned process trains on a small synthetic dataset and relays its progress; a failure in the
child comes back as TrainingFailed with the child's own message."""

from __future__ import annotations

import os

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


def test_child_trains_every_config_and_relays_progress(dataset, tmp_path):
    configs = [MINDConfig(interest_num=k, **TINY) for k in (1, 2)]
    outs = [tmp_path / "k1", tmp_path / "k2"]
    events = []
    paths = train_in_child(dataset, configs, outs, with_serving=False, nice=0,
                           progress=lambda e, info: events.append((e, info, os.getpid())))
    assert paths == outs
    assert [load_bundle(p).config.interest_num for p in paths] == [1, 2]
    configs_started = [info["index"] for e, info, _ in events if e == "config"]
    assert configs_started == [0, 1]
    epochs = [info["epoch"] for e, info, _ in events if e == "epoch"]
    assert epochs[:1] == [1] and len(epochs) >= 2  # each config reports its epochs
    assert {e for e, _, _ in events} >= {"config", "batch", "epoch"}


def test_a_failure_in_the_child_is_raised_with_its_message(tmp_path):
    missing = tmp_path / "no-such-dataset"
    with pytest.raises(TrainingFailed) as err:
        train_in_child(str(missing), [MINDConfig(**TINY)], [tmp_path / "out"],
                       with_serving=False, nice=0)
    assert "no-such-dataset" in str(err.value)
    assert "Traceback" in err.value.detail
    assert not (tmp_path / "out").exists()
