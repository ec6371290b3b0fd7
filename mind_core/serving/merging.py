"""Merging K per-interest lists into one ranked list of ``(item, score, interest)``."""

from __future__ import annotations

import numpy as np

from mind_core.serving.backends.base import PerInterest

MERGE_STRATEGIES = ("max_score", "round_robin", "quota", "diverse", "proportional")
NEEDS_GENRES = ("diverse",)  # strategies that read each item's primary genre
NEEDS_WEIGHTS = ("proportional",)  # strategies that read each interest's weight


def merge(per_interest: PerInterest, n: int, strategy: str = "max_score",
          primary_genre: np.ndarray | None = None, lam: float = 0.5,
          weights: np.ndarray | None = None) -> list[tuple[int, float, int]]:
    """Merge K per-interest lists (each best first) into the top ``n`` distinct items, as
    ``(item, score, interest)``: the score the item has in the list it was taken from and that
    list's index k.

    Strategies:

    - ``max_score`` (default): every item once with its best score over interests (the
      evaluation protocol's ranking); ties by lower item code, an item's interest is the one
      giving the best score (the lower k on a tie).
    - ``round_robin``: interests take turns (k = 0, 1, ...) each adding its best item not
      yet chosen; the order of turns is the ranking. Equal say for every interest.
    - ``quota``: each non-empty interest keeps its best ``n // K'`` items not yet chosen (the
      first ``n % K'`` interests one more); slots an interest cannot fill go to the best
      remaining candidates by score. The result is ranked by score.
    - ``diverse``: greedy, as in ComiRec's controllable aggregation: repeatedly take the
      candidate maximising ``score - lam x (chosen items sharing its primary genre)``. Needs
      ``primary_genre`` (I,) genre code per item code. ``lam`` (default 0.5; 0 = max_score,
      sensible 0..2 relative to the score scale) trades accuracy for genre diversity. The
      reported score is the model's score, not the penalised one.
    - ``proportional``: calibrated by the user's own history. Each interest gets slots in
      proportion to ``weights`` (K,) (:func:`history_shares`: the share of the history the
      interest explains best), handed out one at a time by the Sainte-Lague rule (the next
      slot goes to the interest with the largest ``weight / (2 x slots taken + 1)``; ties to
      the lower k), each slot taking the interest's best item not yet chosen; so every prefix
      of the list is apportioned too. Interests of weight 0 get no slot unless the others run
      dry. A user who watched 70% of one taste gets about 70% of the list from the interest
      that learned it, where ``max_score`` gives it whatever scores highest and
      ``round_robin`` an equal share.

    Fewer than ``n`` items come back when the lists hold fewer distinct items.
    """
    if strategy not in MERGE_STRATEGIES:
        raise ValueError(f"unknown merge strategy {strategy!r}; choose one of "
                         f"{', '.join(MERGE_STRATEGIES)}")
    if n <= 0:
        return []
    lists = [list(lst) for lst in per_interest]
    if strategy == "round_robin":
        return _round_robin(lists, n)
    if strategy == "quota":
        return _quota(lists, n)
    if strategy == "proportional":
        if weights is None:
            raise ValueError("merge strategy 'proportional' needs weights (one per interest, "
                             "e.g. history_shares)")
        return _proportional(lists, n, weights)
    best = _best_per_item(lists)
    if strategy == "max_score":
        return best[:n]
    if primary_genre is None:
        raise ValueError("merge strategy 'diverse' needs primary_genre (genre code per item)")
    return _diverse(best, n, primary_genre, lam)


def _best_per_item(lists) -> list[tuple[int, float, int]]:
    """Each item once with its best score and that interest, ranked by score then code."""
    best: dict[int, tuple[float, int]] = {}
    for k, lst in enumerate(lists):
        for item, score in lst:
            item, score = int(item), float(score)
            if item not in best or score > best[item][0]:
                best[item] = (score, k)
    ranked = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0]))
    return [(item, score, k) for item, (score, k) in ranked]


def _round_robin(lists, n):
    chosen: list[tuple[int, float, int]] = []
    taken: set[int] = set()
    pointers = [0] * len(lists)
    while len(chosen) < n:
        progressed = False
        for k, lst in enumerate(lists):
            while pointers[k] < len(lst) and int(lst[pointers[k]][0]) in taken:
                pointers[k] += 1
            if pointers[k] < len(lst):
                item, score = lst[pointers[k]]
                chosen.append((int(item), float(score), k))
                taken.add(int(item))
                pointers[k] += 1
                progressed = True
                if len(chosen) == n:
                    break
        if not progressed:
            break
    return chosen


