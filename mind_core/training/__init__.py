"""Fitting a MIND: the loop with early stopping on validation HR@50 (``trainer``), the softmax
losses (``losses``), the penalties that keep interests apart (``penalties``) and DDP
(``distributed``)."""

from mind_core.training.trainer import Progress, TrainResult, fit, resolve_device

__all__ = ["fit", "TrainResult", "Progress", "resolve_device"]
