"""MIND: Multi-Interest Network with Dynamic Routing (Li et al., CIKM 2019, arXiv 1904.08030).

Read top to bottom, in the paper's order (its Figure 2):

1. Embedding & pooling layer  (Sec. 4.2)  ItemEmbedding: id embedding pooled with genre embeddings
2. Multi-interest extractor   (Sec. 4.3)  B2IRouting: behaviour-to-interest dynamic routing
3. Dynamic interest number    (Eq. 9)     dynamic_interest_number
4. User profile + ReLU layers (Sec. 4.3)  InterestMLP: profile concatenated to each capsule
5. Label-aware attention      (Eq. 10)    label_aware_attention (training only)
6. Distinct interests         (extension) equalize_norms, interest_similarity_penalty, ...
7. Serving: the interest vectors themselves, each searched separately (Sec. 4.5)

Shapes: B batch, L history length (``max_length``), K interests (``interest_num``), D
``embed_dim``, I item codes (0 = padding), G genres per item, F profile features.

Two extensions beyond the paper are on by default, chosen by measurement (docs/results.md,
"Choosing the defaults"); ``MINDConfig(**PAPER_FAITHFUL)`` switches both off:

- ``recency=True`` (recency-weighted routing) gives each recency rank (0 = the latest behaviour)
  a learned positive weight that scales that behaviour's coupling to every interest, and adds a
  learned embedding of the rank to the behaviour. MovieLens next-movie prediction rewards
  recency, while routing alone sees the history as a bag.
- ``candidate_attention=True`` applies label-aware attention to every candidate, not only the
  label (see :func:`candidate_aware_scores`), so training scores items the way serving does.

Four more extensions (off by default unless docs/results.md, "Interests that differ" says otherwise)
work against *routing collapse*, a user's interests pointing the same way and one of
them supplying nearly the whole merged list: ``interest_similarity`` (a penalty on the squared
cosine between a user's interests), ``interest_balance`` (a penalty that asks the items the model
ranks high to be supplied confidently, and evenly, by different interests), ``equal_norms``
(a user's interests rescaled to one length, section 6) and ``hard_negative_beta`` (REMI's
interest-aware hard negatives). The two penalties live in :mod:`mind_core.training.penalties`, the
hard negatives in :mod:`mind_core.training.losses`.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from mind_core.config import MINDConfig
from mind_core.model.autograd import SQUASH_EPS, AttendedScore, SquashedSum, softmax_over_interests

# --- 1. Embedding & pooling layer -------------------------------------------------------------

def gather_rows(table: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """table (I, D), codes (...) -> (..., D): ``table[codes]`` through ``index_select``, whose
    forward copies whole rows (about 4x faster on CPU than advanced indexing's per-element
    kernel) and whose backward is one scatter-add; the same values and gradients."""
    return table.index_select(0, codes.reshape(-1)).view(*codes.shape, table.shape[-1])


class ItemEmbedding(nn.Module):
    """An item is the mean of its id embedding and its genre embeddings (the paper pools id and
    category features). One table serves history, targets, negatives and the item tower.

    Pooling is a fixed (I, n_genres) matrix product rather than a genre lookup per item: the
    same mean, but its backward pass is one small matmul instead of a scatter over I·G rows.
    """

    def __init__(self, n_items: int, n_genres: int, item_genres: torch.Tensor, dim: int):
        super().__init__()
        self.ids = nn.Embedding(n_items, dim, padding_idx=0)
        self.genres = nn.Parameter(torch.randn(n_genres, dim) * 0.1)
        nn.init.normal_(self.ids.weight, std=0.1)
        with torch.no_grad():
            self.ids.weight[0].zero_()
        item_genres = item_genres.long()  # (I, G) genre codes, 0 = none
        membership = torch.zeros(n_items, n_genres)
        membership.scatter_(1, item_genres, 1.0)
        membership[:, 0] = 0.0  # genre code 0 is padding
        count = 1.0 + membership.sum(1, keepdim=True)  # id + genres, (I, 1)
        membership[0] = 0.0
        id_pool = 1.0 / count
        id_pool[0] = 0.0  # the padding row is zero, whatever its parameters hold
        self.register_buffer("genre_pool", membership / count, persistent=False)  # (I, n_genres)
        self.register_buffer("id_pool", id_pool, persistent=False)  # (I, 1)
        self.register_buffer("item_genres", item_genres, persistent=False)

    def table(self) -> torch.Tensor:
        """(I, D) every item's vector; row 0 (padding) is zero."""
        return self.ids.weight * self.id_pool + self.genre_pool @ self.genres  # (I, D)


