"""fusioninn train --data SPEC --out RUN_DIR [--epochs N] [--batch-size B] [--seed S] ..."""

from __future__ import annotations

import argparse

from ._common import add_cache_arguments, add_slice_arguments, data_options


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..inputs import fraction, non_negative_float, non_negative_int, positive_float, positive_int, seed_int

    p.add_argument("--data", required=True, action="append",
                   help="data spec: phantom:N[:seed[:spread=S]], BraTS folder, file.h5, pairs:A:B, dicom:A:B, "
                        "dicom-studies:ROOT:SERIES_A:SERIES_B (repeat to combine)")
    p.add_argument("--val-data", action="append",
                   help="separate validation spec, repeatable (default: a subject-level split of --data)")
    add_slice_arguments(p)
    p.add_argument("--val-fraction", type=fraction, default=0.2, help="share of subjects held out (default 0.2)")
    p.add_argument("--pair", help="the two sequences of BraTS data (default t1ce,flair; a prepared folder's own)")
    p.add_argument("--out", required=True, help="run directory (metrics.jsonl, checkpoints, loss curve)")
    p.add_argument("--model", default="fusioninn", help="fusioninn or a CNN baseline (deepfuse, unet, ...)")
    p.add_argument("--recipe", choices=["fast", "paper"], default="fast",
                   help="fast: our CPU recipe (default); paper: the published one")
    p.add_argument("--epochs", type=positive_int, help="epochs (recipe default: fast 60, paper 400)")
    p.add_argument("--batch-size", type=positive_int, help="batch size (recipe default: fast 8, paper 64)")
    p.add_argument("--lr", type=positive_float, help="learning rate (recipe default: fast 1e-3, paper 3e-4)")
    p.add_argument("--crop", type=non_negative_int, help="random square crop for training, 0 = whole slices")
    p.add_argument("--seed", type=seed_int, default=0)
    p.add_argument("--max-minutes", type=positive_float,
                   help="stop (with a checkpoint) after this many training minutes in all (with --resume: "
                        "counting the run's earlier minutes, like --max-steps)")
    p.add_argument("--max-steps", type=positive_int,
                   help="stop (with a resumable checkpoint) after this many optimiser steps in all")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--device", default="auto", help="auto (CUDA if present), cpu, cuda, cuda:N")
    p.add_argument("--threads", type=positive_int, help="CPU threads (default: $OMP_NUM_THREADS or all cores)")
    add_cache_arguments(p)
    for name, default in (("w-ssim", 0.8), ("w-l2", 0.2), ("w-forward", 0.5), ("w-latent", 1.0)):
        p.add_argument(f"--{name}", type=non_negative_float, help=f"loss weight (default {default})")
    p.add_argument("--w-gradient", type=non_negative_float,
                   help="weight of the max-gradient edge term in the fusion loss (default 0 = published loss)")
    p.add_argument("--w-ms-gradient", type=non_negative_float,
                   help="weight of the multi-scale (3-level pyramid) max-gradient term in the fusion loss "
                        "(default 0 = published loss)")
    p.add_argument("--w-laplacian-detail", type=non_negative_float,
                   help="weight of the Laplacian-pyramid detail term (choose-max band-pass coefficients) in the "
                        "fusion loss (default 0 = published loss)")
    p.add_argument("--w-salience-intensity", type=non_negative_float,
                   help="weight of the intensity term towards the local-energy-weighted mean of the sources in the "
                        "fusion loss (default 0 = published loss)")
    from ..training.variants import VARIANTS

    p.add_argument("--variant", help=f"a named set of the options below (fusioninn.training.variants: "
                                      f"{', '.join(VARIANTS)}); explicit options win")
    p.add_argument("--w-grid", type=float,
                   help="weight of the grid-frequency penalty on the fused image (default 0 = published loss)")
    p.add_argument("--w-dec-r2", type=float,
                   help="weight of 1 - decomposition R² in the decomposition loss (default 0 = published loss)")
    p.add_argument("--fused-perturb", metavar="KINDS",
                   help="FusionINN: perturb the fused image before the reverse pass, a subset of "
                        "jpeg,blur,shift,noise (JPEG-like DCT quantisation, blur, sub-pixel resampling, noise), each "
                        "optionally with a strength range, e.g. jpeg:85-95,blur:0.4-0.8")
    p.add_argument("--perturb-share", type=float,
                   help="share of the training images that --fused-perturb perturbs (default 0.5)")
    p.add_argument("--augment", metavar="KINDS",
                   help="augment the training pairs: dihedral (random 90-degree turns of each crop), gamma[:S] "
                        "(per slice and source, intensities to a power exp(u), u uniform in [-S, S], default 0.3), "
                        "or both comma-separated")
    p.add_argument("--widths", type=_widths, metavar="A,B,C",
                   help="FusionINN: hidden channels of the three coupling subnets (default 32,64,32 = published); "
                        "extra couplings take C")
    p.add_argument("--couplings", type=_couplings, metavar="N",
                   help="FusionINN: N extra GLOW coupling blocks at full resolution after the third "
                        f"(default 0 = published, at most {_MAX_COUPLINGS})")
    p.add_argument("--init-mixing", choices=["interleave", "average"],
                   help="FusionINN, fast recipe: the step-0 network: interleave (identity couplings, default) or "
                        "average (fused image = the sources' average in logit space, no pixel interleave)")
    p.add_argument("--init", metavar="WEIGHTS",
                   help="start from these weights (a checkpoint or model .safetensors of the same architecture, "
                        "or the name of shipped weights such as fusioninn-v1)")
    p.add_argument("--memory-saving", action="store_true",
                   help="FusionINN: recompute coupling activations in the backward pass (less memory, more compute; "
                        "keeps glibc's default allocator)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


_MAX_COUPLINGS = 16  # = fusioninn.models.fusioninn.MAX_EXTRA_COUPLINGS (not imported: keeps --help light)
_MAX_WIDTH = 1024  # a bound for typos; a 1024-wide subnet already needs ~100 MB per 240x240 image


def _widths(text: str) -> tuple[int, int, int]:
    """``--widths A,B,C``: three positive integers."""
    parts = [t.strip() for t in text.split(",")]
    try:
        widths = tuple(int(t) for t in parts)
    except ValueError:
        widths = ()
    if len(widths) != 3 or not all(1 <= w <= _MAX_WIDTH for w in widths):
        raise argparse.ArgumentTypeError(f"takes three integers 1-{_MAX_WIDTH} separated by commas "
                                         f"(e.g. 64,128,64), got {text!r}")
    return widths  # type: ignore[return-value]


def _couplings(text: str) -> int:
    """``--couplings N``: 0 to the maximum."""
    try:
        n = int(text)
    except ValueError:
        n = -1
    if not 0 <= n <= _MAX_COUPLINGS:
        raise argparse.ArgumentTypeError(f"takes an integer 0-{_MAX_COUPLINGS}, got {text!r}")
    return n


def run(args: argparse.Namespace) -> int:
    from ..atomic import output_group

    with output_group() as group:
        try:
            return _run(args)
        except BaseException:
            from pathlib import Path

            # a run with a checkpoint is resumable: keep it (Ctrl-C, SIGTERM, --max-minutes-like stops);
            # one that failed before its first checkpoint leaves nothing behind
            if (Path(args.out) / "last.safetensors").is_file():
                group.keep()
            raise


def _variant(name: str | None) -> dict:
    """The settings of ``--variant NAME`` (fusioninn.training.variants), {} without one."""
    from ..errors import UserInputError
    from ..training.variants import VARIANTS

    if name is None:
        return {}
    if name not in VARIANTS:
        raise UserInputError(f"--variant: unknown variant {name!r}; choose from {', '.join(VARIANTS)}")
    return VARIANTS[name]


def _architecture(args: argparse.Namespace, variant: dict) -> dict:
    """FusionINN capacity and initial mixing (TrainConfig fields): explicit options win over the variant's."""
    from ..errors import UserInputError

    architecture = {}
    for key, value in (("widths", args.widths), ("extra_couplings", args.couplings),
                       ("init_mixing", args.init_mixing)):
        value = variant.get(key) if value is None else value
        if value is not None:
            architecture[key] = value
    if architecture and args.model != "fusioninn":
        raise UserInputError(f"--widths, --couplings and --init-mixing are FusionINN options, not for --model "
                             f"{args.model}")
    if architecture.get("init_mixing") == "average" and args.recipe == "paper":
        raise UserInputError("--init-mixing average needs the fast recipe: the paper recipe's couplings are not "
                             "identity-initialised (their subnets end in a ReLU)")
    return architecture


def _resolve_init(args: argparse.Namespace) -> None:
    """``--init fusioninn-v1``: shipped weights by name (a file of that name wins)."""
    from pathlib import Path

    from ..api import named_weights_path

    if args.init is not None and not Path(args.init).exists() and named_weights_path(args.init) is not None:
        args.init = str(named_weights_path(args.init))


def _run(args: argparse.Namespace) -> int:
    _resolve_init(args)
    import json

    from ..errors import UserInputError
    from ..losses.fusion import LossWeights
    from ..training.config import TrainConfig
    from ..training.trainer import Trainer

    pair = None if args.pair is None else tuple(s.strip() for s in args.pair.split(","))
    if pair is not None and len(pair) != 2:
        raise UserInputError(f"--pair takes two sequence names separated by a comma, got {args.pair!r}")
    if not 0 < args.val_fraction < 1 and not args.val_data:
        raise UserInputError(f"--val-fraction must be between 0 and 1, got {args.val_fraction}")
    settings = {}  # what the command line sets; the rest comes from the recipe (TrainConfig.from_recipe)
    for key, value in (("epochs", args.epochs), ("batch_size", args.batch_size), ("lr", args.lr)):
        if value is not None:
            settings[key] = value
    if args.crop is not None:
        settings["crop"] = None if args.crop == 0 else args.crop
    variant = _variant(args.variant)
    architecture = _architecture(args, variant)
    weights = LossWeights(**variant.get("loss", {}))
    # each loss weight's option is --w-<field> (underscores as dashes)
    for attr in ("ssim", "l2", "forward", "latent", "gradient", "grid", "dec_r2", "ms_gradient", "laplacian_detail",
                 "salience_intensity"):
        value = getattr(args, f"w_{attr}")
        if value is not None:
            setattr(weights, attr, value)
    try:
        config = TrainConfig.from_recipe(
            data="+".join(args.data), val_data="+".join(args.val_data) if args.val_data else None,
            pair=pair or ("t1ce", "flair"), val_fraction=args.val_fraction, model=args.model,
            recipe=args.recipe, seed=args.seed, init_weights=args.init, max_minutes=args.max_minutes,
            memory_saving=args.memory_saving, max_steps=args.max_steps,
            data_workers=1 if args.workers is None else args.workers,
            fused_perturb=args.fused_perturb if args.fused_perturb is not None else variant.get("fused_perturb"),
            perturb_share=args.perturb_share if args.perturb_share is not None else variant.get("perturb_share", 0.5),
            augment=args.augment if args.augment is not None else variant.get("augment"),
            device=args.device,
            threads=args.threads, loss=weights, **architecture, **settings,
        )
    except ValueError as err:
        raise UserInputError(str(err)) from None
    common = data_options(args, pair=pair)
    train, val = _open_data(args, common)
    from ..data.brats import SEQUENCE_NAMES

    if pair is None and all(n in SEQUENCE_NAMES for n in train.names):
        config.pair = tuple(train.names)  # a prepared folder's pair
    if len(val) == 0:
        raise UserInputError("the validation split is empty: use more subjects, a larger --val-fraction or --val-data")
    _check_sizes(config, train, val)
    _guard_run_outputs(args)
    info = {
        "train": {"spec": args.data, "pairs": len(train), "subjects": sorted(set(train.subject_ids))},
        "val": {"spec": args.val_data or args.data, "pairs": len(val),
                "subjects": sorted(set(val.subject_ids))},
    }
    overlap = set(train.subject_ids) & set(val.subject_ids)
    if overlap:
        raise UserInputError(f"subjects on both sides of the split: {sorted(overlap)[:5]}")
    print(f"training {config.model} ({config.recipe} recipe) on {len(train)} pairs from "
          f"{len(info['train']['subjects'])} subjects; validating on {len(val)} pairs"
          + ("" if train.in_memory else " (streamed from disk)"), flush=True)
    trainer = Trainer(config, train, val, args.out, progress=not args.quiet, data_info=info)
    try:
        result = trainer.fit(resume=args.resume)
    except BaseException:
        trainer.close(clean=False)
        raise
    trainer.close()
    print(json.dumps({"run_dir": str(result.run_dir), "epochs": result.epochs_done, "steps": result.steps,
                      "minutes": round(result.minutes, 2), "stopped": result.stopped,
                      "images_per_second": None if result.images_per_second is None
                      else round(result.images_per_second, 3),
                      **{k: v for k, v in result.last_metrics.items() if k.startswith("val_")}}))
    return 0


_SSIM_WINDOW = 11  # the loss and the validation figures use an 11x11 Gaussian SSIM window


def _check_sizes(config, train, val) -> None:
    """Options that do not fit the data: refused before a run folder is made."""
    from ..errors import UserInputError

    h, w = train.shape[-2:]  # a dataset's (C, H, W)
    vh, vw = val.shape[-2:]
    if config.crop is not None and config.crop > min(h, w):
        raise UserInputError(f"--crop {config.crop} is larger than the training slices ({w}x{h})")
    side = min(h, w) if config.crop is None else config.crop
    if min(side, vh, vw) < _SSIM_WINDOW:
        raise UserInputError(f"slices of {min(w, vw)}x{min(h, vh)} pixels are smaller than the {_SSIM_WINDOW}x"
                             f"{_SSIM_WINDOW} SSIM window of the loss; use images of at least {_SSIM_WINDOW} pixels")
    if config.model == "fusioninn" and (h % 2 or w % 2):
        raise UserInputError(f"FusionINN trains on even slice sizes, got {w}x{h}; pass an even --crop")


def _guard_run_outputs(args) -> None:
    """The run folder's files must not be any of the run's inputs (e.g. --init RUN/best.safetensors)."""
    from pathlib import Path

    from ..atomic import guard_outputs

    run = Path(args.out)
    inputs = [args.init] + [s for s in [*args.data, *(args.val_data or [])] if Path(s).is_file()]
    outputs = [run / n for n in ("config.json", "metrics.jsonl", "last.safetensors", "best.safetensors",
                                 "loss_curve.png")]
    guard_outputs(inputs, outputs)


def _open_data(args: argparse.Namespace, common: dict):
    """(train, val) datasets of ``--data`` / ``--val-data``. Each spec is read once, however often it is
    named (``--data S --data S`` weights S twice) and whether or not it is also split into a validation part."""
    from ..data.dataset import open_slices

    opened: dict = {}

    def dataset(spec: str):
        if spec not in opened:
            opened[spec] = open_slices(spec, **common)
        return opened[spec]

    if args.val_data:
        return _combine([dataset(s) for s in args.data]), _combine([dataset(s) for s in args.val_data])
    return (_combine([dataset(s).split("train", args.val_fraction, args.seed) for s in args.data]),
            _combine([dataset(s).split("val", args.val_fraction, args.seed) for s in args.data]))


def _combine(sets):
    """One dataset of several (all of one slice size); subject ids are prefixed by their source when several."""
    from ..data.dataset import ConcatSlices

    return sets[0] if len(sets) == 1 else ConcatSlices(sets)
