"""Safe to share: on a public server no browser session starts training without the token
(every control greyed out, and the job board itself refuses), trainings run one at a time
behind a capped queue, and the server keeps answering."""

from __future__ import annotations

import time

import pytest
from test_app import MAIN, TIMEOUT, ok, switch_page

from app.services import training
from mind_core.config import MINDConfig


def public_app(monkeypatch, token: str | None):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("MIND_PUBLIC", "1")
    if token is None:
        monkeypatch.delenv("MIND_TRAIN_TOKEN", raising=False)
    else:
        monkeypatch.setenv("MIND_TRAIN_TOKEN", token)
    return AppTest.from_file(MAIN, default_timeout=TIMEOUT)


def training_buttons(app) -> list:
    words = ("Train", "Generate and train", "Train what is missing")
    return [b for b in app.button if any(b.label.startswith(w) for w in words)]


@pytest.mark.parametrize("token", [None, "s3cret"])
def test_no_control_starts_training_without_the_token(home, monkeypatch, token):
    app = ok(public_app(monkeypatch, token))
    before = len(training.board().jobs)
    seen, captions = 0, []
    for page in ["train", "playground", "sweep", "compare"]:
        switch_page(app, page)
        ok(app)
        captions += [c.value for c in app.caption]
        for button in training_buttons(app):
            seen += 1
            assert button.disabled, (page, button.label)  # a forged click: the next test
    assert seen >= 3
    assert len(training.board().jobs) == before  # nothing was queued
    reason = "off on this shared server" if token is None else "needs the training token"
    assert sum(reason in c for c in captions) >= 3  # each page says why
    if token is not None:  # with the token, the same controls are live
        app.sidebar.text_input(key="train_token").set_value(token)
        switch_page(app, "train")
        ok(app)
        assert not [b for b in training_buttons(app) if b.disabled]


def test_the_board_refuses_without_the_token(monkeypatch):
    monkeypatch.setenv("MIND_PUBLIC", "1")
    monkeypatch.setenv("MIND_TRAIN_TOKEN", "s3cret")
    board = training.JobBoard()
    for token in (None, ""):
        with pytest.raises(training.TrainingRefused, match="needs the training token"):
            board.start("ml-100k", [MINDConfig()], "ml-100k", token=token)
    with pytest.raises(training.TrainingRefused, match="is not the one this shared server"):
        board.start("ml-100k", [MINDConfig()], "ml-100k", token="wrong")  # told apart
    assert training.refusal("s3cret") is None
    monkeypatch.delenv("MIND_TRAIN_TOKEN")
    with pytest.raises(training.TrainingRefused, match="off on this shared server"):
        board.start("ml-100k", [MINDConfig()], "ml-100k", token="s3cret")
    monkeypatch.delenv("MIND_PUBLIC")
    assert training.refusal(None) is None  # on localhost anyone may train
    assert not board.jobs


def test_a_flood_queues_one_at_a_time_up_to_the_cap(home, tmp_path, monkeypatch):
    from mind_core.cli import main as cli

    monkeypatch.setenv("MIND_CORE_DATA_DIR", str(tmp_path))  # the children inherit it
    cli(["data", "synth", "--users", "60", "--items", "80", "--ratings", "1500", "--seed", "3",
         "--out", str(tmp_path / "tiny"), "--quiet"])
    board = training.JobBoard()
    configs = [MINDConfig(interest_num=2, embed_dim=8, epochs=1, batch_size=512, seed=s)
               for s in range(training.MAX_QUEUED + 2)]
    accepted = [board.start("tiny", [c], "tiny", with_serving=False)
                for c in configs[:training.MAX_QUEUED + 1]]
    with pytest.raises(training.TrainingRefused, match="already waiting"):
        board.start("tiny", [configs[-1]], "tiny", with_serving=False)
    assert len(board.waiting()) == training.MAX_QUEUED
    app = ok(switch_page(public_app(monkeypatch, None), "explore"))  # still answering
    assert not app.exception
    deadline = time.time() + 300
    while board.active():
        assert time.time() < deadline, "the queue did not drain"
        time.sleep(0.5)
    assert [j.state for j in accepted] == ["done"] * len(accepted), [j.error for j in accepted]
    spans = sorted((j.began, j.finished) for j in accepted)
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert start >= end  # one at a time, in order
    assert [j.began for j in accepted] == sorted(j.began for j in accepted)


def test_the_model_cap(monkeypatch):
    board = training.JobBoard()
    board.accepted_models = training.MAX_APP_MODELS
    with pytest.raises(training.TrainingRefused, match=f"at most {training.MAX_APP_MODELS}"):
        board.start("ml-100k", [MINDConfig()], "ml-100k")


def test_pages_say_which_k_values_are_still_being_built(home):
    from streamlit.testing.v1 import AppTest

    app = ok(AppTest.from_file(MAIN, default_timeout=TIMEOUT))
    assert not [i for i in app.sidebar.info if "in the background" in i.value]
    lock = training.acquire_lock("ml-100k", MINDConfig(interest_num=8))  # as `make run` does
    try:
        ok(app)
        notes = [i.value for i in app.sidebar.info if "in the background" in i.value]
        assert notes and "K=8" in notes[0]  # the tiny models have K = 1, 2, 4
    finally:
        training.release_lock(lock)
    ok(app)
    assert not [i for i in app.sidebar.info if "in the background" in i.value]


def test_being_trained_is_claimed_for_that_dataset_only():
    """Model names hash the configuration, not the dataset: a job training a configuration on
    one taste mixture is not "training" the same configuration on another."""
    config = MINDConfig(interest_num=4, embed_dim=8, epochs=1)
    board = training.board()
    job = training.Job(id=f"{training.model_name(config)}@{time.time_ns()}",  # as the board names
                       dataset="tastes-5c4bd5f0", configs=[config], state="running",
                       dataset_name="tastes-5c4bd5f0")
    board.jobs[job.id] = job
    try:
        assert training.being_trained("tastes-5c4bd5f0", config)
        assert not training.being_trained("tastes", config)
        assert not training.being_trained("tastes-5c4bd5f0", MINDConfig(interest_num=2))
    finally:
        del board.jobs[job.id]
    assert not training.being_trained("tastes-5c4bd5f0", config)


def test_a_page_that_trains_starts_the_workers_ahead_and_the_board_lets_them_go(monkeypatch):
    """Warming (what the Playground and Sweep pages do while their form is read) starts the
    board's workers and the thread that lets them go after WARM_SECONDS without a job."""
    from mind_core.workflow.jobs import Workers

    monkeypatch.setattr(training, "WARM_SECONDS", 0.5)
    board = training.JobBoard()
    board.workers = Workers(1, nice=0)
    board.warm(with_map=False)  # as the Sweep page does (no UMAP compilation here)
    try:
        thread = board.worker
        assert len(board.workers.children) == 1 and thread.is_alive()
        thread.join(30)
        assert not thread.is_alive() and board.worker is None  # let go, workers closed:
        assert board.workers.children == []
    finally:
        board.workers.close()