# --- 2. Multi-interest extractor: B2I dynamic routing -----------------------------------------

def squash(z: torch.Tensor, eps: float = SQUASH_EPS) -> torch.Tensor:
    """Paper Eq. 7: u = |z|² / (1 + |z|²) · z / |z|, so every capsule's norm is below 1."""
    sq = (z * z).sum(-1, keepdim=True)
    return z * (sq / (1.0 + sq) / torch.sqrt(sq + eps))


class B2IRouting(nn.Module):
    """Behaviour-to-interest routing (paper Sec. 4.3, Algorithm 1).

    Differences from capsule routing the paper names: one bilinear map S shared by all
    behaviour/interest pairs (Eq. 8), and routing logits initialised from N(0, σ²) instead of
    zero, since with a shared S and equal logits every interest would be the same. We draw the
    initial logits once per model (a seeded buffer), so a user's interests are identical on
    every call. Routing logits are not back-propagated through (as in the paper's reference
    implementations): gradients reach S only through the last iteration's capsules.

    Softmax axis: over interests, w_ij = exp(b_ij) / Σ_k exp(b_ik) (paper Algorithm 1, line 5,
    as in Sabour et al. and DeepMatch/EasyRec; torch-rechub normalises over behaviours instead).
    Each behaviour then splits one unit of weight among the active interests, so dynamic K is a
    mask on that softmax and a padded behaviour is simply given zero weight everywhere.
    """

    def __init__(self, dim: int, interest_num: int, max_length: int, iters: int,
                 init_std: float, seed: int):
        super().__init__()
        self.iters = iters
        self.S = nn.Linear(dim, dim, bias=False)  # shared bilinear map (Eq. 8)
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("init_logits", torch.randn(interest_num, max_length, generator=g)
                             * init_std)  # (K, L), fixed per model

    def forward(self, u_hat, mask, active, behaviour_weight=None):
        """u_hat (B, L, D) the behaviours already mapped by S (see :meth:`MIND.routing_inputs`),
        mask (B, L) bool, active (B, K) bool, behaviour_weight (L,) or None -> capsules
        (B, K, D) with inactive ones zero, coupling weights (B, K, L). Padded behaviours get
        zero weight, whatever their u_hat holds."""
        B, L, _ = u_hat.shape
        keep = mask.unsqueeze(1).to(u_hat.dtype)  # (B, 1, L)
        if behaviour_weight is not None:
            keep = keep * behaviour_weight
        # inactive interests: -inf logits, so no weight after the softmax over interests
        inactive = torch.zeros(B, active.shape[1], 1, dtype=u_hat.dtype, device=u_hat.device)
        logits = self.init_logits[:, -L:] + inactive.masked_fill_(~active.unsqueeze(-1), -math.inf)
        # With one interest the softmax over interests is 1 whatever the logits, so the
        # iterations cannot change the capsule: skipped (the same values, bit for bit).
        iters = self.iters if active.shape[1] > 1 else 1
        with torch.no_grad():  # the logit updates are not back-propagated through
            u_hat_fixed, keep_fixed = u_hat.detach(), keep.detach()
            for _ in range(iters - 1):
                w = softmax_over_interests(logits).mul_(keep_fixed)  # (B, K, L)
                capsules = squash(torch.bmm(w, u_hat_fixed))  # (B, K, D)
                logits = torch.baddbmm(logits, capsules, u_hat_fixed.transpose(1, 2))  # (B, K, L)
        w = softmax_over_interests(logits) * keep
        return SquashedSum.apply(w, u_hat), w  # the last iteration: the only one with gradients


