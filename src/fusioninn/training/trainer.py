"""One trainer for FusionINN and the CNN baselines.

Epoch-level bookkeeping (``metrics.jsonl``, loss-curve PNG, ``last.safetensors`` and ``best.safetensors``)
with mid-epoch checkpoints every ``checkpoint_minutes``. The data order and crops of an epoch come from a
generator seeded by (seed, epoch), and the global RNG states are stored in every checkpoint, so
``resume`` continues a killed run exactly where its last checkpoint left it.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_path, atomic_write_text, ensure_writable_dir
from ..device import configure_threads, resolve_device
from ..errors import CheckpointError, UserInputError
from ..losses.fusion import FusionINNLoss, decomposition_loss, fusion_loss
from ..metrics.ssim import ssim
from ..models.factory import build_model, model_from_checkpoint
from ..models.fusioninn import FusionINN
from .checkpoint import CheckpointData, load_checkpoint, save_checkpoint
from .config import TrainConfig

__all__ = ["Trainer", "TrainResult", "build_model", "model_from_checkpoint"]


def _init_distributed(device: str) -> tuple[int, int]:
    """Join the process group torchrun describes (WORLD_SIZE > 1); return (rank, world size)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        use_cuda = device != "cpu" and torch.cuda.is_available()
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return dist.get_rank(), dist.get_world_size()


def _all_gather_detached(t: torch.Tensor) -> list[torch.Tensor]:
    import torch.distributed as dist

    shapes = [torch.zeros(1, dtype=torch.long, device=t.device) for _ in range(dist.get_world_size())]
    dist.all_gather(shapes, torch.tensor([t.shape[0]], device=t.device))
    width = max(int(s) for s in shapes)
    padded = torch.zeros(width, *t.shape[1:], dtype=t.dtype, device=t.device)
    padded[: t.shape[0]] = t.detach()
    out = [torch.empty_like(padded) for _ in shapes]
    dist.all_gather(out, padded)
    return [o[: int(s)] for o, s in zip(out, shapes, strict=True)]


def _average_gradients(model: torch.nn.Module, world: int) -> None:
    import torch.distributed as dist

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


