"""Scoring models honestly: full ranking under a protocol against the baselines (``ranking``),
whether a user's interests differ (``distinctness``) and whether two models' lists differ
beyond seed noise (``overlap``), and, where the tastes are known, whether the
interests found them (``tastes``)."""

from mind_core.evaluation.distinctness import interest_metrics
from mind_core.evaluation.overlap import overlap, spread, versus_floor
from mind_core.evaluation.ranking import evaluate_model, evaluate_popularity, model_interests
from mind_core.evaluation.tastes import TasteFigures, taste_figures, truth_codes

__all__ = ["evaluate_model", "evaluate_popularity", "model_interests", "interest_metrics",
           "overlap", "spread", "versus_floor", "taste_figures", "truth_codes", "TasteFigures"]
