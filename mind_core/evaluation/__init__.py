"""Scoring models honestly: full ranking under a protocol against the baselines (``ranking``),
whether a user's interests differ (``distinctness``) and whether two models' lists differ
beyond seed noise (``overlap``)."""

from mind_core.evaluation.distinctness import interest_metrics
from mind_core.evaluation.overlap import overlap, spread, versus_floor
from mind_core.evaluation.ranking import evaluate_model, evaluate_popularity, model_interests

__all__ = ["evaluate_model", "evaluate_popularity", "model_interests", "interest_metrics",
           "overlap", "spread", "versus_floor"]
