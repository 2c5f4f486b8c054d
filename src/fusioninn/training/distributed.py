"""Data-parallel helpers for the trainer (torchrun / ``torch.distributed``): a no-op in one process.

Gradients are averaged with one flat all-reduce; latents are gathered (detached) so the MMD sees the
global batch; decisions that depend on wall-clock time are broadcast from rank 0 so every rank takes the
same branch.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

__all__ = ["init", "all_gather_detached", "average_gradients", "average_parts", "all_reduce_sum", "broadcast_flag",
           "barrier", "close"]


def init(device: str) -> tuple[int, int]:
    """Join the process group torchrun describes (WORLD_SIZE > 1); return (rank, world size)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        use_cuda = device != "cpu" and torch.cuda.is_available()
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return dist.get_rank(), dist.get_world_size()


def all_gather_detached(t: torch.Tensor) -> list[torch.Tensor]:
    """Every rank's ``t`` (detached), in rank order; the ranks' batch sizes may differ."""
    shapes = [torch.zeros(1, dtype=torch.long, device=t.device) for _ in range(dist.get_world_size())]
    dist.all_gather(shapes, torch.tensor([t.shape[0]], device=t.device))
    width = max(int(s) for s in shapes)
    padded = torch.zeros(width, *t.shape[1:], dtype=t.dtype, device=t.device)
    padded[: t.shape[0]] = t.detach()
    out = [torch.empty_like(padded) for _ in shapes]
    dist.all_gather(out, padded)
    return [o[: int(s)] for o, s in zip(out, shapes, strict=True)]


def average_gradients(model: torch.nn.Module, world: int) -> None:
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def average_parts(parts: dict, share: float, device: torch.device) -> dict:
    """Loss parts weighted by this rank's share of the global batch, summed over the ranks."""
    keys = sorted(parts)
    t = torch.tensor([float(parts[k]) * share for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return dict(zip(keys, t.tolist(), strict=True))


def all_reduce_sum(t: torch.Tensor, world: int) -> torch.Tensor:
    if world > 1:
        dist.all_reduce(t)
    return t


def broadcast_flag(flag: bool, world: int) -> bool:
    """Rank 0's ``flag`` on every rank."""
    t = torch.tensor([1 if flag else 0])
    if world > 1:
        dist.broadcast(t, 0)
    return bool(t.item())


def barrier(world: int) -> None:
    if world > 1:
        dist.barrier()


def close(world: int, clean: bool = True) -> None:
    """Leave the process group. Without this, gloo's threads are torn down at interpreter exit while a
    peer may still be talking to them, which can abort the process."""
    if world > 1 and dist.is_initialized():
        if clean:
            dist.barrier()
        dist.destroy_process_group()