def _average_parts(parts: dict, share: float, device: torch.device) -> dict:
    import torch.distributed as dist

    keys = sorted(parts)
    t = torch.tensor([float(parts[k]) * share for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return dict(zip(keys, t.tolist(), strict=True))


def _broadcast_flag(flag: bool, world: int) -> bool:
    if world <= 1:
        return flag
    import torch.distributed as dist

    t = torch.tensor([1 if flag else 0])
    dist.broadcast(t, 0)
    return bool(t.item())


@dataclass
class TrainResult:
    run_dir: Path
    epochs_done: int
    steps: int
    minutes: float
    stopped: str
    last_metrics: dict


def _rng_state() -> tuple[dict, dict[str, torch.Tensor]]:
    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"torch_cuda_{i}"] = s
    np_state = np.random.get_state()
    meta = {
        "numpy": [np_state[0], np_state[1].tolist(), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python": _jsonable(random.getstate()),
    }
    return meta, tensors


def _jsonable(obj):
    if isinstance(obj, tuple):
        return [_jsonable(o) for o in obj]
    return obj


def _tupled(obj):
    if isinstance(obj, list):
        return tuple(_tupled(o) for o in obj)
    return obj


def _set_rng_state(meta: dict, tensors: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(tensors["torch_cpu"])
    if torch.cuda.is_available():
        states = [tensors[k] for k in sorted(tensors) if k.startswith("torch_cuda_")]
        if len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states)
    n = meta["numpy"]
    np.random.set_state((n[0], np.array(n[1], dtype=np.uint32), n[2], n[3], n[4]))
    random.setstate(_tupled(meta["python"]))


def _optimizer_to_tensors(opt: torch.optim.Optimizer) -> tuple[dict, dict[str, torch.Tensor]]:
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


def _optimizer_from_tensors(meta: dict, tensors: dict[str, torch.Tensor]) -> dict:
    state = {}
    for pid, entry in meta["state"].items():
        state[int(pid)] = {k: (tensors[f"{pid}.{k}"] if v == "tensor" else v) for k, v in entry.items()}
    return {"param_groups": meta["param_groups"], "state": state}


def _history_sha256(records) -> str:
    import hashlib

    return hashlib.sha256("".join(json.dumps(h, sort_keys=True) + "\n" for h in records).encode()).hexdigest()


def _shown(value) -> str:
    return repr(value) if not isinstance(value, dict) else json.dumps(value, sort_keys=True)


class Trainer:
    """Train ``config.model`` on ``train_images`` (N, 2, H, W) float32 in [0, 1]; validate on ``val_images``."""

    def __init__(
        self,
        config: TrainConfig,
        train_images: np.ndarray | torch.Tensor,
        val_images: np.ndarray | torch.Tensor,
        run_dir: str | Path,
        progress: bool = True,
        data_info: dict | None = None,
    ) -> None:
        self.config = config
        self.run_dir = ensure_writable_dir(run_dir)
        self.progress = progress
        self.data_info = data_info or {}
        self.train = torch.as_tensor(np.asarray(train_images), dtype=torch.float32)
        self.val = torch.as_tensor(np.asarray(val_images), dtype=torch.float32)
        for name, t in (("training", self.train), ("validation", self.val)):
            if t.ndim != 4 or t.shape[1] != 2 or len(t) == 0:
                raise UserInputError(f"{name} set must be a non-empty (N, 2, H, W) array, got {tuple(t.shape)}")
            if not torch.isfinite(t).all():
                raise UserInputError(f"{name} set contains NaN or Inf")
        if config.val_max_images and len(self.val) > config.val_max_images:
            idx = torch.linspace(0, len(self.val) - 1, config.val_max_images).round().long()
            self.val = self.val[idx]
        self.rank, self.world = _init_distributed(config.device)
        configure_threads(config.threads)
        self.device = resolve_device(config.device)
        if self.world > 1 and self.device.type == "cuda":
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        if self.device.type == "cpu":
            from ..device import tune_cpu_allocator

            # reuse activation memory between steps (docs/performance.md); not with --memory-saving, whose
            # point is a low peak: the kept heap would eat most of what recomputation saves. Set either way:
            # the command line tunes the allocator for every command before the trainer exists.
            tune_cpu_allocator(not config.memory_saving)
        torch.manual_seed(config.seed)
        np.random.seed(config.seed)
        random.seed(config.seed)
        self.model = build_model(config.model, config.recipe).to(self.device)
        self.is_inn = isinstance(self.model, FusionINN)
        if self.is_inn:
            self.model.options.memory_saving = config.memory_saving
            n0 = min(len(self.train), 64)
            self.model.initialise_actnorm(self.train[:n0].to(self.device))
        self.loss_fn = FusionINNLoss(config.loss)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode="min", factor=config.plateau_factor, patience=config.plateau_patience
        )
        self.epoch = 0  # completed epochs
        self.step_in_epoch = 0
        self.global_step = 0
        self.minutes_before = 0.0
        self.best_val = math.inf
        self.history: list[dict] = []
        self._epoch_sums: dict[str, float] = {}

    def _load_init_weights(self, path: str) -> None:
        """Fine-tuning: copy the weights of a checkpoint or model file of the same architecture."""
        data = load_checkpoint(path)  # verifies the weights against the checksum the file carries
        init = model_from_checkpoint(data, path)
        same = type(init) is type(self.model) and (not self.is_inn or init.config == self.model.config)
        if not same:
            raise UserInputError(f"{path}: weights of another architecture or configuration than "
                                 f"--model {self.config.model} with the {self.config.recipe} recipe")
        self.model.load_state_dict(init.state_dict())
        # the path may be overwritten later (e.g. re-packaged weights); the checksum identifies the start
        self.data_info = {**self.data_info, "init_weights": {"path": str(path),
                                                             "weights_sha256": data.meta["weights_sha256"]}}
        self.model.train()

    # ------------------------------------------------------------------------------------------
    @property
    def steps_per_epoch(self) -> int:
        return max(1, math.ceil(len(self.train) / self.config.batch_size))

    def _epoch_plan(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Order of the training images and crop offsets for one epoch, from (seed, epoch) alone."""
        g = torch.Generator().manual_seed(self.config.seed * 1_000_003 + epoch)
        order = torch.randperm(len(self.train), generator=g)
        h, w = self.train.shape[2:]
        crop = self.config.crop
        if crop is None or crop >= min(h, w):
            offsets = torch.zeros(self.steps_per_epoch, 3, dtype=torch.long)
        else:
            oy = torch.randint(0, (h - crop) // 2 + 1, (self.steps_per_epoch,), generator=g) * 2
            ox = torch.randint(0, (w - crop) // 2 + 1, (self.steps_per_epoch,), generator=g) * 2
            flip = torch.randint(0, 2, (self.steps_per_epoch,), generator=g)
            offsets = torch.stack([oy, ox, flip], 1)
        return order, offsets

    def _batch(self, order: torch.Tensor, offsets: torch.Tensor, k: int) -> torch.Tensor:
        bs = self.config.batch_size
        idx = order[k * bs : (k + 1) * bs]
        x = self.train[idx]
        crop = self.config.crop
        if crop is not None and crop < min(x.shape[2:]):
            oy, ox, flip = (int(v) for v in offsets[k])
            x = x[:, :, oy : oy + crop, ox : ox + crop]
            if flip:
                x = x.flip(-1)
        return x.to(self.device)

    def _lr_factor(self) -> float:
        w = self.config.warmup_steps
        return min(1.0, (self.global_step + 1) / w) if w else 1.0

    def _shard(self, n: int) -> tuple[int, int]:
        """This rank's slice [lo, hi) of a global batch of n."""
        lo = n * self.rank // self.world
        return lo, n * (self.rank + 1) // self.world

    def _train_step(self, x: torch.Tensor) -> dict:
        base_lrs = [g["lr"] for g in self.optimizer.param_groups]
        factor = self._lr_factor()
        for g in self.optimizer.param_groups:
            g["lr"] = g["lr"] * factor
        n_global = x.shape[0]
        lo, hi = self._shard(n_global)
        data_scale = (hi - lo) * self.world / n_global
        if self.is_inn:
            h, w = x.shape[2:]
            # the global batch's noise, drawn identically on every rank (same RNG state), then sliced:
            # a data-parallel run sees exactly the noise of a single-process run
            z_fresh = torch.randn(n_global, 1, h, w, device=self.device)
            z_target = torch.randn(n_global, h * w, device=self.device)
            noise = None
            if self.config.fused_noise:
                noise = (torch.rand(n_global, 1, h, w, device=self.device) - 0.5) * self.config.fused_noise
                noise = noise[lo:hi]
            xl = x[lo:hi]
            fused, z, dec = self.model.fused_and_decomposed_for_training(xl, z_fresh[lo:hi], noise)
            if self.world > 1:
                peers = _all_gather_detached(z)
                empty = z.new_zeros(0, *z.shape[1:])
                before = torch.cat(peers[: self.rank]) if self.rank else empty
                after = torch.cat(peers[self.rank + 1 :]) if self.rank < self.world - 1 else empty
                loss, parts = self.loss_fn(xl, fused, z, dec, z_target=z_target, z_peers=(before, after),
                                           latent_scale=float(self.world), data_scale=data_scale)
            else:
                loss, parts = self.loss_fn(xl, fused, z, dec, z_target=z_target)
        else:
            xl = x[lo:hi]
            fused = self.model(xl)
            loss, fparts = fusion_loss(fused, xl, self.config.loss)
            parts = {"loss": loss.detach(), "fused_ssim": 0.5 * (fparts["ssim_1"] + fparts["ssim_2"])}
            loss = loss * data_scale
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite loss at step {self.global_step}")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.world > 1:
            _average_gradients(self.model, self.world)
            parts = _average_parts(parts, (hi - lo) / n_global, self.device)
        if self.config.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        for g, lr in zip(self.optimizer.param_groups, base_lrs, strict=True):
            g["lr"] = lr
        return {k: float(v) for k, v in parts.items()}

    @torch.inference_mode()
    def validate(self) -> dict:
        """Validation loss, Q_SSIM and (FusionINN) decomposition SSIM per source, with fixed latents.

        In a data-parallel run every rank scores its share of the validation set and the sums are
        gathered, so the figures equal a single-process run's."""
        self.model.eval()
        gen = torch.Generator().manual_seed(12345)
        n_val = len(self.val)
        z_all = torch.randn(n_val, 1, *self.val.shape[2:], generator=gen) if self.is_inn else None
        lo, hi = self._shard(n_val)
        keys = ["q_ssim", "loss"] + (["dec_ssim_1", "dec_ssim_2"] if self.is_inn else [])
        sums = torch.zeros(len(keys) + 1, dtype=torch.float64)
        for i in range(lo, hi, 16):
            j = min(i + 16, hi)
            x = self.val[i:j].to(self.device)
            vals = {}
            if self.is_inn:
                y_raw, z = self.model(x)
                fused = self.model.fused_image(y_raw)
                zf = z_all[i:j].to(self.device)
                # exactly the clinical decomposition: from the displayed fused image and a fresh latent
                dec = self.model.decompose_tensor(fused, zf)
                # The MMD term is left out: on a fixed-size chunk it is dominated by its diagonal and would
                # make the figure depend on how the set is chunked (and across ranks).
                w = self.config.loss
                l_fus, _ = fusion_loss(fused, x, w)
                l_dec, _ = decomposition_loss(dec, x, w)
                loss = w.forward * l_fus + (1 - w.forward) * l_dec
                vals["dec_ssim_1"] = float(ssim(dec[:, :1], x[:, :1], reduction="none").sum())
                vals["dec_ssim_2"] = float(ssim(dec[:, 1:], x[:, 1:], reduction="none").sum())
            else:
                fused = self.model(x)
                loss, _ = fusion_loss(fused, x, self.config.loss)
            q = 0.5 * (ssim(fused, x[:, :1], reduction="none") + ssim(fused, x[:, 1:], reduction="none"))
            vals["q_ssim"] = float(q.sum())
            vals["loss"] = float(loss) * len(x)
            sums += torch.tensor([vals[k] for k in keys] + [len(x)], dtype=torch.float64)
        if self.world > 1:
            import torch.distributed as dist

            dist.all_reduce(sums)
        self.model.train()
        n = max(float(sums[-1]), 1.0)
        return {f"val_{k}": float(sums[i]) / n for i, k in enumerate(keys)}

    # ------------------------------------------------------------------------------------------
    def _meta(self, last_metrics: dict | None = None) -> dict:
        meta = {
            "kind": "training",
            "model": self.config.model,
            "train_config": self.config.to_dict(),
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "global_step": self.global_step,
            "minutes": self.minutes_before + (time.time() - self._t0) / 60,
            "best_val": None if math.isinf(self.best_val) else self.best_val,
            "scheduler": self.scheduler.state_dict(),
            "epoch_sums": self._epoch_sums,
            "data": self.data_info,
            # metrics.jsonl up to this checkpoint's epoch: resume refuses a history that does not match
            "history_sha256": _history_sha256(h for h in self.history if h["epoch"] <= self.epoch),
        }
        if self.is_inn:
            meta["model_config"] = self.model.config.to_dict()
        if last_metrics:
            meta["metrics"] = last_metrics
        return meta

    def save(self, path: Path, last_metrics: dict | None = None, weights_only: bool = False) -> None:
        meta = self._meta(last_metrics)
        opt_meta, opt_tensors = _optimizer_to_tensors(self.optimizer)
        rng_meta, rng_tensors = _rng_state()
        if not weights_only:
            meta["optimizer"] = opt_meta
            meta["rng"] = rng_meta
        if self.rank != 0:  # checkpoints are written by rank 0 only; the others wait for it
            self._barrier()
            return
        save_checkpoint(
            path,
            CheckpointData(
                model_state=self.model.state_dict(),
                meta=meta,
                optimizer_tensors={} if weights_only else opt_tensors,
                rng_tensors={} if weights_only else rng_tensors,
            ),
        )
        self._barrier()

    def close(self, clean: bool = True) -> None:
        """Leave the process group of a data-parallel run (a no-op otherwise). Without this, gloo's
        threads are torn down at interpreter exit while a peer may still be talking to them, which can
        abort the process ("terminate called without an active exception")."""
        if self.world > 1:
            import torch.distributed as dist

            if dist.is_initialized():
                if clean:
                    dist.barrier()
                dist.destroy_process_group()

    def _barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

    def resume(self) -> bool:
        """Load ``run_dir/last.safetensors`` if present; return whether a run was resumed."""
        path = self.run_dir / "last.safetensors"
        if not path.exists():
            return False
        data = load_checkpoint(path)
        meta = data.meta
        if meta.get("kind") != "training" or "optimizer" not in meta:
            raise CheckpointError("not a resumable training checkpoint", path)
        saved = TrainConfig.from_dict(meta["train_config"])
        # everything that shapes the run's numbers must match; only the length (epochs, max_minutes), the
        # device and threads, and the memory/speed trade-off may change on resume
        for key in ("model", "recipe", "batch_size", "crop", "seed", "data", "val_data", "pair", "val_fraction",
                    "lr", "loss", "warmup_steps", "grad_clip", "fused_noise", "plateau_factor",
                    "plateau_patience", "weight_decay", "val_max_images"):
            mine, theirs = getattr(self.config, key), getattr(saved, key)
            if key == "loss":  # name the loss weights that differ, not the whole set
                a, b = mine.to_dict(), theirs.to_dict()
                diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
                key = "loss weight " + ", ".join(diff)
                mine, theirs = [a.get(k) for k in diff], [b.get(k) for k in diff]
                mine, theirs = (mine[0], theirs[0]) if len(diff) == 1 else (mine, theirs)
            if mine != theirs:
                raise UserInputError(
                    f"--resume with a different {key} ({_shown(mine)}) than the run ({_shown(theirs)}); "
                    "resume with the run's settings or start a new run in another --out", path,
                )
        self.model.load_state_dict(data.model_state)
        self.optimizer.load_state_dict(_optimizer_from_tensors(meta["optimizer"], data.optimizer_tensors))
        self.scheduler.load_state_dict(meta["scheduler"])
        _set_rng_state(meta["rng"], data.rng_tensors)
        self.epoch = int(meta["epoch"])
        self.step_in_epoch = int(meta["step_in_epoch"])
        self.global_step = int(meta["global_step"])
        self.minutes_before = float(meta["minutes"])
        self.best_val = math.inf if meta.get("best_val") is None else float(meta["best_val"])
        self._epoch_sums = dict(meta.get("epoch_sums") or {})
        if "init_weights" in (meta.get("data") or {}):  # keep recording where a fine-tune started
            self.data_info = {**self.data_info, "init_weights": meta["data"]["init_weights"]}
        self.history = [h for h in self._read_history() if h["epoch"] <= self.epoch]
        want = meta.get("history_sha256")
        if want is not None and _history_sha256(self.history) != want:
            raise UserInputError(f"does not match the checkpoint's record of epochs 1-{self.epoch} (lines were edited, "
                                 "lost or damaged); refusing to resume into a different history",
                                 self.run_dir / "metrics.jsonl")
        return True

    def _read_history(self) -> list[dict]:
        """metrics.jsonl as written (atomically, so never torn): one JSON object per epoch 1, 2, ...
        Anything else is damage, refused naming the line."""
        path = self.run_dir / "metrics.jsonl"
        if not path.exists():
            if self.epoch > 0:
                raise UserInputError(f"is missing, but the checkpoint has {self.epoch} completed epoch(s)", path)
            return []
        out = []
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as err:
            raise UserInputError(f"unreadable ({type(err).__name__}); refusing to resume", path) from None
        for n, line in enumerate(text.splitlines(), 1):
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                raise UserInputError(f"line {n} is not valid JSON (file damaged); refusing to resume", path) from None
            if not isinstance(rec, dict) or rec.get("epoch") != len(out) + 1:
                raise UserInputError(f"line {n} is not the record of epoch {len(out) + 1} (file damaged); "
                                     "refusing to resume", path)
            out.append(rec)
        return out

    def _write_history(self) -> None:
        if self.rank != 0:
            return
        atomic_write_text(self.run_dir / "metrics.jsonl", "".join(json.dumps(h) + "\n" for h in self.history))
        try:
            self._plot()
        except Exception:  # a figure must never stop training
            pass

    def _plot(self) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ep = [h["epoch"] for h in self.history]
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.6))
        a1.plot(ep, [h["train_loss"] for h in self.history], label="train loss")
        a1.plot(ep, [h["val_loss"] for h in self.history], label="val loss")
        a1.set_xlabel("epoch")
        a1.set_ylabel("loss")
        a1.legend()
        a2.plot(ep, [h["val_q_ssim"] for h in self.history], label="Q_SSIM (fused)")
        if self.is_inn:
            a2.plot(ep, [h["val_dec_ssim_1"] for h in self.history], label=f"dec. SSIM {self.config.pair[0]}")
            a2.plot(ep, [h["val_dec_ssim_2"] for h in self.history], label=f"dec. SSIM {self.config.pair[1]}")
        a2.set_xlabel("epoch")
        a2.set_ylim(0, 1)
        a2.legend()
        fig.tight_layout()
        with atomic_path(self.run_dir / "loss_curve.png") as tmp:
            fig.savefig(tmp, dpi=100, format="png")
        plt.close(fig)

    # ------------------------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> TrainResult:
        cfg = self.config
        self._t0 = time.time()
        if resume:
            if not self.resume():
                raise UserInputError("nothing to resume: no last.safetensors", self.run_dir)
        elif (self.run_dir / "last.safetensors").exists():
            raise UserInputError(
                "already holds a run; pass --resume to continue it or choose another --out", self.run_dir
            )
        elif cfg.init_weights:  # a fresh run only: a resumed one continues from its own checkpoint
            self._load_init_weights(cfg.init_weights)
        if self.rank == 0:
            atomic_write_text(self.run_dir / "config.json", json.dumps(cfg.to_dict(), indent=2) + "\n")
        from tqdm.auto import tqdm

        total = cfg.epochs * self.steps_per_epoch
        bar = tqdm(total=total, initial=self.epoch * self.steps_per_epoch + self.step_in_epoch,
                   disable=not self.progress or self.rank != 0, unit="step", dynamic_ncols=True)
        stopped = "completed"
        last_ckpt = time.time()
        last_metrics: dict = self.history[-1] if self.history else {}
        try:
            while self.epoch < cfg.epochs:
                order, offsets = self._epoch_plan(self.epoch)
                while self.step_in_epoch < self.steps_per_epoch:
                    parts = self._train_step(self._batch(order, offsets, self.step_in_epoch))
                    self.step_in_epoch += 1
                    self.global_step += 1
                    for k, v in parts.items():
                        self._epoch_sums[k] = self._epoch_sums.get(k, 0.0) + v
                    self._epoch_sums["_n"] = self._epoch_sums.get("_n", 0.0) + 1
                    bar.update(1)
                    bar.set_postfix(epoch=self.epoch + 1, loss=f"{parts['loss']:.4f}",
                                    q_ssim=f"{parts['fused_ssim']:.3f}", refresh=False)
                    # time-based decisions come from rank 0 so every rank takes the same branch
                    out_of_time = cfg.max_minutes is not None and self._minutes() >= cfg.max_minutes
                    if _broadcast_flag(out_of_time, self.world):
                        break
                    due = _broadcast_flag(time.time() - last_ckpt > cfg.checkpoint_minutes * 60, self.world)
                    if due and self.step_in_epoch < self.steps_per_epoch:
                        self.save(self.run_dir / "last.safetensors", last_metrics)
                        last_ckpt = time.time()
                if self.step_in_epoch < self.steps_per_epoch:  # stopped mid-epoch by the time limit
                    self.save(self.run_dir / "last.safetensors", last_metrics)
                    stopped = "max_minutes"
                    break
                last_metrics = self._end_epoch()
                last_ckpt = time.time()
                if _broadcast_flag(cfg.max_minutes is not None and self._minutes() >= cfg.max_minutes, self.world):
                    stopped = "max_minutes" if self.epoch < cfg.epochs else "completed"
                    break
        finally:
            bar.close()
        return TrainResult(self.run_dir, self.epoch, self.global_step, self._minutes(), stopped, last_metrics)

    def _minutes(self) -> float:
        return self.minutes_before + (time.time() - self._t0) / 60

    def _end_epoch(self) -> dict:
        n = max(1.0, self._epoch_sums.pop("_n", 1.0))
        train = {f"train_{k}": v / n for k, v in self._epoch_sums.items()}
        val = self.validate()
        self.scheduler.step(val["val_loss"])
        self.epoch += 1
        self.step_in_epoch = 0
        self._epoch_sums = {}
        record = {
            "epoch": self.epoch,
            "step": self.global_step,
            "minutes": round(self._minutes(), 3),
            "lr": self.optimizer.param_groups[0]["lr"],
            **{k: round(v, 6) for k, v in train.items()},
            **{k: round(v, 6) for k, v in val.items()},
        }
        record["train_loss"] = record.get("train_loss", float("nan"))
        is_best = val["val_loss"] < self.best_val
        if is_best:
            self.best_val = val["val_loss"]
        # best weights, then the history line, then the resumable checkpoint: a kill anywhere in between
        # resumes from the previous checkpoint, re-runs this epoch exactly, and resume() drops the
        # history lines past the checkpoint, so no completed epoch is lost or counted twice.
        if is_best:
            self.save(self.run_dir / "best.safetensors", record, weights_only=True)
        self.history.append(record)
        self._write_history()
        self.save(self.run_dir / "last.safetensors", record)
        return record
