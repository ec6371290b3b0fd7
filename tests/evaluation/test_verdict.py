"""The verdict's error rates, measured on simulated seed noise (docs/design.md, "Verdicts").

No difference: two configurations whose seed figures come from one normal distribution; the
share of pairs the test calls "a real difference" is its false-positive rate, which must stay
at or under 5% at every seed count the app holds (2 to 5 a side). The old rule (gap over twice
the larger sd) is measured beside it, so the test shows what it replaced. A difference: a gap
of five seed sds is found at three seeds a side, so the test can say "real" at all."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mind_core.evaluation.overlap import versus_floor
from mind_core.evaluation.verdict import (
    DIFFERS,
    ONE_SEED,
    UNDECIDED,
    in_words,
    interval_text,
    welch,
)

TRIALS = 4_000
# Binomial sd of a 5% rate over TRIALS pairs is 0.34 points: 5% + 3 sd bounds the estimate.
BOUND = 0.05 + 3 * math.sqrt(0.05 * 0.95 / TRIALS)


def _rate(n_a: int, n_b: int, gap: float, seed: int, rule=None) -> float:
    rng = np.random.default_rng(seed)
    called = 0
    for _ in range(TRIALS):
        a = rng.normal(0.5, 0.01, n_a)
        b = rng.normal(0.5 + gap * 0.01, 0.01, n_b)
        called += (rule or (lambda x, y: welch(x, y)["verdict"] == DIFFERS))(a, b)
    return called / TRIALS


@pytest.mark.parametrize("n_a,n_b", [(2, 2), (3, 3), (2, 3), (5, 5)])
def test_false_positive_rate_is_at_most_five_percent(n_a, n_b):
    assert _rate(n_a, n_b, 0.0, seed=n_a * 10 + n_b) <= BOUND


def test_the_two_sd_rule_it_replaces_overclaims_at_two_seeds():
    def two_sd(a, b):
        return abs(b.mean() - a.mean()) > 2 * max(a.std(ddof=1), b.std(ddof=1))

    old = _rate(2, 2, 0.0, seed=7, rule=two_sd)
    assert old > 0.10  # about 13%: why it was replaced
    assert _rate(2, 2, 0.0, seed=7) < old


def test_a_large_difference_is_found_at_three_seeds():
    assert _rate(3, 3, 5.0, seed=3) > 0.8


def test_interval_and_words():
    result = welch([0.48, 0.49, 0.50], [0.52, 0.53, 0.54])
    assert result["verdict"] == DIFFERS and result["low"] > 0 < result["high"]
    assert result["gap"] == pytest.approx(0.04)
    assert result["low"] < result["gap"] < result["high"]
    assert in_words(result).startswith("a real difference: +0.040, 95% interval +0.")
    assert "over 3 seeds" in interval_text(result)
    close = welch([0.487, 0.495], [0.508, 0.499])
    assert close["verdict"] == UNDECIDED and close["low"] < 0 < close["high"]
    assert "a third seed" in in_words(close)
    one = welch([0.5], [0.52, 0.53])
    assert one["verdict"] == ONE_SEED and one["low"] is None
    assert "over 1 and 2 seeds" in in_words(one) and "second seed" in in_words(one)


def test_identical_seed_figures_differ_only_when_the_means_do():
    assert welch([0.3, 0.3], [0.3, 0.3])["verdict"] == UNDECIDED
    assert welch([0.3, 0.3], [0.4, 0.4])["verdict"] == DIFFERS


def test_lists_differ_only_when_they_overlap_less_than_seeds_do():
    lower = versus_floor([0.20, 0.21, 0.20, 0.21], [0.30, 0.31, 0.30, 0.29])
    assert lower["verdict"] == DIFFERS and lower["gap"] > 0
    higher = versus_floor([0.40, 0.41, 0.40, 0.41], [0.30, 0.31, 0.30, 0.29])
    assert higher["verdict"] == UNDECIDED  # more alike than two seeds: not a difference
    assert versus_floor([0.2], [])["verdict"] == ONE_SEED
