"""Training losses: softmax cross-entropies over a candidate set, on raw scores (inner
products) that are divided by ``temperature`` here.

- ``listwise_loss``: the tutorial's form, the positive and ``neg_ratio`` sampled negatives of its
  own (per-sample candidates).
- ``sampled_softmax_loss``: one set of negatives shared by the whole batch, with the log-Q
  correction (Bengio & Senécal 2008; Yi et al. 2019) subtracting log q(item) from every logit so
  that popularity-sampled negatives do not bias scores towards rare items. Negatives equal to a
  row's positive ("accidental hits") are masked out.
- ``full_softmax_loss``: every item of the catalogue is a candidate (cheap at MovieLens sizes).

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


def _first_is_target(logits):
    target = torch.zeros(len(logits), dtype=torch.long, device=logits.device)
    return _check(F.cross_entropy(logits, target))


def listwise_loss(pos, neg, temperature: float):
    """pos (B,) the label's score, neg (B, n) its own negatives' scores -> scalar."""
    return _first_is_target(torch.cat([pos.unsqueeze(1), neg], dim=1) / temperature)


def sampled_softmax_loss(pos, neg, labels, negatives, temperature: float, log_q=None):
    """pos (B,), neg (B, M) scores of negatives (M,) shared by the batch; labels (B,);
    log_q (I,) log sampling probability of each item, or None (uniform: a constant)."""
    logits = torch.cat([pos.unsqueeze(1), neg], dim=1) / temperature  # (B, 1+M)
    if log_q is not None:
        logits = logits - torch.cat([log_q[labels].unsqueeze(1),
                                     log_q[negatives].unsqueeze(0).expand(len(labels), -1)], 1)
    hit = torch.cat([torch.zeros_like(labels, dtype=torch.bool).unsqueeze(1),
                     negatives.unsqueeze(0) == labels.unsqueeze(1)], dim=1)
    return _first_is_target(logits.masked_fill(hit, -math.inf))


def full_softmax_loss(scores, labels, temperature: float):
    """scores (B, I) of every item (column 0 is padding and never a candidate)."""
    logits = scores / temperature
    logits[:, 0] = -math.inf
    return _check(F.cross_entropy(logits, labels))
