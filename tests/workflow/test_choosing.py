"""Choosing on validation, never on the answer: the merge a bundle reports is the best on its
validation set, a dataset declares only its protocol, the start of a dataset's models is chosen
from validation figures (the same choice with or without the truth file beside the ratings),
and a bundle trained on a dataset given by path finds that dataset again."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from mind_core import protocols
from mind_core.artifacts.bundle import list_bundles, load_bundle
from mind_core.cli import main
from mind_core.config import MINDConfig
from mind_core.data.declaration import DECLARATION_FILE, declared_protocol
from mind_core.data.synth import generate
from mind_core.data.tastes import TRUTH_FILE, TastesConfig, generate_tastes
from mind_core.errors import DataError
from mind_core.evaluation.verdict import paired_gain
from mind_core.serving import MERGE_STRATEGIES
from mind_core.workflow.defaults import (
    AUTO,
    START_CANDIDATES,
    dataset_config,
    pick_merge,
    recorded_start,
)
from mind_core.workflow.pipeline import (
    bundle_data,
    forget_loaded_data,
    model_merges,
    train_bundle,
)
from mind_core.workflow.scoring import user_recall
from mind_core.workflow.start import choose_start

TINY = dict(embed_dim=16, epochs=1, batch_size=512, learning_rate=5e-3, mlp_hidden=(32,))
TINY_TASTES = TastesConfig(users=150, items=240, clusters=6, tastes=(2, 3), history=(20, 40),
                           seed=5)


def test_the_merge_is_the_best_on_validation_and_test_figures_never_choose(model_home):
    bundle = load_bundle(model_home["bundles"][4])
    data = bundle_data(bundle)
    choice = bundle.metrics["merge_choice"]
    headline = protocols.get(bundle.config.protocol).HEADLINE
    assert choice["rule"] == AUTO and headline in choice["by"]
    assert set(choice["valid"]) == set(MERGE_STRATEGIES)
    # the figures that chose it are the validation set's, recomputed from the weights
    tops: dict = {}
    valid = model_merges(bundle.load_model(data.encoded), data, "ml-100k", which="valid",
                         tops=tops)
    for strategy, figure in choice["valid"].items():
        assert valid[strategy][headline] == pytest.approx(figure, abs=1e-6), strategy
    per_user = {s: user_recall(t, data.split, data.split.valid) for s, t in tops.items()}
    for strategy in MERGE_STRATEGIES:
        assert per_user[strategy].mean() == pytest.approx(valid[strategy][headline])
    assert bundle.metrics["merge"] == pick_merge(valid, headline, per_user)
    assert bundle.metrics["test"] == bundle.metrics["by_merge"][bundle.metrics["merge"]]


def test_pick_merge_keeps_max_score_unless_another_is_clearly_better():
    figures = {s: {"HR@50": 0.5} for s in MERGE_STRATEGIES}
    assert pick_merge(figures, "HR@50") == MERGE_STRATEGIES[0] == "max_score"  # ties
    figures["diverse"]["HR@50"] = 0.6
    assert pick_merge(figures, "HR@50") == "diverse"
    rng = np.random.default_rng(1)
    same = (rng.random(900) < 0.5).astype(float)
    hits = {s: same.copy() for s in MERGE_STRATEGIES}
    def moved(up: int, down: int) -> np.ndarray:  # other users hit, some more, some fewer
        h = hits["max_score"].copy()
        h[np.flatnonzero(h == 0)[:up]] = 1
        h[np.flatnonzero(h == 1)[-down:]] = 0
        return h

    hits["diverse"] = moved(40, 35)  # five users more on balance: noise, not a better merge
    figures = {s: {"HR@50": float(h.mean())} for s, h in hits.items()}
    assert pick_merge(figures, "HR@50") == "diverse"
    assert pick_merge(figures, "HR@50", hits) == "max_score"
    hits["diverse"] = moved(100, 20)  # eighty more on balance: a better merge
    figures["diverse"]["HR@50"] = float(hits["diverse"].mean())
    assert pick_merge(figures, "HR@50", hits) == "diverse"


def test_a_dataset_declares_its_protocol_and_nothing_else(tmp_path):
    folder = tmp_path / "mix"
    generate_tastes(folder, TINY_TASTES)
    assert declared_protocol(folder) == "future"  # the benchmark's own protocol
    with_truth = dataset_config(folder, interest_num=4)
    (folder / TRUTH_FILE).rename(tmp_path / "truth-elsewhere.json")
    assert dataset_config(folder, interest_num=4) == with_truth  # the truth is never read
    assert with_truth == MINDConfig(protocol="future", interest_num=4)
    (folder / DECLARATION_FILE).write_text(json.dumps({"protocol": "future",
                                                       "max_length": 50}))
    with pytest.raises(DataError, match="unknown key.*max_length") as e:
        dataset_config(folder)
    assert DECLARATION_FILE in str(e.value)
    (folder / DECLARATION_FILE).write_text(json.dumps({"protocol": "next_week"}))
    with pytest.raises(DataError, match="unknown protocol 'next_week'"):
        dataset_config(folder)
    (folder / DECLARATION_FILE).unlink()
    assert dataset_config(folder).protocol == "leave_last_out"


def test_paired_gain_reads_the_same_users():
    rng = np.random.default_rng(0)
    first = rng.random(400)
    assert paired_gain(first, first + 0.05)["p"] < 1e-6  # always better: decided
    noisy = paired_gain(first, first + rng.normal(0, 0.3, 400))
    assert noisy["p"] > 0.01 and noisy["users"] == 400
    assert paired_gain(first, first - 0.05)["p"] > 0.5  # worse is never a gain


def _home(tmp_path, monkeypatch, name: str, truth: bool):
    home = tmp_path / name
    home.mkdir()
    monkeypatch.setenv("MIND_CORE_DATA_DIR", str(home))
    generate_tastes(home / "mix", TINY_TASTES)
    if not truth:
        (home / "mix" / TRUTH_FILE).unlink()
    return home


def test_the_start_is_chosen_on_validation_with_or_without_the_truth(tmp_path, monkeypatch):
    records = {}
    for truth in (True, False):
        home = _home(tmp_path, monkeypatch, f"home-{truth}", truth)
        record = choose_start("mix", progress=None, with_serving=False, **TINY)
        assert record["protocol"] == "future"  # declared by the dataset
        assert set(record["candidates"]) == set(START_CANDIDATES)
        for name, c in record["candidates"].items():
            assert 0 <= c["valid Recall@50"] <= 1 and c["merge"] in MERGE_STRATEGIES
            bundle = load_bundle(home / "artifacts" / "mix" / c["bundle"])
            assert bundle.config.interest_num == 4 and bundle.config.seed == 0
            assert bundle.config.max_length == START_CANDIDATES[name].get("max_length", 20)
        assert recorded_start("mix", "future") == record
        chosen = dataset_config("mix")
        for field, value in START_CANDIDATES[record["chosen"]].items():
            assert getattr(chosen, field) == value
        before = list_bundles("mix")
        assert choose_start("mix", **TINY) == record and list_bundles("mix") == before
        records[truth] = record
    # the same figures, the same choice: nothing read the truth file
    for a, b in zip(records[True]["candidates"].values(), records[False]["candidates"].values(),
                    strict=True):
        assert a["valid Recall@50"] == pytest.approx(b["valid Recall@50"])
    assert records[True]["chosen"] == records[False]["chosen"]


def test_a_bundle_finds_a_dataset_given_by_path(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("MIND_CORE_DATA_DIR", str(home))
    dataset = tmp_path / "some" / "dir" / "data"  # named like the project's own data folder
    generate(dataset, users=120, items=200, ratings=3_000, seed=3)
    path = train_bundle(str(dataset), MINDConfig(**TINY, interest_num=2, max_length=5),
                        with_serving=False)
    assert main(["evaluate", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["bundle"] == path.name
    user = json.loads((path / "id_maps.json").read_text())["user_ids"][0]
    assert main(["recommend", str(path), "--user", str(user), "--backend", "exact"]) == 0
    capsys.readouterr()
    # changed where it was trained: the fingerprint error
    ratings = dataset / "ratings.csv"
    ratings.write_text("\n".join(ratings.read_text().splitlines()[:-1]) + "\n")
    forget_loaded_data()  # a new process would read the files again
    assert main(["evaluate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "fingerprint" in err and "retrain" in err
    # moved away, another dataset of that name in the data folder: the fingerprint error again
    shutil.move(dataset, tmp_path / "moved")
    shutil.copytree(tmp_path / "moved", home / "data")
    forget_loaded_data()
    assert main(["evaluate", str(path)]) == 2
    assert "fingerprint" in capsys.readouterr().err


def test_the_guess_while_a_start_candidate_trains_keeps_the_first_unless_clearly_behind(
        tmp_path, monkeypatch):
    """The Playground's free worker starts the next model of the start the candidates'
    validation figures so far point to: none until each candidate has one, the first (the
    defaults) unless another leads by GUESS_LEAD, as the choice keeps the first unless another
    is clearly better; then that start's models seed by seed, the larger K first."""
    from mind_core.workflow import playground as pg
    from mind_core.workflow.jobs import ModelProgress, RequestProgress

    monkeypatch.setenv("MIND_CORE_DATA_DIR", str(tmp_path))
    knobs = TastesConfig(users=60, items=80, clusters=4, tastes=(2, 3), history=(14, 20),
                         stickiness=0.8, stray=0.05, seed=0)
    p = pg.plan(knobs, ks=(1, 4), seeds=(0, 1))
    assert p.start is None and len(p.configs) == len(START_CANDIDATES)
    models = [ModelProgress(c) for c in p.configs]  # the candidates, as a request holds them
    request = RequestProgress(models)
    key = f"valid_{pg.HEADLINE}"
    models[0].epochs = [{key: 0.40}, {key: 0.50}]
    assert pg.leading_start(p, request) is None  # the other has no figure yet
    first, other = list(START_CANDIDATES)[:2]
    models[1].epochs = [{key: 0.50 * (1 + pg.GUESS_LEAD) - 0.001}]
    assert pg.leading_start(p, request) == first  # ahead, but not by the lead asked
    models[1].epochs.append({key: 0.50 * (1 + pg.GUESS_LEAD) + 0.001})
    assert pg.leading_start(p, request) == other
    order = [(c.seed, c.interest_num) for c in sorted(pg.planned(other, p.ks, p.seeds),
                                                      key=pg.costliest_first)]
    assert order == [(0, 4), (0, 1), (1, 4), (1, 1)]
    # nothing is built: the candidates come first, and no guess is made while any is missing
    assert pg.follow_up(p, (), request) == (p.configs, [])


