"""Loss terms that keep a user's interests distinct (MINDConfig ``interest_similarity`` and
``interest_balance``; extensions, not in the paper). ``equal_norms`` acts in the forward pass
instead (:func:`mind_core.model.equalize_norms`); REMI's interest-aware hard negatives are in
:mod:`mind_core.training.losses`.
"""

from __future__ import annotations

import math

import torch

from mind_core.config import MINDConfig
from mind_core.model.mind import gather_rows

# Routing collapse: on MovieLens a user's interests end up nearly parallel (mean cosine 0.71 at
# K=4) and one of them supplies about 95% of the merged top 50 (docs/results.md, "Interests that
# differ"). What we read before choosing (Tokkiu/REMI, src/REMI.py, src/evalution.py,
# src/BasicModel.py; THUDM/ComiRec, src/model.py):
#
# - REMI's routing regularization (RR, Xie et al., RecSys 2023, Eq. 11) penalises the variance,
#   over behaviours, of each row of ComiRec-SA's attention matrix A (B, K, L) (softmax over
#   behaviours): ``C = A - mean_L(A); ||diag(C Cᵀ) / D||²``, added with weight ``rlambda``.
#   It fixes a different collapse (one interest attending to a single item) and needs an
#   extractor whose weights are learned. Here the coupling weights sum to 1 over *interests*
#   and the routing logits are not back-propagated (model.py, section 2), so a penalty on them would
#   reach no parameter but the recency weights. We penalise the interests themselves instead.
# - REMI's interest-aware hard negatives (IHN) are in :mod:`mind_core.training.losses`.
# - ComiRec-SA's self-attentive extractor (``Model_ComiRec_SA``: A = softmax_L(W₂ tanh(W₁ H)))
#   replaces routing altogether; not implemented: it is a different model, not MIND.


def _unit(x: torch.Tensor) -> torch.Tensor:
    """Rows scaled to length 1; a zero row (an inactive interest) stays zero, gradient finite."""
    return x * torch.rsqrt((x * x).sum(-1, keepdim=True).clamp_min(1e-12))


def interest_similarity_penalty(interests, active):
    """Mean squared cosine between a user's active interests: interests (B, K, D), active
    (B, K) -> scalar in [0, 1], the mean over users with >= 2 active interests (0 if none).
    Squared, so the penalty pushes towards orthogonal interests, not opposite ones."""
    unit = _unit(interests)
    cos = torch.bmm(unit, unit.transpose(1, 2))  # (B, K, K)
    K = interests.shape[1]
    off_diagonal = ~torch.eye(K, dtype=torch.bool, device=interests.device)
    pairs = active.unsqueeze(2) & active.unsqueeze(1) & off_diagonal  # (B, K, K)
    n = pairs.sum((1, 2))  # (B,) ordered pairs
    per_user = (cos.square() * pairs).sum((1, 2)) / n.clamp(min=1)
    keep = n > 0
    return per_user[keep].mean() if bool(keep.any()) else interests.sum() * 0.0


def interest_balance_penalty(interests, active, candidates, scores, temperature: float,
                             exclude=None):
    """How far the items a user is likely to be shown are from being supplied confidently and
    evenly by different interests: 1 - I(item; interest) / log K'_u, averaged over users with
    K'_u >= 2 active interests (a scalar in [0, 1]; 0 if no such user).

    interests (B, K, D), active (B, K), candidates (C, D) shared or (B, C, D), scores (B, C) the
    training scores of the candidates, temperature T, exclude (C,) bool or None (e.g. padding).

    Which interest supplies candidate c: w_kc = softmax over active k of V_k · e_c / T (the
    loss's own scale; serving takes the argmax). Which candidates count: q_c = softmax_c(s_c / T),
    the model's predicted distribution, held fixed (detached), so only the interests' geometry
    moves. Then I(item; interest) = H(Σ_c q_c w_c) - Σ_c q_c H(w_c): log K'_u when each likely
    item has one owner and the owners split the mass evenly, 0 when one interest owns it all
    *or* when all interests are the same (w uniform), so unlike a plain balance term it cannot
    be met by collapsing the interests further."""
    if candidates.dim() == 2:
        dots = torch.einsum("bkd,cd->bkc", interests, candidates)  # (B, K, C)
    else:
        dots = torch.bmm(interests, candidates.transpose(1, 2))
    logits = (dots / temperature).masked_fill(~active.unsqueeze(-1), -math.inf)
    # inactive interests: w = 0 and log w set to 0, so w log w is 0 with a finite gradient
    log_w = torch.log_softmax(logits, dim=1).masked_fill(~active.unsqueeze(-1), 0.0)  # (B, K, C)
    w = torch.softmax(logits, dim=1)
    q_logits = scores.detach() / temperature
    if exclude is not None:
        q_logits = q_logits.masked_fill(exclude, -math.inf)
    q = torch.softmax(q_logits, dim=1)  # (B, C)
    share = torch.einsum("bkc,bc->bk", w, q)  # (B, K) mass each interest supplies
    h_share = -(share * torch.log(share.clamp_min(1e-12))).sum(1)  # (B,)
    h_owner = -((w * log_w).sum(1) * q).sum(1)  # (B,) expected entropy of the owner
    k = active.sum(1)
    keep = k >= 2
    if not bool(keep.any()):
        return interests.sum() * 0.0
    mi = (h_share - h_owner) / torch.log(k.clamp(min=2).to(dots.dtype))
    return (1.0 - mi)[keep].mean()


BALANCE_TOP = 50  # the balance penalty looks at each user's top 50 candidates, as served


def distinctness_penalty(config: MINDConfig, interests, active, candidates, scores, exclude=None):
    """The weighted sum of the penalties ``config`` switches on (a scalar; 0 when all are off).
    Arguments as for :func:`interest_balance_penalty`. The balance penalty is computed on each
    row's ``BALANCE_TOP`` best-scored candidates (the list a user is shown, and nearly all of
    q's mass): on the whole catalogue it doubled the training step, on the top 50 it adds
    little."""
    total = interests.new_zeros(())
    if config.interest_similarity > 0:
        total = total + config.interest_similarity * interest_similarity_penalty(interests, active)
    if config.interest_balance > 0:
        if scores.shape[1] > BALANCE_TOP:
            ranked = scores.detach()
            if exclude is not None:
                ranked = ranked.masked_fill(exclude, -math.inf)
            top = torch.topk(ranked, BALANCE_TOP, dim=1).indices  # (B, N)
            candidates = (gather_rows(candidates, top) if candidates.dim() == 2
                          else torch.gather(candidates, 1, top.unsqueeze(-1).expand(
                              -1, -1, candidates.shape[-1])))  # (B, N, D)
            scores, exclude = scores.gather(1, top), None
        total = total + config.interest_balance * interest_balance_penalty(
            interests, active, candidates, scores, config.temperature, exclude)
    return total


__all__ = ["distinctness_penalty", "interest_balance_penalty", "interest_similarity_penalty",
           "BALANCE_TOP"]