def _quota(lists, n):
    live = [k for k, lst in enumerate(lists) if lst]
    if not live:
        return []
    base, extra = divmod(n, len(live))
    quota = {k: base + (1 if i < extra else 0) for i, k in enumerate(live)}
    chosen: list[tuple[int, float, int]] = []
    taken: set[int] = set()
    for k in live:
        got = 0
        for item, score in lists[k]:
            if got == quota[k]:
                break
            if int(item) not in taken:
                chosen.append((int(item), float(score), k))
                taken.add(int(item))
                got += 1
    if len(chosen) < n:  # unfilled quota goes to the best remaining candidates
        rest = [c for c in _best_per_item(lists) if c[0] not in taken]
        chosen += rest[: n - len(chosen)]
    chosen.sort(key=lambda c: (-c[1], c[0]))
    return chosen


def _proportional(lists, n, weights):
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (len(lists),) or not np.all(np.isfinite(weights)) or weights.min() < 0:
        raise ValueError(f"weights: expected {len(lists)} finite non-negative numbers (one per "
                         f"interest), found {weights!r}")
    weights = np.where([bool(lst) for lst in lists], weights, 0.0)
    if weights.sum() == 0:  # no interest explains the history: equal say
        weights = np.asarray([1.0 if lst else 0.0 for lst in lists])
    chosen: list[tuple[int, float, int]] = []
    taken: set[int] = set()
    pointers = [0] * len(lists)
    # Python numbers: K is small and this loop runs n times per user, per merge, per epoch
    shares = weights.tolist()
    slots = [0] * len(lists)
    live = [w > 0 for w in shares]
    while len(chosen) < n and any(live):
        # Sainte-Laguë: the live interest with the largest share / (2 slots + 1), first on ties
        k = max((k for k in range(len(lists)) if live[k]),
                key=lambda k: shares[k] / (2 * slots[k] + 1))
        lst = lists[k]
        while pointers[k] < len(lst) and int(lst[pointers[k]][0]) in taken:
            pointers[k] += 1
        if pointers[k] == len(lst):
            live[k] = False
            continue
        item, score = lst[pointers[k]]
        chosen.append((int(item), float(score), k))
        taken.add(int(item))
        pointers[k] += 1
        slots[k] += 1
    if len(chosen) < n:  # the weighted interests ran dry: the best of the others, by score
        rest = [c for c in _best_per_item(lists) if c[0] not in taken]
        chosen += rest[: n - len(chosen)]
    return chosen


def history_shares(interests: np.ndarray, active: np.ndarray, item_vectors: np.ndarray,
                   history: np.ndarray) -> np.ndarray:
    """The weights of the ``proportional`` merge, for one user or many: the share of a user's
    history items whose best-scoring active interest (inner product) is k.

    interests (..., K, D), active (..., K), item_vectors (I, D), history (..., L) item codes
    with 0 as padding -> (..., K) shares summing to 1 (0 everywhere for an empty history).
    Read from the stored vectors alone, so a bundle gives the same weights with no model
    code; the history is the one the interests were extracted from."""
    interests = np.asarray(interests, dtype=np.float32)
    active = np.asarray(active, dtype=bool)
    history = np.asarray(history)
    scores = np.einsum("...kd,...ld->...lk", interests,
                       np.asarray(item_vectors, dtype=np.float32)[history])  # (..., L, K)
    scores = np.where(active[..., None, :], scores, -np.inf)
    owner = scores.argmax(-1)  # (..., L)
    real = history > 0
    K = interests.shape[-2]
    mine = (owner[..., None] == np.arange(K)) & real[..., None] & active[..., None, :]
    counts = mine.sum(-2)  # (..., K)
    total = np.maximum(real.sum(-1, keepdims=True), 1)
    return counts / total


def _diverse(best, n, primary_genre, lam):
    if not best:
        return []
    # ranked by score: argmax ties fall to the better-scored, lower code (the first maximum)
    scores = np.asarray([score for _, score, _ in best], dtype=np.float64)
    _, genre = np.unique(np.asarray(primary_genre)[[item for item, _, _ in best]],
                         return_inverse=True)
    counts = np.zeros(genre.max() + 1)
    left = np.ones(len(best), dtype=bool)
    chosen = []
    for _ in range(min(n, len(best))):
        gains = np.where(left, scores - lam * counts[genre], -np.inf)
        i = int(np.argmax(gains))
        left[i] = False
        chosen.append(best[i])
        counts[genre[i]] += 1
    return chosen


