"""Training losses. Both are softmax cross-entropies over a candidate set with the positive
first, logits divided by ``temperature``.

- ``listwise_loss``: the tutorial's form, the positive and ``neg_ratio`` sampled negatives of its
  own (per-sample candidates).
- ``sampled_softmax_loss``: one set of negatives shared by the whole batch (or the whole
  catalogue), with the log-Q correction (Bengio & Senécal; Yi et al. 2019) subtracting log q(item)
  from every logit so that popularity-sampled negatives do not bias scores towards rare items.
  Negatives equal to a row's positive ("accidental hits") are masked out.
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


def listwise_loss(user, table, labels, negatives, temperature: float):
    """user (B, D), table (I, D), labels (B,), negatives (B, n) -> scalar."""
    candidates = torch.cat([labels.unsqueeze(1), negatives], dim=1)  # (B, 1+n)
    logits = torch.einsum("bd,bnd->bn", user, table[candidates]) / temperature
    target = torch.zeros(len(labels), dtype=torch.long, device=user.device)
    return _check(F.cross_entropy(logits, target))


def sampled_softmax_loss(user, table, labels, negatives, temperature: float, log_q=None):
    """user (B, D), table (I, D), labels (B,), negatives (M,) shared by the batch, or None for
    the whole catalogue; log_q (I,) log sampling probability of each item, or None."""
    if negatives is None:  # full softmax: every item is a candidate, padding excluded
        logits = user @ table.T / temperature  # (B, I)
        logits[:, 0] = -math.inf
        return _check(F.cross_entropy(logits, labels))
    pos = (user * table[labels]).sum(-1, keepdim=True)  # (B, 1)
    neg = user @ table[negatives].T  # (B, M)
    logits = torch.cat([pos, neg], dim=1) / temperature
    if log_q is not None:
        logits = logits - torch.cat([log_q[labels].unsqueeze(1),
                                     log_q[negatives].unsqueeze(0).expand(len(labels), -1)], 1)
    hit = negatives.unsqueeze(0) == labels.unsqueeze(1)  # (B, M)
    logits[:, 1:] = logits[:, 1:].masked_fill(hit, -math.inf)
    target = torch.zeros(len(labels), dtype=torch.long, device=user.device)
    return _check(F.cross_entropy(logits, target))
