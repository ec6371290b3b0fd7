"""What a dataset's models start from: the same rules for every dataset, and what is chosen is
chosen on validation data, never on the test targets or a truth file (docs/design.md,
"Choosing on validation").

- **Protocol.** A dataset may declare how it is evaluated (``dataset.json`` beside its files,
  :func:`mind_core.data.declaration.declared_protocol`: a benchmark defines its protocol, as
  the taste mixture declares ``future``); otherwise leave-last-out. A dataset never declares
  the model's settings or the merge.
- **Configuration.** :class:`~mind_core.config.MINDConfig`'s defaults, with the starting
  point :mod:`mind_core.workflow.start` chose for the dataset and protocol on validation (one
  of :data:`START_CANDIDATES`), once it has been chosen.
- **Merge.** :data:`AUTO`: every strategy is scored on the validation set and the best on the
  protocol's headline is used (:func:`pick_merge`); the bundle records which and why.
"""

from __future__ import annotations

import json

from mind_core import protocols
from mind_core.artifacts.paths import artifacts_dir
from mind_core.config import MINDConfig
from mind_core.data.declaration import declared_protocol
from mind_core.data.fetch import resolve_dataset_path
from mind_core.errors import DataError
from mind_core.evaluation.verdict import paired_gain
from mind_core.serving.merging import MERGE_STRATEGIES

AUTO = "auto"  # the merge chosen on validation
MERGE_LEVEL = 0.05  # another merge replaces max_score when better at this level (one-sided)
MERGE_CHOICES = (AUTO, *MERGE_STRATEGIES)
# Starting points a dataset's models may take, chosen on validation (mind_core.workflow.start).
# "short": MINDConfig's defaults (20 behaviours, the paper's 3 routing iterations), best on
# MovieLens-100K's next movie; "long": 50 behaviours and 10 iterations, which hold and separate
# tastes that span a long history (docs/results.md, "What lost tastes"). The first is kept
# unless another beats it on validation (a paired test over users).
START_CANDIDATES = {"short": {}, "long": {"max_length": 50, "routing_iters": 10}}
START_K = 4  # the model the start is chosen on: the default K, seed 0
START_FILE = "start-{protocol}.json"


def pick_merge(valid_by_merge: dict, headline: str, per_user: dict | None = None) -> str:
    """The strategy with the best validation ``headline`` (ties: the first in
    :data:`MERGE_STRATEGIES`). With ``per_user`` (each strategy's (E,) per-user figures on the
    same validation users), the first strategy (``max_score``, the full ranking) is kept
    unless the best is better by a paired t-test over users at :data:`MERGE_LEVEL`: with one
    validation rating per user, a gap of a few users is noise, not a better merge."""
    order = [s for s in MERGE_STRATEGIES if s in valid_by_merge]
    best = max(order, key=lambda s: (valid_by_merge[s][headline], -order.index(s)))
    if per_user is None or best == order[0]:
        return best
    return best if paired_gain(per_user[order[0]], per_user[best])["p"] < MERGE_LEVEL \
        else order[0]


def dataset_protocol(dataset) -> str:
    """The protocol ``dataset`` declares, or the default (leave-last-out)."""
    try:
        path = resolve_dataset_path(dataset)
    except DataError:
        return protocols.DEFAULT
    declared = declared_protocol(path)
    if declared is None:
        return protocols.DEFAULT
    try:
        return protocols.get(declared).NAME
    except ValueError as e:
        raise DataError(path / "dataset.json", f"protocol: {e}") from None


def dataset_name(dataset) -> str:
    """The folder name bundles of ``dataset`` are filed under."""
    try:
        return resolve_dataset_path(dataset).name
    except DataError:
        return str(dataset)


def start_path(dataset, protocol: str):
    return artifacts_dir(dataset_name(dataset)) / START_FILE.format(protocol=protocol)


def recorded_start(dataset, protocol: str) -> dict | None:
    """The start chosen for ``dataset`` under ``protocol`` (``{"chosen", "changes",
    "candidates", ...}``), or None if none was chosen yet."""
    path = start_path(dataset, protocol)
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise DataError(path, f"unreadable start record ({e}); delete it to choose again") \
            from None
    if record.get("chosen") not in START_CANDIDATES:
        raise DataError(path, f"chosen: expected one of {', '.join(START_CANDIDATES)}, got "
                        f"{record.get('chosen')!r}; delete it to choose again")
    return record


def start_config(protocol: str, start: str, **changes) -> MINDConfig:
    """The starting configuration ``start`` (a key of :data:`START_CANDIDATES`)."""
    return MINDConfig(**{"protocol": protocol, **START_CANDIDATES[start], **changes})


def dataset_config(dataset, **changes) -> MINDConfig:
    """The configuration ``dataset``'s models start from, with ``changes`` applied: the
    declared (or given) protocol and the start chosen on validation, if chosen yet."""
    protocol = changes.pop("protocol", None) or dataset_protocol(dataset)
    record = recorded_start(dataset, protocol) if dataset else None
    return start_config(protocol, record["chosen"] if record else "short", **changes)


__all__ = ["AUTO", "MERGE_CHOICES", "START_CANDIDATES", "START_K", "pick_merge",
           "dataset_protocol", "dataset_config", "recorded_start", "start_config",
           "start_path", "dataset_name"]
