"""What a resumable checkpoint holds besides the weights: the trainer's random generator and the
optimiser, as JSON metadata plus tensors (the checkpoint format itself is :mod:`.checkpoint`'s)."""

from __future__ import annotations

import torch

__all__ = ["generator_state", "restore_generator", "optimizer_to_tensors", "optimizer_from_tensors"]


def generator_state(gen: torch.Generator) -> tuple[dict, dict[str, torch.Tensor]]:
    return {"generator_device": str(gen.device)}, {"generator": gen.get_state()}


def restore_generator(gen: torch.Generator, tensors: dict[str, torch.Tensor]) -> None:
    """Set ``gen`` to the saved state. Checkpoints written before the trainer had its own generator hold the
    global CPU state (``torch_cpu``), which is the same Mersenne-Twister state layout."""
    state = tensors.get("generator", tensors.get("torch_cpu"))
    if state is not None:
        gen.set_state(state)


def optimizer_to_tensors(opt: torch.optim.Optimizer) -> tuple[dict, dict[str, torch.Tensor]]:
    sd = opt.state_dict()
    tensors, state_meta = {}, {}
    for pid, st in sd["state"].items():
        entry = {}
        for k, v in st.items():
            if isinstance(v, torch.Tensor):
                tensors[f"{pid}.{k}"] = v
                entry[k] = "tensor"
            else:
                entry[k] = v
        state_meta[str(pid)] = entry
    return {"param_groups": sd["param_groups"], "state": state_meta}, tensors


def optimizer_from_tensors(meta: dict, tensors: dict[str, torch.Tensor]) -> dict:
    state = {}
    for pid, entry in meta["state"].items():
        state[int(pid)] = {k: (tensors[f"{pid}.{k}"] if v == "tensor" else v) for k, v in entry.items()}
    return {"param_groups": meta["param_groups"], "state": state}
