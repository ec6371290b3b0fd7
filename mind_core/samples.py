"""Chronological, leak-free training and evaluation samples (DESIGN.md, protocol steps 1-3).

1. Every rating is one implicit interaction; per user, sort by timestamp (stable: ties keep file
   order).
2. Leave-last-out: the last interaction is the test target, the one before it the validation
   target. Training samples are the earlier prefixes: label = item at position p, history = the
   up to ``max_length`` items before p (most recent last, left-padded with 0).
3. At test time the history is everything before the test target (validation item included).

Users with fewer than 3 interactions cannot give a validation and a test target with a non-empty
history: all their prefixes train, and they are left out of evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .encoding import Encoded

MIN_EVAL_INTERACTIONS = 3


@dataclass
class EvalSet:
    users: np.ndarray  # (E,) user rows
    history: np.ndarray  # (E, L) right-aligned item codes, 0-padded on the left
    targets: np.ndarray  # (E,) item codes
    positions: np.ndarray  # (E,) index of the target in ``Split.sequence``


@dataclass
class Split:
    max_length: int
    sequence: np.ndarray  # (N,) item codes, grouped by user row, chronological
    offsets: np.ndarray  # (U+1,) user u's items are sequence[offsets[u]:offsets[u+1]]
    train_users: np.ndarray  # (S,)
    train_history: np.ndarray  # (S, L)
    train_labels: np.ndarray  # (S,)
    valid: EvalSet
    test: EvalSet
    n_unevaluated_users: int
    item_counts: np.ndarray  # (I+1,) training interactions per item (targets held out)

    def seen_before(self, ev: EvalSet, row: int) -> np.ndarray:
        """Every item of an evaluated user before their target: excluded from ranking."""
        u = ev.users[row]
        return self.sequence[self.offsets[u]: ev.positions[row]]


def _windows(sequence, offsets_of, positions, max_length) -> np.ndarray:
    """(len(positions), L): the up to L items before each position, right-aligned."""
    idx = positions[:, None] - max_length + np.arange(max_length)[None, :]
    valid = idx >= offsets_of[:, None]
    return np.where(valid, sequence[np.clip(idx, 0, None)], 0)


def build_split(enc: Encoded, max_length: int) -> Split:
    assert max_length >= 1
    n = len(enc.items)
    order = np.lexsort((np.arange(n), enc.timestamps, enc.users))  # stable chronological per user
    users = enc.users[order]
    sequence = enc.items[order]
    counts = np.bincount(users, minlength=enc.n_users)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    starts = offsets[users]
    rank = np.arange(n) - starts  # position within the user's sequence
    length = counts[users]
    evaluated = length >= MIN_EVAL_INTERACTIONS

    is_test = evaluated & (rank == length - 1)
    is_valid = evaluated & (rank == length - 2)
    is_train = (rank >= 1) & ~is_test & ~is_valid

    def eval_set(mask):
        pos = np.flatnonzero(mask)
        return EvalSet(users=users[pos], history=_windows(sequence, starts[pos], pos, max_length),
                       targets=sequence[pos], positions=pos)

    train_pos = np.flatnonzero(is_train)
    held_out = is_test | is_valid
    return Split(
        max_length=max_length, sequence=sequence, offsets=offsets,
        train_users=users[train_pos],
        train_history=_windows(sequence, starts[train_pos], train_pos, max_length),
        train_labels=sequence[train_pos],
        valid=eval_set(is_valid), test=eval_set(is_test),
        n_unevaluated_users=int((counts > 0).sum() - is_test.sum()),
        item_counts=np.bincount(sequence[~held_out], minlength=enc.n_items),
    )
