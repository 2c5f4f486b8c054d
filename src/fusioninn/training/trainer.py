"""One trainer for FusionINN and the CNN baselines.

Epoch-level bookkeeping (``metrics.jsonl``, loss-curve PNG, ``last.safetensors`` and ``best.safetensors``)
with mid-epoch checkpoints every ``checkpoint_minutes``. The data order and crops of an epoch come from a
generator seeded by (seed, epoch) and the training noise from the trainer's own generator, whose state is
stored in every checkpoint, so ``resume`` continues a killed run exactly where its last checkpoint left
it; the process's global random state is never seeded or read. What differs per model family lives in
:mod:`.steps`, data-parallel plumbing in :mod:`.distributed`, the resumable state in :mod:`.state`.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_write_text, ensure_writable_dir
from ..device import configure_threads, resolve_device, tune_cpu_allocator
from ..errors import CheckpointError, UserInputError
from ..models.factory import build_model, model_from_checkpoint
from ..models.fusioninn import FusionINN
from ..validation import check_array
from . import distributed
from .checkpoint import CheckpointData, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .history import history_sha256, read_history, write_history
from .state import generator_state, optimizer_from_tensors, optimizer_to_tensors, restore_generator
from .steps import step_for

__all__ = ["Trainer", "TrainResult", "build_model", "model_from_checkpoint"]


@dataclass
class TrainResult:
    run_dir: Path
    epochs_done: int
    steps: int
    minutes: float
    stopped: str
    last_metrics: dict
    images_per_second: float | None = None  # training throughput of this call, start-up step excluded


def _shown(value) -> str:
    return repr(value) if not isinstance(value, dict) else json.dumps(value, sort_keys=True)


def _image_set(images, name: str):
    """A :class:`~fusioninn.data.dataset.SliceDataset` for the trainer: datasets as they are (read lazily),
    arrays checked and held in memory."""
    from ..data.dataset import ArrayDataset, SliceDataset

    if isinstance(images, SliceDataset):
        if len(images) == 0 or len(images.shape) != 3 or images.shape[0] != 2:
            raise UserInputError(f"{name} set must be a non-empty set of (2, H, W) slices, got {len(images)} of "
                                 f"{tuple(images.shape)}")
        return images
    t = torch.as_tensor(np.asarray(images), dtype=torch.float32)
    if t.ndim != 4 or t.shape[1] != 2 or len(t) == 0:
        raise UserInputError(f"{name} set must be a non-empty (N, 2, H, W) array, got {tuple(t.shape)}")
    check_array(t, f"{name} set", ndim=(4,), channels=2, unit_range=False)
    return ArrayDataset(t.numpy())


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
        self.train = _image_set(train_images, "training")
        self.val = _image_set(val_images, "validation")
        if config.val_max_images and len(self.val) > config.val_max_images:
            idx = torch.linspace(0, len(self.val) - 1, config.val_max_images).round().long()
            self.val = self.val.subset(idx.numpy())
        self.rank, self.world = distributed.init(config.device)
        configure_threads(config.threads)
        self.device = resolve_device(config.device)
        if self.world > 1 and self.device.type == "cuda":
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        if self.device.type == "cpu":
            # reuse activation memory between steps (docs/performance.md); not with --memory-saving, whose
            # point is a low peak: the kept heap would eat most of what recomputation saves. Set either way:
            # the command line tunes the allocator for every command before the trainer exists.
            tune_cpu_allocator(not config.memory_saving)
        # the initial weights come from the seed alone; the caller's global random state is left as it was
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.model = build_model(config.model, config.recipe, **config.model_overrides())
        self.model = self.model.to(self.device)
        self.generator = torch.Generator(device=self.device).manual_seed(config.seed)
        if isinstance(self.model, FusionINN):
            self.model.options.memory_saving = config.memory_saving
            self.model.initialise_actnorm(torch.from_numpy(self.train.read(range(min(len(self.train), 64))))
                                          .to(self.device))
        perturb = None
        if config.fused_perturb:
            from ..perturb import FusedPerturbation

            perturb = FusedPerturbation.from_spec(config.fused_perturb, config.perturb_share)
        self.step = step_for(self.model, config.loss, config.fused_noise, perturb)
        from .augment import SourceAugmentation

        self.augment = SourceAugmentation.from_spec(config.augment) if config.augment else None
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode="min", factor=config.plateau_factor, patience=config.plateau_patience
        )
        self.epoch = 0  # completed epochs
        self.step_in_epoch = 0
        self.global_step = 0
        self.minutes_before = 0.0
        self._t0 = time.time()
        self.best_val = math.inf
        self.history: list[dict] = []
        self._epoch_sums: dict[str, float] = {}

    def _load_init_weights(self, path: str) -> None:
        """Fine-tuning: copy the weights of a checkpoint or model file of the same architecture."""
        data = load_checkpoint(path)  # verifies the weights against the checksum the file carries
        init = model_from_checkpoint(data, path)
        same = type(init) is type(self.model) and getattr(init, "config", None) == getattr(self.model, "config", None)
        if not same and isinstance(init, FusionINN) and isinstance(self.model, FusionINN):
            # name what differs (capacity, permutations, recipe fields); the initial mixing is only where a
            # fresh model starts, which these weights replace, so it alone does not refuse them
            a, b = init.config.to_dict(), self.model.config.to_dict()
            diff = [k for k in a if k != "init_mixing" and a[k] != b.get(k)]
            if not diff:
                same = True
            else:
                shown = "; ".join(f"{k} {_shown(a[k])} vs {_shown(b.get(k))}" for k in diff[:3])
                raise UserInputError(f"--init: weights of another FusionINN configuration than this run's ({shown}); "
                                     "pass the --widths/--couplings/--init-mixing/--recipe they were trained with",
                                     path)
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

    def _epoch_plan(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor, dict | None]:
        """Order of the training images, crop offsets and augmentation draws for one epoch, from (seed, epoch)
        alone (the augmentation draws come last, so a run without augmentation gets the crops it always got)."""
        from ..data.dataset import epoch_generator

        g = epoch_generator(self.config.seed, epoch)  # the EpochBatchSampler's order, then the crops
        order = torch.randperm(len(self.train), generator=g)
        h, w = self.train.shape[1:]
        crop = self.config.crop
        if crop is None or crop >= min(h, w):
            offsets = torch.zeros(self.steps_per_epoch, 3, dtype=torch.long)
        else:
            oy = torch.randint(0, (h - crop) // 2 + 1, (self.steps_per_epoch,), generator=g) * 2
            ox = torch.randint(0, (w - crop) // 2 + 1, (self.steps_per_epoch,), generator=g) * 2
            flip = torch.randint(0, 2, (self.steps_per_epoch,), generator=g)
            offsets = torch.stack([oy, ox, flip], 1)
        plan = self.augment.plan(g, self.steps_per_epoch, self.config.batch_size) if self.augment else None
        return order, offsets, plan

    def _loader(self):
        """This rank's share of every global batch, read by ``config.data_workers`` DataLoader workers."""
        from ..data.dataset import EpochBatchSampler, make_loader

        sampler = EpochBatchSampler(len(self.train), self.config.batch_size, self.config.seed, self.rank, self.world)
        return sampler, make_loader(self.train, sampler, self.config.data_workers, self.device)

    def _crop(self, x: torch.Tensor, offsets: torch.Tensor, k: int) -> torch.Tensor:
        crop = self.config.crop
        if crop is not None and crop < min(x.shape[2:]):
            oy, ox, flip = (int(v) for v in offsets[k])
            x = x[:, :, oy : oy + crop, ox : ox + crop]
            if flip:
                x = x.flip(-1)
        return x.to(self.device, non_blocking=True)

    def _shard(self, n: int) -> tuple[int, int]:
        """This rank's slice [lo, hi) of a global batch of n."""
        return n * self.rank // self.world, n * (self.rank + 1) // self.world

    def _train_step(self, xl: torch.Tensor, n_global: int) -> dict:
        """One optimiser step; ``xl`` is this rank's share [lo, hi) of a global batch of ``n_global``."""
        base_lrs = [g["lr"] for g in self.optimizer.param_groups]
        w = self.config.warmup_steps
        factor = min(1.0, (self.global_step + 1) / w) if w else 1.0
        for g in self.optimizer.param_groups:
            g["lr"] = g["lr"] * factor
        lo, hi = self._shard(n_global)
        if xl.shape[0] != hi - lo:
            raise RuntimeError(f"rank {self.rank} got {xl.shape[0]} slices of a batch of {n_global}, "
                               f"expected {hi - lo}")
        loss, parts = self.step.loss(xl, n_global, lo, hi, self.world, self.rank, self.generator)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite loss at step {self.global_step}")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.world > 1:
            distributed.average_gradients(self.model, self.world)
            parts = distributed.average_parts(parts, (hi - lo) / n_global, self.device)
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
        n_val = len(self.val)
        z_all = self.step.validation_latents(n_val, tuple(self.val.shape[1:]), torch.Generator().manual_seed(12345))
        lo, hi = self._shard(n_val)
        keys = self.step.val_keys
        sums = torch.zeros(len(keys) + 1, dtype=torch.float64)
        from ..data.dataset import sequential_batches

        batches = sequential_batches(self.val, 16, self.config.data_workers, indices=range(lo, hi))
        for i, xb in zip(range(lo, hi, 16), batches, strict=True):
            j = i + len(xb)
            z = None if z_all is None else z_all[i:j].to(self.device)
            vals = self.step.validate(torch.from_numpy(xb).to(self.device), z)
            sums += torch.tensor([vals[k] for k in keys] + [j - i], dtype=torch.float64)
        distributed.all_reduce_sum(sums, self.world)
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
            "minutes": self._minutes(),
            "best_val": None if math.isinf(self.best_val) else self.best_val,
            "scheduler": self.scheduler.state_dict(),
            "epoch_sums": self._epoch_sums,
            "data": self.data_info,
            # metrics.jsonl up to this checkpoint's epoch: resume refuses a history that does not match
            "history_sha256": history_sha256(h for h in self.history if h["epoch"] <= self.epoch),
        }
        if isinstance(self.model, FusionINN):
            meta["model_config"] = self.model.config.to_dict()
        if last_metrics:
            meta["metrics"] = last_metrics
        return meta

    def save(self, path: Path, last_metrics: dict | None = None, weights_only: bool = False) -> None:
        meta = self._meta(last_metrics)
        opt_meta, opt_tensors = optimizer_to_tensors(self.optimizer)
        rng_meta, rng_tensors = generator_state(self.generator)
        if not weights_only:
            meta["optimizer"] = opt_meta
            meta["rng"] = rng_meta
        if self.rank == 0:  # checkpoints are written by rank 0 only; the others wait for it
            save_checkpoint(path, CheckpointData(
                model_state=self.model.state_dict(), meta=meta,
                optimizer_tensors={} if weights_only else opt_tensors,
                rng_tensors={} if weights_only else rng_tensors,
            ))
        distributed.barrier(self.world)

    def close(self, clean: bool = True) -> None:
        """Leave the process group of a data-parallel run (a no-op otherwise)."""
        distributed.close(self.world, clean)

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
        for key in ("model", "recipe", "widths", "extra_couplings", "init_mixing", "batch_size", "crop", "seed",
                    "data", "val_data", "pair", "val_fraction",
                    "lr", "loss", "warmup_steps", "grad_clip", "fused_noise", "fused_perturb", "perturb_share",
                    "augment", "plateau_factor", "plateau_patience", "weight_decay", "val_max_images"):
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
        self.optimizer.load_state_dict(optimizer_from_tensors(meta["optimizer"], data.optimizer_tensors))
        self.scheduler.load_state_dict(meta["scheduler"])
        restore_generator(self.generator, data.rng_tensors)
        self.epoch = int(meta["epoch"])
        self.step_in_epoch = int(meta["step_in_epoch"])
        self.global_step = int(meta["global_step"])
        self.minutes_before = float(meta["minutes"])
        self.best_val = math.inf if meta.get("best_val") is None else float(meta["best_val"])
        self._epoch_sums = dict(meta.get("epoch_sums") or {})
        if "init_weights" in (meta.get("data") or {}):  # keep recording where a fine-tune started
            self.data_info = {**self.data_info, "init_weights": meta["data"]["init_weights"]}
        self.history = [h for h in read_history(self.run_dir, self.epoch) if h["epoch"] <= self.epoch]
        want = meta.get("history_sha256")
        if want is not None and history_sha256(self.history) != want:
            raise UserInputError(f"does not match the checkpoint's record of epochs 1-{self.epoch} (lines were edited, "
                                 "lost or damaged); refusing to resume into a different history",
                                 self.run_dir / "metrics.jsonl")
        return True

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
        if cfg.max_steps is not None:
            total = min(total, cfg.max_steps)
        bar = tqdm(total=total, initial=self.epoch * self.steps_per_epoch + self.step_in_epoch,
                   disable=not self.progress or self.rank != 0, unit="step", dynamic_ncols=True)
        stopped = "completed"
        last_metrics: dict = self.history[-1] if self.history else {}
        sampler, loader = self._loader()
        self._step_time, self._step_images = 0.0, 0
        try:
            while self.epoch < cfg.epochs:
                if self._step_limit_reached():
                    stopped = "max_steps"
                    break
                if not self._run_epoch_steps(sampler, loader, bar, last_metrics):  # stopped mid-epoch by a limit
                    self.save(self.run_dir / "last.safetensors", last_metrics)
                    stopped = "max_steps" if self._step_limit_reached() else "max_minutes"
                    break
                last_metrics = self._end_epoch()
                if self._out_of_time():
                    stopped = "max_minutes" if self.epoch < cfg.epochs else "completed"
                    break
                if self._step_limit_reached():
                    stopped = "max_steps" if self.epoch < cfg.epochs else "completed"
                    break
        finally:
            bar.close()
        ips = self._step_images / self._step_time if self._step_images else None
        return TrainResult(self.run_dir, self.epoch, self.global_step, self._minutes(), stopped, last_metrics, ips)

    def _step_limit_reached(self) -> bool:
        return self.config.max_steps is not None and self.global_step >= self.config.max_steps

    def _out_of_time(self) -> bool:
        """From rank 0, so every rank takes the same branch."""
        limit = self.config.max_minutes
        return distributed.broadcast_flag(limit is not None and self._minutes() >= limit, self.world)

    def _run_epoch_steps(self, sampler, loader, bar, last_metrics: dict) -> bool:
        """The rest of the current epoch's steps, with time-based mid-epoch checkpoints; False if the time or
        step limit stopped it before the end."""
        _, offsets, plan = self._epoch_plan(self.epoch)
        sampler.set_epoch(self.epoch, self.step_in_epoch)
        batches = iter(loader)
        try:
            return self._steps(batches, offsets, plan, bar, last_metrics)
        finally:
            del batches  # ends this epoch's reading workers

    def _steps(self, batches, offsets: torch.Tensor, plan: dict | None, bar, last_metrics: dict) -> bool:
        bs = self.config.batch_size
        last_ckpt = time.time()
        t_step = time.perf_counter()
        while self.step_in_epoch < self.steps_per_epoch:
            k = self.step_in_epoch
            n_global = min(bs, len(self.train) - k * bs)
            xl = self._crop(next(batches), offsets, k)
            if plan is not None:
                xl = self.augment.apply(xl, plan, k, self._shard(n_global)[0])
            parts = self._train_step(xl, n_global)
            if self.global_step > 0 or k > 0:  # the first step includes start-up (workers, allocator)
                self._step_time += time.perf_counter() - t_step
                self._step_images += n_global
            t_step = time.perf_counter()
            self.step_in_epoch += 1
            self.global_step += 1
            for k, v in parts.items():
                self._epoch_sums[k] = self._epoch_sums.get(k, 0.0) + v
            self._epoch_sums["_n"] = self._epoch_sums.get("_n", 0.0) + 1
            bar.update(1)
            bar.set_postfix(epoch=self.epoch + 1, loss=f"{parts['loss']:.4f}", q_ssim=f"{parts['fused_ssim']:.3f}",
                            refresh=False)
            if self._out_of_time() or self._step_limit_reached():
                break
            due = distributed.broadcast_flag(time.time() - last_ckpt > self.config.checkpoint_minutes * 60,
                                             self.world)
            if due and self.step_in_epoch < self.steps_per_epoch:
                self.save(self.run_dir / "last.safetensors", last_metrics)
                last_ckpt = time.time()
        return self.step_in_epoch >= self.steps_per_epoch

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
        if self.rank == 0:
            write_history(self.run_dir, self.history, self.step.curve_labels(self.config.pair))
        self.save(self.run_dir / "last.safetensors", record)
        return record
