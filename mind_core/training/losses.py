"""Training losses: softmax cross-entropies over a candidate set, on raw scores (inner
products) that are divided by ``temperature`` here.

- ``listwise_loss``: the tutorial's form, the positive and ``neg_ratio`` sampled negatives of its
  own (per-sample candidates).
- ``sampled_softmax_loss``: one set of negatives shared by the whole batch, with the log-Q
  correction (Bengio & Senécal 2008; Yi et al. 2019) subtracting log q(item) from every logit so
  that popularity-sampled negatives do not bias scores towards rare items. Negatives equal to a
  row's positive ("accidental hits") are masked out.
- ``full_softmax_loss``: every item of the catalogue is a candidate (cheap at MovieLens sizes).

Each takes ``hard_negative_beta`` (β, default 0 = the plain softmax): REMI's interest-aware hard
negatives (IHN; Xie et al., RecSys 2023, Sec. 4.1; Tokkiu/REMI, ``src/BasicModel.py``,
``NCELoss.sampled_softmax_loss``). The negatives' sum in the softmax's denominator is
reweighted towards the hard ones, negative j weighing w_j = exp(β x_j) / mean_n exp(β x_n)
(x the logits, so the weights average 1): -log(e^{x⁺} / (e^{x⁺} + Σ_j w_j e^{x_j})). With
candidate attention every candidate's score is its own mix of interests, so a hard negative
is one that some interest of the user likes: the interest-aware part.

A non-finite loss raises at once: training that diverged should stop, not save NaN weights.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _check(loss: torch.Tensor) -> torch.Tensor:
    if not torch.isfinite(loss):
        raise FloatingPointError(f"loss is {loss.item()}: training diverged (lower the learning "
                                 "rate or raise the temperature)")
    return loss


def check_finite(loss: torch.Tensor) -> torch.Tensor:
    """``loss`` itself, or FloatingPointError if it is NaN or infinite."""
    return _check(loss)


def _hard_negative_ce(logits, target, beta: float):
    """REMI's IHN cross-entropy. logits (B, C), -inf where an entry is not a candidate;
    target (B,) the positive's column; beta > 0 -> scalar (mean over rows)."""
    rows = torch.arange(len(logits), device=logits.device)
    pos = logits[rows, target]  # (B,)
    neg = logits.index_put((rows, target), logits.new_tensor(-math.inf))
    n = torch.isfinite(neg).sum(1).clamp(min=1)  # (B,) negatives per row
    log_mean_w = torch.logsumexp(beta * neg, dim=1) - torch.log(n.to(logits.dtype))
    log_negatives = torch.logsumexp((1.0 + beta) * neg, dim=1) - log_mean_w  # log Σ w_j e^{x_j}
    return _check((torch.logaddexp(pos, log_negatives) - pos).mean())


def _first_is_target(logits, beta: float = 0.0):
    target = torch.zeros(len(logits), dtype=torch.long, device=logits.device)
    if beta > 0:
        return _hard_negative_ce(logits, target, beta)
    return _check(F.cross_entropy(logits, target))


def listwise_loss(pos, neg, temperature: float, hard_negative_beta: float = 0.0):
    """pos (B,) the label's score, neg (B, n) its own negatives' scores -> scalar."""
    return _first_is_target(torch.cat([pos.unsqueeze(1), neg], dim=1) / temperature,
                            hard_negative_beta)


def sampled_softmax_loss(pos, neg, labels, negatives, temperature: float, log_q=None,
                         hard_negative_beta: float = 0.0):
    """pos (B,), neg (B, M) scores of negatives (M,) shared by the batch; labels (B,);
    log_q (I,) log sampling probability of each item, or None (uniform: a constant)."""
    logits = torch.cat([pos.unsqueeze(1), neg], dim=1) / temperature  # (B, 1+M)
    if log_q is not None:
        logits = logits - torch.cat([log_q[labels].unsqueeze(1),
                                     log_q[negatives].unsqueeze(0).expand(len(labels), -1)], 1)
    hit = torch.cat([torch.zeros_like(labels, dtype=torch.bool).unsqueeze(1),
                     negatives.unsqueeze(0) == labels.unsqueeze(1)], dim=1)
    return _first_is_target(logits.masked_fill(hit, -math.inf), hard_negative_beta)


def full_softmax_loss(scores, labels, temperature: float, hard_negative_beta: float = 0.0):
    """scores (B, I) of every item (column 0 is padding and never a candidate)."""
    logits = scores / temperature
    logits[:, 0] = -math.inf
    if hard_negative_beta > 0:
        return _hard_negative_ce(logits, labels, hard_negative_beta)
    return _check(F.cross_entropy(logits, labels))