def merge_arrays(items: np.ndarray, scores: np.ndarray, n: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorized ``max_score`` merge for many users at once: items/scores (U, K, M) as from
    :meth:`ItemIndex.search_arrays` -> merged items (U, n), scores (U, n), interest (U, n),
    padded with item 0, -inf and -1. Same result as :func:`merge` per user."""
    U, K, M = items.shape
    flat_items = items.reshape(U, K * M)
    flat_scores = scores.reshape(U, K * M).astype(np.float32, copy=True)
    source = np.broadcast_to(np.repeat(np.arange(K), M), (U, K * M))
    # group each item's copies together, best score (then lower k) first; drop the rest
    order = np.lexsort((source, -flat_scores, flat_items), axis=1)
    s_items = np.take_along_axis(flat_items, order, axis=1)
    s_scores = np.take_along_axis(flat_scores, order, axis=1)
    s_source = np.take_along_axis(source, order, axis=1)
    dup = np.zeros_like(s_items, dtype=bool)
    dup[:, 1:] = s_items[:, 1:] == s_items[:, :-1]
    s_scores[dup | (s_items == 0)] = -np.inf
    rank = np.lexsort((s_items, -s_scores), axis=1)[:, :n]
    m_items = np.take_along_axis(s_items, rank, axis=1)
    m_scores = np.take_along_axis(s_scores, rank, axis=1)
    m_source = np.take_along_axis(s_source, rank, axis=1)
    empty = ~np.isfinite(m_scores)
    return (np.where(empty, 0, m_items), m_scores, np.where(empty, -1, m_source))


def diverse_arrays(items: np.ndarray, scores: np.ndarray, n: int, primary_genre: np.ndarray,
                   lam: float = 0.5) -> np.ndarray:
    """Vectorized ``diverse`` merge for many users at once: items/scores (U, K, M) -> merged
    items (U, n) padded with 0. The greedy of :func:`merge` run for every user side by side
    (each step one argmax per user over the same candidates in the same order, so the same
    picks, ties included), instead of user by user in Python."""
    U, K, M = items.shape
    primary_genre = np.asarray(primary_genre)
    assert primary_genre.min() >= 0, "genre codes index the counts: 0 = none, never negative"
    cands, cand_scores, _ = merge_arrays(items, scores, K * M)  # best per item, ranked
    values = cand_scores.astype(np.float64)
    genre = primary_genre[cands]  # (U, C)
    counts = np.zeros((U, int(primary_genre.max()) + 1))
    left = np.isfinite(values)
    rows = np.arange(U)
    out = np.zeros((U, n), dtype=np.int64)
    for step in range(min(n, K * M)):
        gains = np.where(left, values - lam * np.take_along_axis(counts, genre, 1), -np.inf)
        i = gains.argmax(1)
        got = left[rows, i]  # a user whose candidates ran out takes nothing more
        out[:, step] = np.where(got, cands[rows, i], 0)
        left[rows, i] = False
        counts[rows, genre[rows, i]] += got
    return out


# --- every user at once: the strategies above, side by side -----------------------------------
#
# Validation scores every strategy on every validation user each epoch; user by user in Python
# that cost more than the max_score ranking and the model's forward pass together. Each
# function below runs the same loop as its strategy above for all users at once (one step of
# the loop per step, over every user's lists), so it picks the same items, ties included.

class _Lists:
    """Every user's per-interest lists: items/scores (U, K, M), best first, padding non-finite,
    and which items each user has taken so far."""

    def __init__(self, items: np.ndarray, scores: np.ndarray, n: int):
        self.items, self.scores = np.asarray(items), np.asarray(scores)
        self.U, self.K, self.M = self.items.shape
        self.finite = np.isfinite(self.scores)
        self.rows = np.arange(self.U)
        self.taken = np.zeros((self.U, int(self.items.max(initial=0)) + 1), dtype=bool)
        self.out = np.zeros((self.U, n), dtype=np.int64)
        self.out_scores = np.full((self.U, n), -np.inf, dtype=self.scores.dtype)
        self.count = np.zeros(self.U, dtype=np.int64)
        self.n = n

    def next_free(self, k) -> tuple[np.ndarray, np.ndarray]:
        """For list ``k`` of each user (an int, or (U,) one per user): whether it holds an item
        not taken yet, and the position of its first, (U,) each."""
        k = np.broadcast_to(k, (self.U,))
        items = self.items[self.rows, k]  # (U, M)
        free = self.finite[self.rows, k] & ~self.taken[self.rows[:, None], items]
        return free.any(1), free.argmax(1)

    def take(self, who: np.ndarray, k, pos: np.ndarray) -> None:
        """Each user in the mask ``who`` appends the item at ``pos`` of their list ``k``."""
        k = np.broadcast_to(k, (self.U,))
        rows = self.rows[who]
        item = self.items[rows, k[who], pos[who]]
        self.out[rows, self.count[who]] = item
        self.out_scores[rows, self.count[who]] = self.scores[rows, k[who], pos[who]]
        self.taken[rows, item] = True
        self.count[who] += 1

    def fill_with_best(self) -> None:
        """Each user short of ``n`` appends the best remaining items by their best score over
        the lists (the ``max_score`` order), as the strategies do when their lists run dry."""
        if (self.count >= self.n).all():
            return
        cands, cand_scores, _ = merge_arrays(self.items, self.scores, self.K * self.M)
        free = np.isfinite(cand_scores) & ~self.taken[self.rows[:, None], cands]
        slot = self.count[:, None] + np.cumsum(free, 1) - 1  # where each free item would go
        keep = free & (slot < self.n)
        rows, cols = np.nonzero(keep)
        self.out[rows, slot[keep]] = cands[rows, cols]
        self.out_scores[rows, slot[keep]] = cand_scores[rows, cols]
        self.count += keep.sum(1)


def round_robin_arrays(items: np.ndarray, scores: np.ndarray, n: int) -> np.ndarray:
    """``round_robin`` for many users: items/scores (U, K, M) -> (U, n) items, padded with 0."""
    lists = _Lists(items, scores, n)
    for _ in range(n):  # a round: every interest takes its turn
        progressed = False
        for k in range(lists.K):
            has, pos = lists.next_free(k)
            who = has & (lists.count < n)
            lists.take(who, k, pos)
            progressed |= bool(who.any())
        if not progressed:
            break
    return lists.out


def quota_arrays(items: np.ndarray, scores: np.ndarray, n: int) -> np.ndarray:
    """``quota`` for many users: items/scores (U, K, M) -> (U, n) items, padded with 0."""
    lists = _Lists(items, scores, n)
    live = lists.finite.any(2)  # (U, K)
    n_live = np.maximum(live.sum(1), 1)
    base, extra = n // n_live, n % n_live
    order = np.cumsum(live, 1) - 1  # each live interest's place among the user's live ones
    quota = np.where(live, base[:, None] + (order < extra[:, None]), 0)  # (U, K)
    for k in range(lists.K):
        got = np.zeros(lists.U, dtype=np.int64)
        for _ in range(int(quota[:, k].max(initial=0))):
            has, pos = lists.next_free(k)
            who = has & (got < quota[:, k])
            if not who.any():
                break
            lists.take(who, k, pos)
            got += who
    lists.fill_with_best()
    ranked = np.lexsort((lists.out, -lists.out_scores), axis=1)  # by score, then by code
    return np.take_along_axis(lists.out, ranked, 1)


def proportional_arrays(items: np.ndarray, scores: np.ndarray, n: int,
                        weights: np.ndarray) -> np.ndarray:
    """``proportional`` for many users: items/scores (U, K, M), weights (U, K) -> (U, n)
    items, padded with 0."""
    lists = _Lists(items, scores, n)
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (lists.U, lists.K) or not np.all(np.isfinite(weights)) \
            or weights.min(initial=0) < 0:
        raise ValueError(f"weights: expected ({lists.U}, {lists.K}) finite non-negative "
                         f"numbers (one per user and interest), found shape {weights.shape}")
    nonempty = lists.finite.any(2)
    weights = np.where(nonempty, weights, 0.0)
    weights = np.where((weights.sum(1) == 0)[:, None], nonempty.astype(np.float64), weights)
    live = weights > 0
    slots = np.zeros((lists.U, lists.K), dtype=np.int64)
    for _ in range(n + lists.K):  # each step takes an item or retires a list
        going = (lists.count < n) & live.any(1)
        if not going.any():
            break
        # Sainte-Laguë: the live interest with the largest share / (2 slots + 1), first on ties
        k = np.where(live, weights / (2 * slots + 1), -np.inf).argmax(1)
        has, pos = lists.next_free(k)
        retired = going & ~has
        live[lists.rows[retired], k[retired]] = False
        who = going & has
        lists.take(who, k, pos)
        slots[lists.rows[who], k[who]] += 1
    lists.fill_with_best()
    return lists.out
