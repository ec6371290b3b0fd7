"""Chronological, leak-free training and evaluation samples (docs/design.md, leave-last-out steps
1-3).

1. Every rating is one implicit interaction; per user, sort by timestamp (stable: ties keep file
   order).
2. The protocol (:mod:`mind_core.protocols`) says how many final ratings are test targets and
   how many just before them are validation targets: one and one for leave-last-out, the last
   20% and the 10% before them for the future set. Training samples are the earlier
   prefixes: label = item at position p, history = the up to ``max_length`` items before p
   (most recent last, left-padded with 0).
   A sample is stored as its position p alone, and its history window is cut from the
   sequence when a batch asks for it (:meth:`Split.train_windows`): at ml-25m's 25M ratings the
   whole (S, L) window matrix would be 4 GB at L = 20, the positions are 200 MB.
3. At test time the history is everything before the first test target (validation item
   included).

Users too short to give test targets, a validation target and a non-empty history (fewer than 3
interactions under leave-last-out) are left out of evaluation, and all their prefixes train.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mind_core import protocols
from mind_core.features.encoding import Encoded

MIN_EVAL_INTERACTIONS = 3  # under leave-last-out


@dataclass
class EvalSet:
    users: np.ndarray  # (E,) user rows
    history: np.ndarray  # (E, L) right-aligned item codes, 0-padded on the left
    targets: np.ndarray  # (E,) item codes: the first (under leave-last-out the only) target
    positions: np.ndarray  # (E,) index of that target in ``Split.sequence``
    n_targets: np.ndarray | None = None  # (E,) targets per user, from positions on; None = 1

    def target_counts(self) -> np.ndarray:
        return np.ones(len(self.users), np.int64) if self.n_targets is None else self.n_targets


@dataclass
class Split:
    max_length: int
    sequence: np.ndarray  # (N,) item codes, grouped by user row, chronological
    offsets: np.ndarray  # (U+1,) user u's items are sequence[offsets[u]:offsets[u+1]]
    train_users: np.ndarray  # (S,) int32 user rows
    train_positions: np.ndarray  # (S,) index of each sample's label in ``sequence``
    valid: EvalSet
    test: EvalSet
    n_unevaluated_users: int
    item_counts: np.ndarray  # (I+1,) training interactions per item (targets held out)
    protocol: str = protocols.DEFAULT

    def seen_before(self, ev: EvalSet, row: int) -> np.ndarray:
        """Every item of an evaluated user before their (first) target: excluded from ranking."""
        u = ev.users[row]
        return self.sequence[self.offsets[u]: ev.positions[row]]

    def target_set(self, ev: EvalSet, row: int) -> np.ndarray:
        """The user's target items (one under leave-last-out; the last 20% under future)."""
        start = ev.positions[row]
        return self.sequence[start: start + ev.target_counts()[row]]

    def target_sets(self, ev: EvalSet) -> list[np.ndarray]:
        return [self.target_set(ev, r) for r in range(len(ev.users))]

    @property
    def train_labels(self) -> np.ndarray:
        """(S,) the item each training sample predicts."""
        return self.sequence[self.train_positions]

    def train_windows(self, rows: np.ndarray | slice = slice(None)) -> np.ndarray:
        """(len(rows), L) the history windows of training samples ``rows``, built on demand."""
        pos = self.train_positions[rows]
        return windows(self.sequence, self.offsets[self.train_users[rows]], pos,
                        self.max_length)

    @property
    def train_history(self) -> np.ndarray:
        """(S, L) every training window at once: for small data and tests; the trainer cuts
        them per batch."""
        return self.train_windows()


def windows(sequence, offsets_of, positions, max_length) -> np.ndarray:
    """(len(positions), L): the up to L items before each position, right-aligned."""
    idx = positions[:, None] - max_length + np.arange(max_length)[None, :]
    valid = idx >= offsets_of[:, None]
    return np.where(valid, sequence[np.clip(idx, 0, None)], 0)


def build_split(enc: Encoded, max_length: int, protocol: str = protocols.DEFAULT) -> Split:
    assert max_length >= 1
    rule = protocols.get(protocol)
    n = len(enc.items)
    order = np.lexsort((np.arange(n), enc.timestamps, enc.users))  # stable chronological per user
    users = enc.users[order]
    sequence = enc.items[order]
    counts = np.bincount(users, minlength=enc.n_users)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    starts = offsets[users]
    rank = np.arange(n) - starts  # position within the user's sequence
    user_targets, user_valid = rule.held_out(counts)  # (U,) each; 0 = not evaluated
    first_target = (counts - user_targets)[users]  # rank of the user's first test target
    first_valid = first_target - user_valid[users]
    evaluated = user_targets[users] > 0

    is_test = evaluated & (rank >= first_target)
    is_valid = evaluated & (rank >= first_valid) & (rank < first_target)
    is_train = (rank >= 1) & ~is_test & ~is_valid

    def eval_set(mask, n_targets=None):
        pos = np.flatnonzero(mask)
        return EvalSet(users=users[pos], history=windows(sequence, starts[pos], pos, max_length),
                       targets=sequence[pos], positions=pos,
                       n_targets=None if n_targets is None else n_targets[users[pos]])

    train_pos = np.flatnonzero(is_train)
    held_out = is_test | is_valid
    return Split(
        max_length=max_length, sequence=sequence, offsets=offsets,
        train_users=users[train_pos], train_positions=train_pos,
        valid=eval_set(evaluated & (rank == first_valid),
                       None if np.all(user_valid[user_targets > 0] == 1) else user_valid),
        test=eval_set(evaluated & (rank == first_target), user_targets),
        n_unevaluated_users=int(((counts > 0) & (user_targets == 0)).sum()),
        item_counts=np.bincount(sequence[~held_out], minlength=enc.n_items),
        protocol=rule.NAME,
    )


def serving_histories(split, n_users: int) -> np.ndarray:
    """(U, L): each user's history at serving time. Evaluated users: everything before their
    test movie (docs/design.md, leave-last-out step 3); others: their whole sequence."""
    ends = split.offsets[1:].copy()
    ends[split.test.users] = split.test.positions
    return windows(split.sequence, split.offsets[:-1], ends, split.max_length)