# --- 3. Dynamic interest number ---------------------------------------------------------------

def dynamic_interest_number(n_behaviours: torch.Tensor, interest_num: int) -> torch.Tensor:
    """Paper Eq. 9: K'_u = max(1, min(K, log2 n_u)), rounded down (a user needs 2^k behaviours
    for k interests). n_behaviours (B,) -> (B,) int."""
    log2 = torch.floor(torch.log2(n_behaviours.clamp(min=1).float())).long()
    return log2.clamp(min=1, max=interest_num)


# --- 4. User profile + ReLU layers ------------------------------------------------------------

class InterestMLP(nn.Module):
    """Each capsule concatenated with the user's profile embeddings, then ReLU layers into item
    space (paper Sec. 4.3, "H layers of ReLU"). The last layer is linear: interests must be able
    to point anywhere items do, and a ReLU output could only reach the positive orthant."""

    def __init__(self, dim: int, vocab_sizes: list[int], profile_dim: int, hidden: tuple[int, ...]):
        super().__init__()
        # One table for all profile features (each feature's codes offset into it): a single
        # lookup per batch instead of one per feature.
        self.profile = nn.Embedding(sum(vocab_sizes), profile_dim)
        offsets = torch.tensor([0, *vocab_sizes[:-1]]).cumsum(0)
        self.register_buffer("offsets", offsets, persistent=False)  # (F,)
        sizes = [dim + profile_dim * len(vocab_sizes), *hidden]
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [nn.Linear(a, b), nn.ReLU()]
        layers.append(nn.Linear(sizes[-1], dim))
        self.mlp = nn.Sequential(*layers)

    def forward(self, capsules, features):
        """capsules (B, K, D), features (B, F) -> interests (B, K, D).

        The first layer is W [capsule; profile] + b = W_c capsule + (W_p profile + b): the
        profile half is the same for a user's K capsules, so it is computed once per user."""
        D = capsules.shape[-1]
        profile = self.profile(features + self.offsets).flatten(1)  # (B, F·P)
        first = self.mlp[0]
        hidden = (F.linear(capsules, first.weight[:, :D])  # (B, K, H)
                  + F.linear(profile, first.weight[:, D:], first.bias).unsqueeze(1))
        return self.mlp[1:](hidden)


# --- 5. Label-aware attention -----------------------------------------------------------------

def label_aware_attention(interests, target, active, pow_p: float):
    """Paper Eq. 10, v_u = V_u softmax(pow(V_u^T e_i, p)), in a sign-safe form.

    The paper raises dot products to the power p; with negative dot products an even power
    ranks -3 above 2 (and a fractional one is undefined), so a "hard max" would pick the largest
    magnitude. We use softmax(p · V_u^T e_i): the same at p = 1, the mean at p = 0, and the hard
    max of the highest dot product as p grows. interests (B, K, D), target (B, D),
    active (B, K) -> (B, D)."""
    scores = torch.bmm(interests, target.unsqueeze(-1)).squeeze(-1)  # (B, K)
    # mask after scaling: at p = 0, 0 · -inf would be NaN
    weights = softmax_over_interests((pow_p * scores).masked_fill(~active, -math.inf))
    return torch.bmm(weights.unsqueeze(1), interests).squeeze(1)  # (B, D)


