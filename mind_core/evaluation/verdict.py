"""Is a difference between two configurations real? Welch's t-test over seeds.

Each configuration is trained with a few seeds; each seed gives one figure (a metric over the
evaluated users, or a mean list overlap). The question a comparison answers is whether the two
configurations' figures differ by more than retraining with another seed moves them, so the
unit of replication is the seed, and the test is Welch's unequal-variance t on the seed
figures (docs/design.md, "Verdicts"):

    gap = mean(b) - mean(a),  se = sqrt(s_a^2 / n_a + s_b^2 / n_b)
    df  = se^4 / ((s_a^2 / n_a)^2 / (n_a - 1) + (s_b^2 / n_b)^2 / (n_b - 1))   (Welch-Satterthwaite)
    95% interval: gap ± t_{0.975, df} · se;  "differs" when the interval excludes 0 (p < 0.05)

Why this test: under normal seed noise its false-positive rate is at most 5% at every seed
count, two included (with two seeds a side df lies in [1, 2], so the critical value is 4.3 to
12.7 standard errors: honest, and rarely able to decide, which is what two seeds can say).
The rule it replaces, "the gap exceeds twice the larger sd", calls 13% of no-effect pairs real
at two seeds. ``tests/evaluation/test_verdict.py`` measures the rate on simulated noise and
docs/results.md, "Calibrating the verdict", on real seeds of one configuration.
"""

from __future__ import annotations

import math
import statistics

import numpy as np
from scipy import stats

LEVEL = 0.05  # false-positive rate the verdict allows; the interval is 1 - LEVEL
SOUND_SEEDS = 3  # seeds a side before a verdict is worth reading (two rarely decide anything)
DIFFERS, UNDECIDED, ONE_SEED = "differs", "undecided", "one_seed"


def welch(a: list[float], b: list[float], level: float = LEVEL) -> dict:
    """``b`` against ``a`` over seeds: ``{"gap", "low", "high", "p", "df", "n_a", "n_b",
    "verdict", "relative"}``. ``low``/``high`` bound the (1 - level) interval of the gap;
    ``verdict`` is "differs" (the interval excludes 0), "undecided" (it does not: the seeds
    cannot separate the pair) or "one_seed" (a side has one seed: no spread to test against)."""
    a, b = [float(x) for x in a], [float(x) for x in b]
    if not a or not b:
        raise ValueError("welch: each side needs at least one seed's figure")
    mean_a, mean_b = statistics.fmean(a), statistics.fmean(b)
    out = {"gap": mean_b - mean_a, "n_a": len(a), "n_b": len(b),
           "relative": (mean_b - mean_a) / mean_a if mean_a else None,
           "low": None, "high": None, "p": None, "df": None, "verdict": ONE_SEED}
    if min(len(a), len(b)) < 2:
        return out
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    se = math.sqrt(va + vb)
    gap = out["gap"]
    if se == 0.0:  # every seed gave the same figure on both sides (e.g. K=1 under any merge)
        out.update(low=gap, high=gap, p=1.0 if gap == 0 else 0.0, df=math.inf,
                   verdict=UNDECIDED if gap == 0 else DIFFERS)
        return out
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = float(stats.t.ppf(1 - level / 2, df)) * se
    p = float(2 * stats.t.sf(abs(gap) / se, df))
    out.update(low=gap - half, high=gap + half, p=p, df=df,
               verdict=DIFFERS if p < level else UNDECIDED)
    return out


def paired_gain(first: np.ndarray, other: np.ndarray) -> dict:
    """``other`` against ``first`` on the same validation users: mean gain, its t and one-sided
    p (a paired t-test over users)."""
    diff = np.asarray(other, dtype=float) - np.asarray(first, dtype=float)
    gain = float(diff.mean())
    sd = float(diff.std(ddof=1)) if len(diff) > 1 else 0.0
    if sd == 0.0:
        return {"gain": gain, "t": None, "p": 0.0 if gain > 0 else 1.0, "users": len(diff)}
    t = gain / (sd / np.sqrt(len(diff)))
    return {"gain": gain, "t": float(t), "p": float(stats.t.sf(t, len(diff) - 1)),
            "users": len(diff)}


def decided(result: dict) -> bool:
    return result["verdict"] == DIFFERS


def seeds_text(result: dict) -> str:
    """"2 seeds" or "2 and 3 seeds": how many seeds each side had."""
    n_a, n_b = result["n_a"], result["n_b"]
    return f"{n_a} seed{'s' * (n_a != 1)}" if n_a == n_b else f"{n_a} and {n_b} seeds"


def interval_text(result: dict, digits: int = 3) -> str:
    """"+0.021, 95% interval -0.030 to +0.072 over 2 seeds" (the gap alone with one seed)."""
    gap = f"{result['gap']:+.{digits}f}"
    if result["low"] is None:
        return f"{gap} over {seeds_text(result)}"
    level = round(100 * (1 - LEVEL))
    return (f"{gap}, {level}% interval {result['low']:+.{digits}f} to "
            f"{result['high']:+.{digits}f} over {seeds_text(result)}")


def what_would_decide(result: dict) -> str:
    """What a person can do when the seeds cannot separate the pair."""
    n = min(result["n_a"], result["n_b"])
    if result["verdict"] == ONE_SEED:
        return "a second seed of each gives a spread to test against; three make a sound verdict"
    if n < 3:
        return "a third seed of each would narrow the interval"
    if n < 5:
        return "more seeds would narrow the interval; any real gap lies inside it"
    return "any real gap lies inside the interval"


VERDICT_WORDS = {DIFFERS: "a real difference", UNDECIDED: "the seeds cannot tell them apart",
                 ONE_SEED: "cannot tell yet"}


def in_words(result: dict, digits: int = 3) -> str:
    """The verdict in plain words with its figures: "a real difference: +0.041, 95% interval
    +0.020 to +0.062 over 3 seeds" or "the seeds cannot tell them apart: +0.021, 95% interval
    -0.030 to +0.072 over 2 seeds; a third seed of each would narrow the interval"."""
    head = f"{VERDICT_WORDS[result['verdict']]}: {interval_text(result, digits)}"
    if result["verdict"] == DIFFERS:
        return head
    return f"{head}; {what_would_decide(result)}"


__all__ = ["welch", "paired_gain", "decided", "in_words", "VERDICT_WORDS", "interval_text",
           "seeds_text", "what_would_decide", "LEVEL", "SOUND_SEEDS", "DIFFERS", "UNDECIDED",
           "ONE_SEED"]
