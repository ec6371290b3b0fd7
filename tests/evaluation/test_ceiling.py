"""The oracle that reads a taste mixture's truth: its weights by hand, its ranking against a
plain loop, and that it is a ceiling only with the right truth."""

from dataclasses import replace

import numpy as np
import pytest

from mind_core.data.tastes import TastesConfig, generate_tastes
from mind_core.evaluation.ceiling import oracle_top, taste_ceiling, taste_weights
from mind_core.evaluation.ranking import evaluate_popularity
from mind_core.workflow.pipeline import load_data
from mind_core.workflow.scoring import dataset_truth


@pytest.fixture(scope="module")
def mixture(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ceiling") / "mix"
    generate_tastes(folder, TastesConfig(users=300, items=400, clusters=8, tastes=(2, 3),
                                         history=(20, 40), stickiness=0.8, seed=3))
    data = load_data(folder, 20, "future")
    return data, dataset_truth(data, folder)


def test_one_step_ahead_the_current_taste_weighs_the_stickiness():
    tastes = np.array([[1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 0, 0], [0, 1, 0, 0], [1, 1, 1, 0]],
                      dtype=bool)
    last = np.array([0, 3, 1, 1, 2])  # in a taste, a stray, in a taste, one taste, in a taste
    n = np.array([1, 1, 1, 1, 200])
    w = taste_weights(tastes, last, n, stickiness=0.8)
    assert np.allclose(w.sum(1), 1.0)
    assert np.allclose(w[0], [0.8, 0.1, 0.1, 0])  # the next rating stays with chance s
    assert np.allclose(w[1], [1 / 3, 1 / 3, 1 / 3, 0])  # after a stray: no taste to follow
    assert np.allclose(w[2], [0.2, 0.8, 0, 0])  # two tastes: a move always goes to the other
    assert np.allclose(w[3], [0, 1, 0, 0])
    assert w[4, 2] == pytest.approx(1 / 3, abs=0.01) and w[4, 2] > 1 / 3  # far ahead: even
    assert np.allclose(taste_weights(tastes, last, n, None)[0], [1 / 3, 1 / 3, 1 / 3, 0])


def test_the_oracle_ranks_as_a_plain_loop_over_users(mixture):
    data, truth = mixture
    split, ev = data.split, data.split.test
    top = oracle_top(data, truth, ev, n=50)
    pop = split.item_counts.astype(float)
    cluster = truth.item_cluster
    for row in range(0, len(ev.users), 7):
        seen = set(split.seen_before(ev, row).tolist()) | {0}
        tastes = np.flatnonzero(truth.tastes[ev.users[row]])
        last_cluster = cluster[split.seen_before(ev, row)[-1]]
        n = ev.target_counts()[row]
        m, s = len(tastes), truth.stickiness
        if m > 1 and last_cluster in tastes:
            lam = 1 - (1 - s) * m / (m - 1)
            stay = np.mean([1 / m + (1 - 1 / m) * lam ** j for j in range(1, n + 1)])
            weight = {c: stay if c == last_cluster else (1 - stay) / (m - 1) for c in tastes}
        else:
            weight = {c: 1 / m for c in tastes}
        left = {c: sum(pop[i] for i in range(1, len(pop)) if cluster[i] == c and i not in seen)
                for c in tastes}
        score = np.array([-np.inf if i in seen else
                          weight.get(cluster[i], 0.0) * pop[i] / max(left.get(cluster[i], 1), 1e-12)
                          for i in range(len(pop))])
        best = np.sort(score)[::-1][:50]
        assert not set(top[row].tolist()) & seen
        assert np.allclose(np.sort(score[top[row]])[::-1], best)  # the same list, ties aside


def test_the_oracle_is_a_ceiling_only_with_the_right_truth(mixture):
    data, truth = mixture
    ceiling = taste_ceiling(data, truth)["Recall@50"]
    popular = evaluate_popularity(data.encoded, data.split)["Recall@50"]
    wrong = replace(truth, tastes=np.roll(truth.tastes, 1, axis=0))  # another user's tastes
    assert ceiling > 2 * popular
    assert taste_ceiling(data, wrong)["Recall@50"] < ceiling / 2