def candidate_aware_scores(interests, candidates, active, pow_p: float):
    """Extension (not in the paper): label-aware attention applied to every candidate, not only
    the label. Each candidate item attends over the interests with its own vector, so a
    candidate's score is softmax(p · V_u^T e)-weighted V_u^T e, which tends to max_k V_k · e as
    p grows: exactly how serving scores items. With label-only attention, the interests the
    label did not pick are never scored against negatives during training, yet serving takes
    the max over all of them. interests (B, K, D), candidates (C, D) shared or (B, C, D),
    active (B, K) -> scores (B, C)."""
    if candidates.dim() == 2:
        dots = torch.einsum("bkd,cd->bkc", interests, candidates)  # (B, K, C)
    else:
        dots = torch.bmm(interests, candidates.transpose(1, 2))
    if interests.shape[1] == 1:  # one interest (always active): its weight is exactly 1, so
        return dots[:, 0]  # the score is the dot product, gradient included, bit for bit
    # inactive interests get -inf before the softmax; skipped when every interest is active
    bias = None if bool(active.all()) else torch.zeros(
        active.shape, dtype=dots.dtype, device=dots.device).masked_fill(~active, -math.inf)
    return AttendedScore.apply(dots, None if bias is None else bias.unsqueeze(-1), pow_p)


# --- 6. Keeping interests distinct (extensions, not in the paper) ----------------------------
#
# ``equal_norms`` acts here, in the forward pass; the penalties that keep a user's interests
# apart are loss terms, in :mod:`mind_core.training.penalties` (with what we read before choosing
# them).

def equalize_norms(interests, active):
    """interests (B, K, D), active (B, K) -> (B, K, D): each active interest rescaled to the
    mean length of the user's active interests (direction kept, inactive ones stay zero).

    With max-over-interests serving, an interest longer than the others wins most items even
    when it points elsewhere: in the default model, and in one trained with the similarity
    penalty, the longest of four orthogonal interests is 2.7x the shortest and supplies 97% of
    the merged top 50. This takes length out of that contest; the user's overall scale stays."""
    length = torch.sqrt((interests * interests).sum(-1, keepdim=True).clamp_min(1e-12))
    weight = active.unsqueeze(-1).to(interests.dtype)  # (B, K, 1)
    mean = (length * weight).sum(1, keepdim=True) / weight.sum(1, keepdim=True).clamp(min=1)
    return interests * (mean / length) * weight


# --- the whole model --------------------------------------------------------------------------