def test_a_page_settling_while_another_chooses_the_start_waits_for_its_record(
        tmp_path, monkeypatch):
    """The job board and every session's page settle the same plan; the one that finds the
    choice's lock held waits for the record instead of raising the lock's refusal (a page
    showed 'TrainingLocked: choosing the start ... is already being trained')."""
    import threading

    from mind_core.artifacts.lock import acquire
    from mind_core.workflow import playground as pg
    from mind_core.workflow.defaults import start_path

    monkeypatch.setenv("MIND_CORE_DATA_DIR", str(tmp_path))
    knobs = TastesConfig(users=60, items=80, clusters=4, tastes=(2, 3), history=(14, 20),
                         stickiness=0.8, stray=0.05, seed=0)
    p = pg.plan(knobs, ks=(1, 4), seeds=(0,))
    for config in p.configs:  # the candidates, as built (missing() reads their config files)
        folder = pg.default_bundle_path(config, p.dataset)
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
    record = start_path(p.dataset, pg.PROTOCOL)
    lock = acquire(record)  # another chooser, at work

    def finish():
        record.write_text(json.dumps({"chosen": "long", "changes": {}}))
        lock.release()

    threading.Timer(0.5, finish).start()
    settled = pg.settle(p)
    assert settled.start == "long" and [c.interest_num for c in settled.configs] == [1, 4]


