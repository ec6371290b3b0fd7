"""Fitting MIND: Adam with weight decay, seeded shuffling and negatives, early stopping on
validation HR@50 with the best weights restored, and a plain progress callback.

The estimator is kept apart from the model (spotlight's split): ``model.py`` holds pure
``nn.Module`` code, this module the loop, ``losses.py`` the objectives, ``sampling.py`` the
negatives.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from .evaluate import evaluate_model
from .losses import check_finite, full_softmax_loss, listwise_loss, sampled_softmax_loss
from .model import MIND, MINDConfig, build_model, distinctness_penalty
from .sampling import NegativeSampler

# progress(event, info): event is "batch" (info: epoch, step, steps, loss) or "epoch"
# (info: epoch, loss, valid metrics, seconds, best_epoch). Return value ignored.
Progress = Callable[[str, dict], None]


@dataclass
class TrainResult:
    model: MIND
    history: list[dict] = field(default_factory=list)  # one row per epoch
    best_epoch: int = 0
    seconds: float = 0.0
    stopped_early: bool = False


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def fit(config: MINDConfig, encoded, split, progress: Progress | None = None) -> TrainResult:
    """Train a MIND on ``split``'s training samples; returns the best model by validation HR@50.

    The same seed and thread count give the same model, bit for bit: multithreaded
    scatter-adds (the backward of gathering behaviours from the item table) sum in a varying
    order, so deterministic algorithms are switched on for the duration of the fit. Across
    thread counts the matrix products may sum in another order: one epoch of the default model
    at 1 and at 2 threads gave slightly different weights (their sums differ in the 10th
    significant digit)."""
    previous = torch.are_deterministic_algorithms_enabled()
    previous_fill = torch.utils.deterministic.fill_uninitialized_memory
    torch.use_deterministic_algorithms(True)
    # Deterministic mode also fills every new uninitialised tensor with NaN, a debugging aid
    # that costs a pass over each op's output; nothing here reads memory it has not written.
    torch.utils.deterministic.fill_uninitialized_memory = False
    try:
        return _fit(config, encoded, split, progress)
    finally:
        torch.use_deterministic_algorithms(previous)
        torch.utils.deterministic.fill_uninitialized_memory = previous_fill


def _fit(config: MINDConfig, encoded, split, progress: Progress | None) -> TrainResult:
    assert split.max_length == config.max_length, "split built for another max_length"
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    model = build_model(config, encoded).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate,
                                 weight_decay=config.weight_decay, fused=True)
    sampler = NegativeSampler(split.item_counts, config.sample_method, seed=config.seed)
    log_q = torch.as_tensor(np.log(np.maximum(sampler.probabilities, 1e-12)),
                            dtype=torch.float32, device=device)
    history_all = torch.as_tensor(split.train_history, device=device)
    labels_all = torch.as_tensor(split.train_labels, device=device)
    features_all = torch.as_tensor(encoded.user_features[split.train_users], device=device)
    n = len(labels_all)
    if n == 0:
        raise ValueError("no training samples: every user needs at least 2 interactions")
    gen = torch.Generator().manual_seed(config.seed)
    steps = (n + config.batch_size - 1) // config.batch_size
    result = TrainResult(model=model)
    penalised = config.interest_similarity > 0 or config.interest_balance > 0
    padding_column = torch.zeros(encoded.n_items, dtype=torch.bool, device=device)
    padding_column[0] = True  # the full-catalogue scores' column 0 is never a candidate
    best_hr, best_state, bad_epochs = -1.0, None, 0
    start = time.perf_counter()

    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(n, generator=gen).to(device)
        if config.loss == "listwise":  # fresh negatives every epoch, seeded
            negatives_all = torch.as_tensor(
                sampler.sample(split.train_labels, config.neg_ratio), device=device)
        total, penalty_total, epoch_start = 0.0, 0.0, time.perf_counter()
        for step in range(steps):
            idx = order[step * config.batch_size:(step + 1) * config.batch_size]
            # index_select: whole-row copies, several times faster than advanced indexing
            labels = labels_all.index_select(0, idx)
            history, features = history_all.index_select(0, idx), features_all.index_select(0, idx)
            beta, exclude = config.hard_negative_beta, None
            if config.loss == "listwise":
                out = model(history, features, labels, negatives_all.index_select(0, idx),
                            with_interests=penalised)
                loss = listwise_loss(out[0], out[1], config.temperature, beta)
            elif config.shared_negatives == 0:
                out = model(history, features, labels, with_interests=penalised)
                loss = full_softmax_loss(out[1], labels, config.temperature, beta)
                exclude = padding_column
            else:
                negatives = torch.as_tensor(sampler.draw(config.shared_negatives), device=device)
                out = model(history, features, labels, negatives, with_interests=penalised)
                loss = sampled_softmax_loss(out[0], out[1], labels, negatives, config.temperature,
                                            log_q=log_q, hard_negative_beta=beta)
            if penalised:  # section 6 of the model: keeping a user's interests distinct
                interests, active, cands = out[2]
                penalty = distinctness_penalty(config, interests, active, cands, out[1], exclude)
                loss = check_finite(loss + penalty)
                penalty_total += penalty.item()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item()
            if progress:
                progress("batch", {"epoch": epoch, "step": step + 1, "steps": steps,
                                   "loss": total / (step + 1)})
        valid = evaluate_model(model, encoded, split, which="valid")
        row = {"epoch": epoch, "loss": total / steps, "seconds": time.perf_counter() - epoch_start,
               "samples_per_second": n / (time.perf_counter() - epoch_start),
               **{f"valid_{k}": v for k, v in valid.items()}}
        if penalised:  # the share of the loss that is the distinctness penalty
            row["penalty"] = penalty_total / steps
        result.history.append(row)
        if valid["HR@50"] > best_hr:
            best_hr, result.best_epoch, bad_epochs = valid["HR@50"], epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            bad_epochs += 1
        if progress:
            progress("epoch", {**row, "best_epoch": result.best_epoch})
        if bad_epochs >= config.patience:
            result.stopped_early = True
            break

    model.load_state_dict(best_state)
    model.eval()
    result.seconds = time.perf_counter() - start
    return result