class MIND(nn.Module):
    """The user tower (history + profile -> K interests) and the item tower, as one module.
    It reads the config's :class:`~mind_core.config.Architecture` fields and its seed."""

    def __init__(self, config: MINDConfig, n_items: int, item_genres: torch.Tensor,
                 n_genres: int, feature_vocab_sizes: list[int]):
        super().__init__()
        self.config = config
        c = config
        torch.manual_seed(c.seed)  # parameter init is part of "same seed, same model"
        self.items = ItemEmbedding(n_items, n_genres, item_genres, c.embed_dim)
        self.recency = nn.Embedding(c.max_length, c.embed_dim) if c.recency else None
        if self.recency is not None:  # extension: recency-weighted routing (see module doc)
            nn.init.normal_(self.recency.weight, std=0.01)
            self.recency_logit = nn.Parameter(torch.zeros(c.max_length))  # softplus -> weight
        self.routing = B2IRouting(c.embed_dim, c.interest_num, c.max_length, c.routing_iters,
                                  c.routing_init_std, seed=c.seed)
        self.interest_mlp = InterestMLP(c.embed_dim, feature_vocab_sizes, c.profile_dim,
                                        c.mlp_hidden)

    def _extract(self, history, features, table):
        """history (B, L) right-aligned item codes, features (B, F), item table (I, D)
        -> interests (B, K, D), active (B, K) bool, coupling weights (B, K, L)."""
        c = self.config
        B, L = history.shape
        assert c.max_length >= L, f"history length {L} exceeds max_length {c.max_length}"
        u_hat, mask, behaviour_weight = self.routing_inputs(history, table)
        k_ids = torch.arange(c.interest_num, device=history.device)
        if c.dynamic_k:
            k_user = dynamic_interest_number(mask.sum(1), c.interest_num)  # (B,)
            active = k_ids.unsqueeze(0) < k_user.unsqueeze(1)  # (B, K)
        else:
            active = torch.ones(B, c.interest_num, dtype=torch.bool, device=history.device)
        capsules, weights = self.routing(u_hat, mask, active, behaviour_weight)
        interests = self.interest_mlp(capsules, features)  # (B, K, D)
        if c.equal_norms:  # extension (section 6): no interest wins the merge by length
            interests = equalize_norms(interests, active)
        interests = interests * active.unsqueeze(-1)  # inactive interests are never served
        return interests, active, weights

    def routing_inputs(self, history, table):
        """history (B, L), item table (I, D) -> u_hat (B, L, D) = S e_j for every behaviour
        (Eq. 8), mask (B, L) bool, behaviour_weight (L,) or None.

        S is linear and shared by every behaviour, so S e_j is a row of S applied to the item
        table: one (I, D) product instead of one per history slot (B·L rows, 7x more on
        ml-100k at L=50). Padded slots need no masking here: routing gives them zero weight."""
        mask = history > 0  # (B, L)
        u_hat = gather_rows(self.routing.S(table), history)  # (B, L, D)
        behaviour_weight = None
        if self.recency is not None:
            L = history.shape[1]
            rank = torch.arange(L - 1, -1, -1, device=history.device)  # most recent = 0
            u_hat = u_hat + self.routing.S(self.recency(rank)).unsqueeze(0)  # S(e_j + r_j)
            # (L,) positive weights, exactly 1 at initialisation
            behaviour_weight = F.softplus(self.recency_logit[rank]) / math.log(2.0)
        return u_hat, mask, behaviour_weight

    def interests(self, history, features):
        """Serving: (B, K, D) interest vectors and (B, K) active mask."""
        interests, active, _ = self._extract(history, features, self.items.table())
        return interests, active

    def item_vectors(self) -> torch.Tensor:
        """The item tower for the whole catalogue: (I, D), row 0 (padding) zero."""
        return self.items.table()

    def forward(self, history, features, labels, candidates=None, with_interests=False):
        """Training scores (raw inner products, before temperature).

        labels (B,); candidates: None for every item, (M,) shared by the batch, or (B, n) per
        row. Returns the label's score (B,) and the candidates' scores: (B, I), (B, M) or
        (B, n); with ``with_interests``, also (interests (B, K, D), active (B, K), candidate
        vectors (I|M, D) or (B, n, D)) for :mod:`mind_core.training.penalties`."""
        table = self.items.table()  # (I, D)
        interests, active, _ = self._extract(history, features, table)
        positives = gather_rows(table, labels)  # (B, D)
        # (I|M, D) shared by the batch, or (B, n, D) per row
        cands = table if candidates is None else gather_rows(table, candidates)
        p = self.config.pow_p
        if self.config.candidate_attention:
            pos = candidate_aware_scores(interests, positives.unsqueeze(1), active, p)[:, 0]
            scores = candidate_aware_scores(interests, cands, active, p)
        else:
            user = label_aware_attention(interests, positives, active, p)  # (B, D), Eq. 10
            pos = (user * positives).sum(-1)
            scores = (user @ cands.T if cands.dim() == 2
                      else torch.bmm(cands, user.unsqueeze(-1)).squeeze(-1))
        if with_interests:
            return pos, scores, (interests, active, cands)
        return pos, scores

    @torch.no_grad()
    def explain(self, history, features):
        """How routing assigned each behaviour to interests: coupling weights (K, L) for one
        user (history (L,), features (F,)); padded positions and inactive interests are zero."""
        _, active, weights = self._extract(history.unsqueeze(0), features.unsqueeze(0),
                                           self.items.table())
        return weights[0] * active[0].unsqueeze(-1)


def build_model(config: MINDConfig, encoded) -> MIND:
    """A MIND sized for an encoded dataset (see :mod:`mind_core.features.encoding`)."""
    return MIND(config, n_items=encoded.n_items,
                item_genres=torch.as_tensor(encoded.item_genres),
                n_genres=len(encoded.genre_names),
                feature_vocab_sizes=[len(encoded.feature_vocab[f]) for f in encoded.feature_vocab])


__all__ = ["MIND", "build_model", "squash", "label_aware_attention",
           "candidate_aware_scores", "equalize_norms",
           "dynamic_interest_number", "B2IRouting", "ItemEmbedding", "InterestMLP"]