def test_evaluate_reads_a_taste_mixture_against_its_ceiling(tmp_path, monkeypatch, capsys):
    """Beside the models, `evaluate` shows the ranking that reads the truth file (the most a
    model could reach there); without the truth file there is none, and nothing else moves."""
    reports = {}
    for truth in (True, False):
        home = _home(tmp_path, monkeypatch, f"home-{truth}", truth)
        path = train_bundle("mix", MINDConfig(**TINY, interest_num=2, protocol="future"),
                            with_serving=False)
        assert path.parent == home / "artifacts" / "mix"
        assert main(["evaluate", str(path), "--json"]) == 0
        reports[truth] = json.loads(capsys.readouterr().out)
        assert main(["evaluate", str(path)]) == 0
        table = capsys.readouterr().out
        assert any(line.startswith("knows the tastes") for line in table.splitlines()) == truth
    ceiling = reports[True]["ceiling"]
    assert reports[False]["ceiling"] is None
    assert reports[True]["models"]["MIND K=2"]["Recall@50"] == pytest.approx(
        reports[False]["models"]["MIND K=2"]["Recall@50"])
    assert ceiling["Recall@50"] > reports[True]["models"]["MIND K=2"]["Recall@50"]
    assert ceiling["Recall@50"] > reports[True]["models"]["most popular"]["Recall@50"] + 0.2
