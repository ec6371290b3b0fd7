"""What a dataset's models start from: the configuration and the merge.

MovieLens datasets use :class:`~mind_core.config.MINDConfig`'s defaults. A taste mixture
(:mod:`mind_core.data.tastes`, recognised by its truth file) is there to show when several
interests pay, so its models are read as the issue that made it asks: under the ``future``
protocol (every later rating is a target, so every taste the user keeps has a target to hit),
with a history window of :data:`TASTE_MAX_LENGTH` (with the preset's sticky chain, the last 20
ratings hold 79% of a user's tastes with three movies or more; the last 50 hold 95%:
docs/results.md, "The positive control") and :data:`TASTE_ROUTING_ITERS` routing iterations
(with the paper's 3, routing over 50 behaviours still follows its random start, which gives
each interest a stretch of the timeline: a long-running taste takes two interests and a brief
one none, so 70% of the tastes in the window are found; with 10, 88%).

The merge that reports a bundle's headline figures is chosen per dataset from the K × merge ×
protocol tables of that section: ``max_score`` on MovieLens, where one interest supplies most
of the list and the best-scored movies are the next ones watched; ``proportional`` on a taste
mixture, where it turns the interests' tastes into recall and is the one merge that does not
lose to K = 1 on MovieLens either.
"""

from __future__ import annotations

from mind_core.config import MINDConfig
from mind_core.data.tastes import has_truth

TASTE_MAX_LENGTH = 50
TASTE_ROUTING_ITERS = 10
TASTE_CONFIG = {"protocol": "future", "max_length": TASTE_MAX_LENGTH,
                "routing_iters": TASTE_ROUTING_ITERS}
MOVIELENS_MERGE = "max_score"  # the best on ml-100k under leave-last-out, a tie under future
TASTE_MERGE = "proportional"  # within noise of the best on tastes; the one that holds on both


def is_taste_mixture(dataset) -> bool:
    return has_truth(dataset)


def taste_config(**changes) -> MINDConfig:
    """A taste mixture's starting configuration, with ``changes`` applied."""
    return MINDConfig(**{**TASTE_CONFIG, **changes})


def dataset_config(dataset, **changes) -> MINDConfig:
    """The configuration ``dataset``'s models start from, with ``changes`` applied."""
    if is_taste_mixture(dataset):
        return taste_config(**changes)
    return MINDConfig(**changes)


def default_merge(dataset) -> str:
    """The merge whose figures a bundle of ``dataset`` reports first (the app's default too),
    chosen from the K × merge × protocol tables of docs/results.md."""
    return TASTE_MERGE if is_taste_mixture(dataset) else MOVIELENS_MERGE


__all__ = ["dataset_config", "taste_config", "default_merge", "is_taste_mixture", "TASTE_CONFIG",
           "TASTE_MAX_LENGTH", "TASTE_ROUTING_ITERS", "MOVIELENS_MERGE", "TASTE_MERGE"]
