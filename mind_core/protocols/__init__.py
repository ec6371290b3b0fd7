"""Evaluation protocols: which of a user's ratings are held out, and how a ranking is scored.

One small module per protocol, shared by the split (:func:`mind_core.features.split.build_split`),
the trainer (early stopping reads the validation targets just before the test ones), the
evaluator and the sweep. A protocol module provides:

- ``NAME``, ``METRICS`` (the metric names it reports, in display order) and ``HEADLINE`` (the
  one early stopping and every choice made on validation read);
- ``held_out(lengths)``: per user, how many final ratings are test targets and how many just
  before them are validation targets (0 and 0 = the user is not evaluated: too short to also
  leave a non-empty history); ``n_targets(lengths)``, the first of the two;
- ``metrics(top, target_sets, primary_genre, n_items)``: the protocol's figures for ranked lists
  ``top`` (E, N) against each user's target set.

Both protocols rank the whole catalogue by each user's max-over-interests inner product and
exclude the items the user saw before the first target (docs/design.md, step 4).
"""

from __future__ import annotations

from types import ModuleType

from mind_core.protocols import future, leave_last_out

PROTOCOLS: dict[str, ModuleType] = {m.NAME: m for m in (leave_last_out, future)}
DEFAULT = leave_last_out.NAME


def get(name: str) -> ModuleType:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ValueError(f"unknown protocol {name!r}: expected one of "
                         f"{', '.join(PROTOCOLS)}") from None
