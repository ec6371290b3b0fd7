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

Two extensions beyond the paper are on by default, chosen by measurement (README, "Choosing
the defaults"); ``MINDConfig(**PAPER_FAITHFUL)`` switches both off:

- ``recency=True`` (recency-weighted routing) gives each recency rank (0 = the latest behaviour)
  a learned positive weight that scales that behaviour's coupling to every interest, and adds a
  learned embedding of the rank to the behaviour. MovieLens next-movie prediction rewards
  recency, while routing alone sees the history as a bag.
- ``candidate_attention=True`` applies label-aware attention to every candidate, not only the
  label (see :func:`candidate_aware_scores`), so training scores items the way serving does.

Four more extensions (off by default unless README "Interests that differ" says otherwise)
work against *routing collapse*, a user's interests pointing the same way and one of
them supplying nearly the whole merged list: ``interest_similarity`` (a penalty on the squared
cosine between a user's interests), ``interest_balance`` (a penalty that asks the items the model
ranks high to be supplied confidently, and evenly, by different interests), ``equal_norms``
(a user's interests rescaled to one length, section 6) and ``hard_negative_beta`` (REMI's
interest-aware hard negatives). The two penalties live in :mod:`mind_core.penalties`, the hard
negatives in :mod:`mind_core.losses`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class MINDConfig:
    # --- model ---
    interest_num: int = 4  # K: max interests per user (1 = a single-vector model); 1..8
    embed_dim: int = 64  # D: item and interest vector size; 16..128
    max_length: int = 20  # L: most recent behaviours routed; 10..100
    routing_iters: int = 3  # r: B2I routing iterations (paper: 3); 1..5
    routing_init_std: float = 1.0  # σ of the fixed routing logits b_ij ~ N(0, σ²); 0.1..5
    dynamic_k: bool = True  # K'_u = max(1, min(K, floor(log2 n_u))) (paper Eq. 9)
    pow_p: float = 2.0  # label-aware attention sharpness: 0 = mean, large = hard max; 0..10
    profile_dim: int = 8  # embedding size of each profile feature (gender, age, occupation, zip)
    # ReLU layer widths after concatenating the profile; None = one layer of 2·embed_dim (128
    # at the default D), resolved when the config is built. Measured at D=16: 32 and 128 score
    # the same (README, "Choosing the defaults"); 1..4 layers of D..4D
    mlp_hidden: tuple[int, ...] | None = None
    recency: bool = True  # extension: recency-weighted routing (not in the paper; see above)
    candidate_attention: bool = True  # extension: attention per candidate (not in the paper)
    # --- loss ---
    loss: str = "sampled_softmax"  # "sampled_softmax" (shared negatives) or "listwise" (tutorial)
    temperature: float = 0.1  # logits are divided by it; 0.02..1
    neg_ratio: int = 3  # listwise: sampled negatives per positive (tutorial: 3)
    shared_negatives: int = 0  # sampled_softmax: negatives shared per batch; 0 = whole catalogue
    sample_method: str = "uniform"  # "uniform" or "popularity" (log-Q corrected in the loss)
    # --- keeping interests distinct (section 6; README "Interests that differ"); 0 = off ---
    # λ_sim: adds λ · (mean squared cosine between a user's active interests) to the loss;
    # 0..1 (the cross-entropy is about 6, the penalty 0..1). Measured at K=4 (3 seeds): 1.0
    # makes the interests orthogonal (cosine 0.74 -> 0.02) at no cost in accuracy, but one
    # interest still supplies 96% of the merged list: the others are parked off the catalogue
    interest_similarity: float = 0.0
    # λ_bal: adds λ · (1 - normalised mutual information between an item the model ranks high
    # and the interest that supplies it), 0 when each item has one owner and the owners share
    # the list evenly, 1 when one interest supplies it all or all interests are the same; 0..1.
    # Measured at K=4 (3 seeds): 0.3 barely moves the figures; 0.5-1.0 splits the merged list
    # (busiest interest 0.93 -> 0.58-0.48, cosine 0.24-0.18) but costs 0.05-0.07 HR@50
    interest_balance: float = 0.0
    # REMI's interest-aware hard negatives (Xie et al. 2023, IHN): each negative weighted by
    # exp(β · its logit) / the mean weight; 0 = plain softmax; 0..1 on our temperature-scaled
    # logits (REMI's 0.1..10 are on raw inner products, about 10x smaller than ours)
    hard_negative_beta: float = 0.0
    # every active interest of a user rescaled to the mean length of that user's interests, so
    # that no interest wins the max-over-interests merge by its length alone (section 6)
    equal_norms: bool = False
    # --- training ---
    epochs: int = 30  # upper bound; early stopping usually ends sooner
    batch_size: int = 256
    learning_rate: float = 3e-3
    weight_decay: float = 1e-6
    patience: int = 2  # epochs without a better validation HR@50 before stopping
    seed: int = 0
    device: str = "auto"  # "auto", "cpu" or "cuda"
    # evaluation protocol the training split follows (mind_core.protocols): "leave_last_out"
    # (next movie; the headline) or "future" (the last 20% of a user's ratings, as a set)
    protocol: str = "leave_last_out"

    def __post_init__(self):
        # resolved here, so config.json states the widths (dataclasses.replace keeps them)
        self.mlp_hidden = ((2 * self.embed_dim,) if self.mlp_hidden is None
                           else tuple(self.mlp_hidden))
        checks = {
            "interest_num": self.interest_num >= 1, "embed_dim": self.embed_dim >= 1,
            "max_length": self.max_length >= 1, "routing_iters": self.routing_iters >= 1,
            "pow_p": self.pow_p >= 0, "temperature": self.temperature > 0,
            "neg_ratio": self.neg_ratio >= 1, "shared_negatives": self.shared_negatives >= 0,
            "loss": self.loss in ("sampled_softmax", "listwise"),
            "sample_method": self.sample_method in ("uniform", "popularity"),
            "protocol": self.protocol in ("leave_last_out", "future"),
            "epochs": self.epochs >= 1, "batch_size": self.batch_size >= 1,
            "mlp_hidden": all(isinstance(h, int) and h >= 1 for h in self.mlp_hidden),
            "interest_similarity": self.interest_similarity >= 0,
            "interest_balance": self.interest_balance >= 0,
            "hard_negative_beta": self.hard_negative_beta >= 0,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            shown = ", ".join(f"{k}={getattr(self, k)!r}" for k in bad)
            raise ValueError(f"MINDConfig: invalid {shown}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mlp_hidden"] = list(self.mlp_hidden)
        return d

    def identity(self) -> dict:
        """What names a trained model (its bundle folder's hash): every field that changes
        what is learned. ``device`` does not; a field added after bundles were first written
        is left out while it holds the value every earlier model implicitly had, so adding
        a field never renames (and so never retrains) the models already built."""
        return {k: v for k, v in self.to_dict().items()
                if k != "device" and not (k in LATER_FIELDS and v == LATER_FIELDS[k])}

    @classmethod
    def from_dict(cls, d: dict) -> MINDConfig:
        """A config from ``to_dict()`` output. A field added later that ``d`` lacks takes the
        value every model written before it had (``LATER_FIELDS``), not today's default."""
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"MINDConfig: unknown field(s) {sorted(unknown)}")
        return cls(**{**LATER_FIELDS, **d})


# Fields added after the first bundles, with the value older models had: see identity().
LATER_FIELDS: dict[str, object] = {
    "protocol": "leave_last_out",
    "interest_similarity": 0.0, "interest_balance": 0.0, "hard_negative_beta": 0.0,
    "equal_norms": False}

# The paper's model, without the two extensions above.
PAPER_FAITHFUL = {"recency": False, "candidate_attention": False}


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

SQUASH_EPS = 1e-9  # keeps √|z|² differentiable at a zero (inactive) capsule


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
        with torch.no_grad():  # the logit updates are not back-propagated through
            u_hat_fixed, keep_fixed = u_hat.detach(), keep.detach()
            for _ in range(self.iters - 1):
                w = torch.softmax(logits, dim=1).mul_(keep_fixed)  # (B, K, L)
                capsules = squash(torch.bmm(w, u_hat_fixed))  # (B, K, D)
                logits = torch.baddbmm(logits, capsules, u_hat_fixed.transpose(1, 2))  # (B, K, L)
        w = torch.softmax(logits, dim=1) * keep
        return _SquashedSum.apply(w, u_hat), w  # the last iteration: the only one with gradients


class _SquashedSum(torch.autograd.Function):
    """u = squash(w û) (Algorithm 1's last iteration: Eq. 7 applied to the weighted sum),
    w (B, K, L), û (B, L, D) -> (B, K, D), with its gradient written out.

    squash(z) = c(s) z with s = |z|² and c(s) = s / ((1 + s) √(s + ε)), so
    ∂u/∂z = c I + 2 c'(s) z zᵀ with c'(s) = (s + 2ε - s²) / (2 √(s + ε)³ (1 + s)²).
    Autograd records and replays about 20 tiny ops for this; written out, the backward is a
    handful of (B, K, 1)/(B, K, D) ops and two batched matmuls, the same gradient (checked
    against autograd in the tests)."""

    @staticmethod
    def forward(ctx, w, u_hat):
        z = torch.bmm(w, u_hat)  # (B, K, D)
        s = (z * z).sum(-1, keepdim=True)  # (B, K, 1)
        root = torch.sqrt(s + SQUASH_EPS)
        c = s / ((1.0 + s) * root)
        ctx.save_for_backward(w, u_hat, z, s, root, c)
        return z * c

    @staticmethod
    def backward(ctx, grad):
        w, u_hat, z, s, root, c = ctx.saved_tensors
        dc_ds = (s + 2 * SQUASH_EPS - s * s) / (2.0 * root ** 3 * (1.0 + s) ** 2)
        grad_z = grad * c + z * (2.0 * dc_ds * (z * grad).sum(-1, keepdim=True))  # (B, K, D)
        grad_w = torch.bmm(grad_z, u_hat.transpose(1, 2)) if ctx.needs_input_grad[0] else None
        grad_u = (torch.bmm(w.transpose(1, 2).contiguous(), grad_z)  # (B, L, D)
                  if ctx.needs_input_grad[1] else None)
        return grad_w, grad_u


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
    weights = torch.softmax((pow_p * scores).masked_fill(~active, -math.inf), dim=1)
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
    # inactive interests get -inf before the softmax; skipped when every interest is active
    bias = None if bool(active.all()) else torch.zeros(
        active.shape, dtype=dots.dtype, device=dots.device).masked_fill(~active, -math.inf)
    return _AttendedScore.apply(dots, None if bias is None else bias.unsqueeze(-1), pow_p)


class _AttendedScore(torch.autograd.Function):
    """s = Σ_k w_k d_k with w = softmax_k(p · d + bias), over dots d (B, K, C) -> (B, C).

    Written out because on the whole catalogue this runs on B·K·I values every step, and
    autograd's version makes about 14 passes over them; the closed-form gradient
    ∂s/∂d_k = w_k (1 + p (d_k - s)) needs 5 (measured: the default model's training step
    went from 26 to 17 ms)."""

    @staticmethod
    def forward(ctx, dots, bias, pow_p: float):
        z = dots * pow_p
        if bias is not None:
            z += bias
        weights = torch.softmax(z, dim=1)  # (B, K, C)
        score = (weights * dots).sum(1)  # (B, C)
        ctx.save_for_backward(weights, dots, score)
        ctx.pow_p = pow_p
        return score

    @staticmethod
    def backward(ctx, grad):
        weights, dots, score = ctx.saved_tensors
        g = dots - score.unsqueeze(1)
        g.mul_(ctx.pow_p).add_(1.0).mul_(weights).mul_(grad.unsqueeze(1))
        return g, None, None


# --- 6. Keeping interests distinct (extensions, not in the paper) ----------------------------
#
# ``equal_norms`` acts here, in the forward pass; the penalties that keep a user's interests
# apart are loss terms, in :mod:`mind_core.penalties` (with what we read before choosing them).

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
    """The user tower (history + profile -> K interests) and the item tower, as one module."""

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
        vectors (I|M, D) or (B, n, D)) for :mod:`mind_core.penalties`."""
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
    """A MIND sized for an encoded dataset (see :mod:`mind_core.encoding`)."""
    return MIND(config, n_items=encoded.n_items,
                item_genres=torch.as_tensor(encoded.item_genres),
                n_genres=len(encoded.genre_names),
                feature_vocab_sizes=[len(encoded.feature_vocab[f]) for f in encoded.feature_vocab])


__all__ = ["MINDConfig", "PAPER_FAITHFUL", "MIND", "build_model", "squash", "label_aware_attention",
           "candidate_aware_scores", "equalize_norms",
           "dynamic_interest_number", "B2IRouting", "ItemEmbedding", "InterestMLP"]
