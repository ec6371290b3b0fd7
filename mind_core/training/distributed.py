"""Data-parallel training: DDP across processes, launched by torchrun (``torch.distributed.run``).

``mind-core train ... --nproc N`` re-runs the same command as N local worker processes through
torchrun (``--standalone``: the rendezvous is a free port on this machine). Each worker sees
``WORLD_SIZE`` and ``RANK`` in its environment, joins the process group (gloo on CPU, nccl when
the model is on a GPU) and calls the ordinary :func:`mind_core.training.trainer.fit`, which then:

- wraps the model in ``DistributedDataParallel`` (gradients averaged over the ranks after
  every backward, so every rank takes the same optimizer step);
- splits every global batch of ``batch_size`` samples among the ranks (rank r takes every
  W-th sample of it), so an epoch has the same steps and the same samples per step as one
  process, and each rank's shard of the epoch is 1/W of it;
- draws shared or list-wise negatives with seed ``seed + rank`` (each rank its own);
- validates on rank 0 only and broadcasts the figures, so every rank makes the same
  early-stopping decision; rank 0 alone writes the bundle.

Across machines, start the same command on every node with torchrun directly (``mind-core``'s
module is the entry point, and the dataset must be at the same path on every node)::

    torchrun --nnodes 2 --node-rank R --nproc-per-node 4 \\
        --rdzv-backend c10d --rdzv-endpoint HOST0:29500 \\
        -m mind_core.cli train --dataset ml-1m --out /shared/ml1m-k4

Tested here: two processes on one machine, gloo over loopback. Not tested here: several
machines, nccl, GPUs.
"""

from __future__ import annotations

import os
import sys

import torch
import torch.distributed as dist


def under_launcher() -> bool:
    """True inside a worker that torchrun started with more than one process in the world."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def launch(argv: list[str], nproc: int) -> None:
    """Run ``mind-core`` with ``argv`` as ``nproc`` local DDP workers, through torchrun. If a
    worker fails, torchrun stops the others and this exits with status 1 (the worker's error
    is printed above)."""
    # the launcher loads torch.distributed.elastic: only the command that starts workers needs it
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError  # see above
    from torch.distributed.run import main as torchrun  # see above

    try:
        torchrun(["--standalone", f"--nproc-per-node={nproc}", "-m", "mind_core.cli",
                  *without_nproc(argv)])
    except ChildFailedError as e:
        rank, failure = e.get_first_failure()
        print(f"error: training worker {rank} failed (exit code {failure.exitcode}; its own "
              f"error is printed above)", file=sys.stderr)
        raise SystemExit(1) from None


def without_nproc(argv: list[str]) -> list[str]:
    """``argv`` minus ``--nproc N``: the workers know their world from torchrun, and torchrun's
    own parser would take ``--nproc`` for an abbreviation of its ``--nproc-per-node``."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def init(device: torch.device) -> None:
    """Join the process group torchrun set up (environment rendezvous)."""
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")


def finish() -> None:
    """Leave the process group once every rank is done (rank 0 writes the bundle while the
    others wait: a rank tearing its connections down while a peer still holds them can abort
    the process)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of this process: (0, 1) outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _collective_device() -> torch.device:
    """nccl exchanges GPU tensors, gloo CPU ones."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def from_rank0(obj):
    """``obj`` as rank 0 holds it, on every rank (identity outside a process group)."""
    if rank_and_world()[1] == 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def mean_over_ranks(value: float) -> float:
    _, world = rank_and_world()
    if world == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=_collective_device())
    dist.all_reduce(t)
    return float(t.item()) / world


def assert_same_weights(model: torch.nn.Module) -> None:
    """Invariant of data-parallel training: every rank ends with the same weights, bit for bit
    (the same initial weights, the same averaged gradients, the same optimizer)."""
    _, world = rank_and_world()
    if world == 1:
        return
    mine = torch.stack([p.detach().double().sum() for p in model.parameters()])
    mine = mine.to(_collective_device())
    every = [torch.empty_like(mine) for _ in range(world)]
    dist.all_gather(every, mine)
    assert all(torch.equal(mine, other) for other in every), "ranks hold different weights"
