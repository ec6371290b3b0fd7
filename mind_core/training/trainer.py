"""Fitting MIND: Adam with weight decay, seeded shuffling and negatives, early stopping on the
protocol's validation headline (HR@50; Recall@50 on the future set) with the best weights
restored, and a plain progress callback.

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

from mind_core import protocols
from mind_core.config import MINDConfig
from mind_core.evaluation.ranking import evaluate_model
from mind_core.features.negatives import NegativeSampler
from mind_core.model.mind import MIND, build_model
from mind_core.training import distributed
from mind_core.training.losses import (
    check_finite,
    full_softmax_loss,
    listwise_loss,
    sampled_softmax_loss,
)
from mind_core.training.penalties import distinctness_penalty

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


class BatchSource:
    """Training batches cut from the split on demand: history windows (B, L), profile rows
    (B, F) and labels (B,), for sample indices ``idx``. Only the sequence, the positions and
    the per-user tables are held, so memory grows with the ratings, not with ratings x L
    (25M ratings at L = 20: 0.6 GB of tensors instead of 4 GB of windows plus 0.8 GB of
    per-sample profiles). The batches are the ones the whole window matrix would give."""

    def __init__(self, split, user_features: np.ndarray, device):
        self.L = split.max_length
        self.sequence = torch.as_tensor(split.sequence, device=device)  # (N,)
        self.positions = torch.as_tensor(split.train_positions, device=device)  # (S,)
        self.users = torch.as_tensor(split.train_users.astype(np.int64), device=device)  # (S,)
        self.starts = torch.as_tensor(split.offsets[:-1], device=device)  # (U,)
        self.features = torch.as_tensor(user_features, device=device)  # (U, F)
        self.steps_back = torch.arange(-self.L, 0, device=device)  # (L,)
        self.n = len(self.positions)

    def gather(self, idx: torch.Tensor):
        # index_select: whole-row copies, several times faster than advanced indexing
        pos = self.positions.index_select(0, idx)  # (B,)
        users = self.users.index_select(0, idx)  # (B,)
        window = pos.unsqueeze(1) + self.steps_back  # (B, L) positions of the history
        inside = window >= self.starts.index_select(0, users).unsqueeze(1)
        history = torch.where(inside, self.sequence[window.clamp_min(0)], 0)  # (B, L)
        return history, self.features.index_select(0, users), self.sequence.index_select(0, pos)


def fit(config: MINDConfig, encoded, split, progress: Progress | None = None,
        validate: Callable[[MIND], dict] | None = None) -> TrainResult:
    """Train a MIND on ``split``'s training samples; returns the best model by the validation
    headline. ``validate(model)`` gives the validation figures each epoch is read by (default:
    the protocol's figures of the full ranking, :func:`evaluate_model` on the validation set);
    the pipeline passes one that scores every merge, so the epoch kept is the best under the
    merge the model will serve with.

    The same seed gives the same model, bit for bit, at one thread or two: multithreaded
    scatter-adds (the backward of gathering behaviours from the item table) sum in a varying
    order, so deterministic algorithms are switched on for the duration of the fit, and the
    softmax over interests is computed by ops whose values do not follow the thread count
    (:func:`mind_core.model.autograd.softmax_over_interests`). Checked at one and two threads
    (tests/model/test_model.py); other thread counts split the matrix products elsewhere and
    are not promised."""
    previous = torch.are_deterministic_algorithms_enabled()
    previous_fill = torch.utils.deterministic.fill_uninitialized_memory
    torch.use_deterministic_algorithms(True)
    # Deterministic mode also fills every new uninitialised tensor with NaN, a debugging aid
    # that costs a pass over each op's output; nothing here reads memory it has not written.
    torch.utils.deterministic.fill_uninitialized_memory = False
    try:
        return _fit(config, encoded, split, progress, validate)
    finally:
        torch.use_deterministic_algorithms(previous)
        torch.utils.deterministic.fill_uninitialized_memory = previous_fill


def _fit(config: MINDConfig, encoded, split, progress: Progress | None,
         validate: Callable[[MIND], dict] | None) -> TrainResult:
    assert split.max_length == config.max_length, "split built for another max_length"
    device = resolve_device(config.device)
    rank, world = distributed.rank_and_world()  # (0, 1) unless torchrun started us
    if rank != 0:
        progress = None  # rank 0 reports for everyone
    torch.manual_seed(config.seed)
    model = build_model(config, encoded).to(device)
    # DDP averages the gradients over the ranks in backward (every parameter gets one in
    # every configuration, so no search for unused ones)
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate,
                                 weight_decay=config.weight_decay, fused=True)
    sampler = NegativeSampler(split.item_counts, config.sample_method, seed=config.seed + rank)
    log_q = torch.as_tensor(np.log(np.maximum(sampler.probabilities, 1e-12)),
                            dtype=torch.float32, device=device)
    batches = BatchSource(split, encoded.user_features, device)
    n = batches.n
    if n == 0:
        raise ValueError("no training samples: every user needs at least 2 interactions")
    gen = torch.Generator().manual_seed(config.seed)  # the same order on every rank
    # a global batch is split among the ranks, so each needs at least one sample of it
    steps = (n + config.batch_size - 1) // config.batch_size
    if world > 1 and n % config.batch_size and n % config.batch_size < world:
        steps -= 1  # the last, too small to share: dropped on every rank alike
    assert steps >= 1, f"{n} training samples cannot fill a batch on each of {world} ranks"
    result = TrainResult(model=model)
    penalised = config.interest_similarity > 0 or config.interest_balance > 0
    padding_column = torch.zeros(encoded.n_items, dtype=torch.bool, device=device)
    padding_column[0] = True  # the full-catalogue scores' column 0 is never a candidate
    best_hr, best_state, bad_epochs = -1.0, None, 0
    headline = protocols.get(split.protocol).HEADLINE  # HR@50, or Recall@50 on the future set
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
            idx = idx[rank::world]  # this rank's shard of the global batch
            history, features, labels = batches.gather(idx)
            beta, exclude = config.hard_negative_beta, None
            if config.loss == "listwise":
                out = net(history, features, labels, negatives_all.index_select(0, idx),
                            with_interests=penalised)
                loss = listwise_loss(out[0], out[1], config.temperature, beta)
            elif config.shared_negatives == 0:
                out = net(history, features, labels, with_interests=penalised)
                loss = full_softmax_loss(out[1], labels, config.temperature, beta)
                exclude = padding_column
            else:
                negatives = torch.as_tensor(sampler.draw(config.shared_negatives), device=device)
                out = net(history, features, labels, negatives, with_interests=penalised)
                loss = sampled_softmax_loss(out[0], out[1], labels, negatives, config.temperature,
                                            log_q=log_q, hard_negative_beta=beta)
            if penalised:  # mind_core.training.penalties: keeping a user's interests distinct
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
        # rank 0 validates; every rank takes its figures, so all stop at the same epoch
        valid = distributed.from_rank0(
            (validate(model) if validate else evaluate_model(model, encoded, split, "valid"))
            if rank == 0 else None)
        total = distributed.mean_over_ranks(total)
        row = {"epoch": epoch, "loss": total / steps, "seconds": time.perf_counter() - epoch_start,
               "samples_per_second": n / (time.perf_counter() - epoch_start),
               **{f"valid_{k}": v for k, v in valid.items()}}
        if penalised:  # the share of the loss that is the distinctness penalty
            row["penalty"] = distributed.mean_over_ranks(penalty_total) / steps
        result.history.append(row)
        if valid[headline] > best_hr:
            best_hr, result.best_epoch, bad_epochs = valid[headline], epoch, 0
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
    distributed.assert_same_weights(model)
    result.seconds = time.perf_counter() - start
    return result
