"""Contribution maps for every fusion method, on arrays and on files (what ``fusioninn explain`` does).

:func:`contribution_maps` is the one entry point for all methods: FusionINN and the CNN baselines by
integrated gradients (:mod:`fusioninn.models.contributions`), the training-free rules by their own exact
weights. :func:`explain_files` reads two images or two NIfTI volumes, computes the maps slice-batched
and writes them on the input's grid, with ``explain.json`` (completeness, steps, mean shares, per BraTS
label with a segmentation).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import DataError, UserInputError
from .models.contributions import (
    Contributions,
    fusioninn_contributions,
    network_contributions,
    rule_contributions,
)
from .models.fusioninn import FusionINN

__all__ = ["png_contribution_encoding", "contribution_maps", "resolve_method", "label_shares", "explain_files",
           "ExplainReport",
           "BRATS_REGIONS", "read_segmentation"]

#: BraTS label -> region name, and "normal brain" (label 0 inside the brain)
BRATS_REGIONS = {4: "enhancing_tumour", 1: "necrosis", 2: "oedema", 0: "normal_brain"}

# contribution PNGs hold c in [-s, s] as pixel = (c / s + 1) / 2 * 65535, s = 1 unless a contribution is
# larger (written in explain.json)


def png_contribution_encoding(scale: float = 1.0) -> str:
    return "value = pixel / 65535 * 2 - 1" if scale == 1.0 else f"value = (pixel / 65535 * 2 - 1) * {scale:g}"

PNG_SHARE_ENCODING = "value = pixel / 65535"


def resolve_method(method, model_path: str | None = None, device: str | torch.device = "cpu"):
    """A method name ("fusioninn", a rule, a CNN baseline), a FusionINN, a CNN module or a method object
    from :func:`fusioninn.methods.resolve_methods` -> ``(name, thing)`` for :func:`contribution_maps`."""
    from .methods import FusionINNMethod, resolve_methods
    from .models.baselines.registry import CNNMethod, RuleMethod

    if isinstance(method, str):
        if method == "all":
            raise UserInputError("--method takes one method, not 'all'")
        (method,) = resolve_methods([method], model_path=model_path, device=device)
    if isinstance(method, FusionINNMethod):
        return "fusioninn", method.model
    if isinstance(method, RuleMethod):
        return method.name, method.name
    if isinstance(method, CNNMethod):
        return method.name, method.module
    if isinstance(method, FusionINN):
        return "fusioninn", method
    if isinstance(method, torch.nn.Module):
        return type(method).__name__.lower(), method
    raise UserInputError(f"cannot explain a {type(method).__name__}; give a method name or a model")


def contribution_maps(
    method,
    first,
    second,
    steps: int = 32,
    baseline=None,
    *,
    model_path: str | None = None,
    device: str | torch.device = "cpu",
    batch_size: int = 4,
) -> Contributions:
    """Split every fused value of ``method`` into per-source contributions.

    >>> import numpy as np, fusioninn
    >>> a = np.random.rand(32, 32).astype(np.float32); b = np.random.rand(32, 32).astype(np.float32)
    >>> c = fusioninn.contribution_maps("average", a, b)
    >>> float(c.share_first.mean()), c.completeness_max_abs < 1e-6
    (0.5, True)

    Args:
        method: "fusioninn", a rule ("average", "maximum", "pca", "laplacian", "dwt", "guided"), a CNN
            baseline ("unet", ...; its shipped weights), or a FusionINN / CNN module / method object.
        first, second: (H, W) or (N, H, W) float images in [0, 1].
        steps: Gauss–Legendre points for the networks (ignored by the rules, whose weights are exact).
        baseline: ``None`` (black images), ``(b_1, b_2)`` or an (N, 2, H, W) array.
        model_path: FusionINN checkpoint for ``method="fusioninn"`` (default: the shipped weights).

    Returns:
        :class:`~fusioninn.models.contributions.Contributions` with ``first``, ``second``, ``baseline``,
        ``fused``, ``share_first``: (N, H, W) float32 each, ``fused ≈ baseline + first + second``.
    """
    name, thing = resolve_method(method, model_path, device)
    if isinstance(thing, str):
        return rule_contributions(thing, first, second, baseline=baseline)
    if isinstance(thing, FusionINN):
        return fusioninn_contributions(thing, first, second, steps=steps, baseline=baseline, batch_size=batch_size)
    return network_contributions(thing, first, second, steps=steps, baseline=baseline, name=name,
                                 batch_size=batch_size)


def label_shares(share: np.ndarray, seg: np.ndarray | None, brain: np.ndarray) -> dict:
    """Mean share of source 1 over the brain and, with a BraTS segmentation, per region.

    ``brain``: boolean mask of brain pixels (non-zero in either source). Normal brain = brain with label
    0. Regions without pixels get ``None``. Also returns the pixel counts.
    """
    out: dict = {"brain": _mean(share, brain)}
    counts: dict = {"brain": int(brain.sum())}
    if seg is not None:
        for label, region in BRATS_REGIONS.items():
            mask = (seg == label) & brain if label == 0 else seg == label
            out[region] = _mean(share, mask)
            counts[region] = int(mask.sum())
    return {"mean_share_first": out, "pixels": counts}


def _mean(values: np.ndarray, mask: np.ndarray) -> float | None:
    return float(values[mask].astype(np.float64).mean()) if mask.any() else None


# --------------------------------------------------------------------------------------------------
# Files


@dataclass
class ExplainReport:
    """What :func:`explain_files` wrote, its ``explain.json`` content, and the maps themselves (the
    padded (Z, H, W) slices it computed, for reuse, e.g. by the viewer)."""

    written: list[Path]
    summary: dict
    seconds: float
    contributions: Contributions | None = None


def read_segmentation(path: str | Path, like_shape: tuple[int, ...], volume: bool, like=None) -> np.ndarray:
    """A BraTS label map as uint8: NIfTI on the grid of ``like`` (a Volume) as axial slices, or a 2-D
    image/.npy of integer labels. Labels must be 0, 1, 2, 4 (3 is read as 4, BraTS 2023)."""
    from .inference import is_volume

    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path)
    if volume:
        from .data.volume import axial_slices, check_same_grid, read_volume

        if not is_volume(path):
            raise DataError("segmentation of a volume must be a NIfTI file (.nii or .nii.gz)", path)
        vol = read_volume(path)
        check_same_grid(vol, like, what="segmentation")
        seg = axial_slices(np.rint(vol.data))
    else:
        if path.suffix.lower() == ".npy":
            try:
                seg = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as err:
                raise DataError(f"not a readable .npy array ({err})", path) from None
        else:
            from PIL import Image, UnidentifiedImageError

            try:
                with Image.open(path) as im:
                    seg = np.asarray(im)
            except (UnidentifiedImageError, OSError) as err:
                raise DataError(f"not a readable label image ({type(err).__name__})", path) from None
        if seg.ndim != 2:
            raise DataError(f"expected a 2-D label image, got shape {tuple(seg.shape)}", path)
        if tuple(seg.shape) != tuple(like_shape):
            raise DataError(f"segmentation size {seg.shape[1]}x{seg.shape[0]} differs from the images' "
                            f"{like_shape[1]}x{like_shape[0]}", path)
    if not np.issubdtype(np.asarray(seg).dtype, np.number) or not np.isfinite(seg).all():
        raise DataError("segmentation must hold finite integer labels", path)
    seg = np.rint(seg).astype(np.int16)
    labels = set(np.unique(seg).tolist())
    if not labels <= {0, 1, 2, 3, 4}:
        raise DataError(f"segmentation labels {sorted(labels)} are not BraTS labels 0/1/2/4", path)
    if 3 in labels and 4 in labels:
        raise DataError("segmentation has both labels 3 and 4", path)
    seg[seg == 3] = 4
    return seg.astype(np.uint8)


def _stem(path: Path) -> str:
    from .inference import _stem as stem

    return stem(path)


def source_stems(paths: Sequence[Path], volumes: Sequence, selected: Sequence[bool]) -> list[str]:
    """Output-name stems of two inputs (``contribution_<stem>`` ...), distinct and safe as file names.

    A file keeps its name without the extension. A DICOM series folder gives its folder name; a series
    picked out of a folder of several (``selected``) adds its SeriesDescription (or ``series<NUMBER>``).
    Where the two stems still coincide (``T1/DICOM`` and ``FLAIR/DICOM``), each DICOM stem adds
    ``_s<SeriesNumber>``, then the SeriesInstanceUID. Two files of one name stay equal (the caller refuses).
    """
    from .data.dicom import safe_name

    stems, infos = [], []
    for path, vol, sel in zip(paths, volumes, selected, strict=True):
        info = getattr(vol, "dicom", None)
        infos.append(info)
        if info is None:
            stems.append(_stem(Path(path)))
            continue
        stem = safe_name(Path(path).resolve().name) or "series"
        if sel:
            stem += "_" + (safe_name(info.description) or f"series{safe_name(info.number) or 'X'}")
        stems.append(stem)
    for suffix in (lambda i: f"_s{safe_name(i.number)}" if safe_name(i.number) else "",
                   lambda i: f"_{safe_name(i.series_uid, 80)}"):
        if len(set(stems)) == len(stems):
            break
        stems = [s + suffix(i) if i is not None else s for s, i in zip(stems, infos, strict=True)]
    return stems


def slice_contributions(
    method_name: str, thing, a: np.ndarray, b: np.ndarray, steps: int, batch_slices: int = 4,
    progress: Callable[[int, int], None] | None = None,
) -> Contributions:
    """Contributions of (Z, H, W) normalised slice stacks, computed only on slices that hold signal (a
    slice that is zero in both sources has, with the black baseline, no contribution at all: its maps
    are exactly 0, share 0.5, and its fused value is the baseline's). ``progress(done, total)`` per batch.
    """
    z, h, w = a.shape
    c1 = np.zeros((z, h, w), np.float32)
    c2 = np.zeros_like(c1)
    share = np.full_like(c1, 0.5)
    fused = np.zeros_like(c1)
    base = np.zeros_like(c1)
    busy = np.flatnonzero((a > 0).any(axis=(1, 2)) | (b > 0).any(axis=(1, 2)))
    idle = np.setdiff1d(np.arange(z), busy)
    done = 0
    if progress is not None:
        progress(0, len(busy))
    for start in range(0, len(busy), batch_slices):
        idx = busy[start : start + batch_slices]
        if isinstance(thing, str):
            c = rule_contributions(thing, a[idx], b[idx])
        elif isinstance(thing, FusionINN):
            c = fusioninn_contributions(thing, a[idx], b[idx], steps=steps, batch_size=batch_slices)
        else:
            c = network_contributions(thing, a[idx], b[idx], steps=steps, name=method_name, batch_size=batch_slices)
        c1[idx], c2[idx], share[idx], fused[idx], base[idx] = c.first, c.second, c.share_first, c.fused, c.baseline
        done += len(idx)
        if progress is not None:
            progress(done, len(busy))
    if len(idle):  # the fused image of an all-black slice is the baseline itself
        if isinstance(thing, str):
            e = rule_contributions(thing, a[idle[:1]], b[idle[:1]])
        elif isinstance(thing, FusionINN):
            e = fusioninn_contributions(thing, a[idle[:1]], b[idle[:1]], steps=1)
        else:
            e = network_contributions(thing, a[idle[:1]], b[idle[:1]], steps=1, name=method_name)
        fused[idle], base[idle] = e.fused[0], e.baseline[0]
    steps_used = None if isinstance(thing, str) else int(steps)
    return Contributions(first=c1, second=c2, baseline=base, fused=fused, share_first=share, method=method_name,
                         steps=steps_used, computed=busy, rule=None if isinstance(thing, str) else "secant")


def progress_bar(desc: str, enabled: bool):
    """``(update(done, total), close())`` of a tqdm bar on stderr; a no-op unless ``enabled`` and stderr is
    a terminal (logs and pipes get the one summary line only)."""
    if not enabled or not sys.stderr.isatty():
        return None, lambda: None
    from tqdm import tqdm

    bar = tqdm(total=0, unit="slice", file=sys.stderr, desc=desc, leave=False)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return update, bar.close


def explain_files(
    path_a: str | Path,
    path_b: str | Path,
    out_dir: str | Path,
    method: str = "fusioninn",
    steps: int = 32,
    seg_path: str | Path | None = None,
    model_path: str | None = None,
    device: str | torch.device = "cpu",
    batch_slices: int = 4,
    progress: bool = False,
    series: str | Sequence[str] | None = None,
) -> ExplainReport:
    """Write the contribution maps of two images or volumes into ``out_dir`` (see ``fusioninn explain``).

    Files: ``contribution_<stemA>``, ``contribution_<stemB>``, ``share_<stemA>`` — NIfTI float32 on the
    input grid for volumes (NIfTI files or DICOM series folders; see :func:`source_stems` for the stems),
    ``.npy`` float32 for ``.npy`` inputs, otherwise 16-bit PNG (encodings in ``explain.json``) — and
    ``explain.json``. All or nothing: a failure removes what was written. ``series`` selects series of
    DICOM folders holding several, as for ``fusioninn fuse``: one selector for both inputs or one each.
    """
    from .atomic import check_output_folder, ensure_writable_dir, guard_outputs, output_group
    from .data.dicom import is_dicom_folder
    from .data.pairs import pad_to_multiple, read_image, unpad
    from .data.volume import axial_slices, check_same_grid, minmax_normalise, read_volume
    from .inference import check_dicom_pair, is_volume, refuse_outputs_inside_dicom_inputs, series_selectors

    path_a, path_b, out_dir = Path(path_a), Path(path_b), Path(out_dir)
    if int(steps) < 1:
        raise UserInputError(f"--steps must be >= 1, got {steps}")
    for p in (path_a, path_b, *( [Path(seg_path)] if seg_path else [])):
        if not p.exists():
            raise DataError("file not found", p)
    volume = is_volume(path_a)
    if volume != is_volume(path_b):
        raise UserInputError(f"cannot explain a volume with a 2-D image ({path_b.name})", path_a)
    sel_a, sel_b, _ = series_selectors(series)
    if not volume and (sel_a or sel_b):
        raise UserInputError("--series selects a series of a DICOM folder; these inputs are 2-D images")
    if not (is_dicom_folder(path_a) or is_dicom_folder(path_b)):  # file names: known before reading
        stem_a, stem_b = _stem(path_a), _stem(path_b)
        if stem_a == stem_b:
            raise UserInputError(f"both inputs are named {stem_a!r}: the output names would collide", path_b)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserInputError("exists and is not a directory", out_dir)
    check_output_folder(out_dir)
    refuse_outputs_inside_dicom_inputs([path_a, path_b], [out_dir], output_folders=True)
    ext = ".nii.gz" if volume else ".npy" if path_a.suffix.lower() == ".npy" else ".png"
    t0 = time.perf_counter()
    name, thing = resolve_method(method, model_path, device)
    if volume:
        va, vb = read_volume(path_a, sel_a), read_volume(path_b, sel_b)
        check_dicom_pair(va, vb)
        check_same_grid(va, vb)
        stem_a, stem_b = source_stems((path_a, path_b), (va, vb), (bool(sel_a), bool(sel_b)))
        na, _, _ = minmax_normalise(axial_slices(va.data))
        nb, _, _ = minmax_normalise(axial_slices(vb.data))
        seg = read_segmentation(seg_path, na.shape, True, like=va) if seg_path else None
    else:
        ia, ib = read_image(path_a), read_image(path_b)
        if ia.shape != ib.shape:
            raise DataError(f"size {ia.shape[1]}x{ia.shape[0]} differs from {ib.shape[1]}x{ib.shape[0]} of "
                            f"{path_b}", path_a)
        na, _, _ = minmax_normalise(ia.grey[None], clip_negative=False)
        nb, _, _ = minmax_normalise(ib.grey[None], clip_negative=False)
        seg = read_segmentation(seg_path, ia.shape, False)[None] if seg_path else None
        stem_a, stem_b = _stem(path_a), _stem(path_b)
    if stem_a == stem_b:
        raise UserInputError(f"both inputs are named {stem_a!r}: the output names would collide", path_b)
    names = [f"contribution_{stem_a}{ext}", f"contribution_{stem_b}{ext}", f"share_{stem_a}{ext}", "explain.json"]
    guard_outputs([path_a, path_b, seg_path, model_path], [out_dir / n for n in names])
    (pa, size), (pb, _) = pad_to_multiple(na, 2), pad_to_multiple(nb, 2)
    if min(pa.shape[1:]) < 2:
        raise DataError(f"image too small to explain ({na.shape[2]}x{na.shape[1]})", path_a)
    update, close = progress_bar(f"explain ({name}, {steps} steps)", progress and volume)
    t_maps = time.perf_counter()
    try:
        c = slice_contributions(name, thing, pa, pb, steps, batch_slices=max(1, batch_slices), progress=update)
    finally:
        close()
    t_maps = time.perf_counter() - t_maps
    c1, c2, share = (unpad(m, size) for m in (c.first, c.second, c.share_first))
    residual = unpad(c.residual, size)
    brain = (na > 0) | (nb > 0)
    computed = c.computed
    summary = {
        "format": "fusioninn-explain-1",
        "method": name,
        "steps": c.steps,
        "quadrature": "Gauss-Legendre on [0, 1], ReLUs and clamps split at their switching points (secant rule, "
                      "docs/interpretability.md)" if c.steps else "exact rule weights (no quadrature)",
        "baseline": "black (zero) images",
        "inputs": [path_a.name, path_b.name],
        **({"series": [v.dicom.label if v.dicom is not None else None for v in (va, vb)]}
           if volume and (va.dicom is not None or vb.dicom is not None) else {}),
        "shape": list(va.shape if volume else ia.shape),
        "completeness_max_abs": float(np.abs(residual).max()) if residual.size else 0.0,
        "completeness_mean_abs": float(np.abs(residual[computed]).mean()) if len(computed) else 0.0,
        "slices_computed": int(len(computed)),
        "seconds_per_slice": t_maps / max(1, len(computed)),
        "share": f"share_{stem_a} = |c_{stem_a}| / (|c_{stem_a}| + |c_{stem_b}|), 0.5 where both are 0"
        if name not in ("average", "maximum", "pca") else f"the {name} rule's own weight of {stem_a}",
        "units": "fused-image units (the fused image is in [0, 1])",
    }
    stats = label_shares(share, seg, brain)
    summary["mean_share"] = {stem_a: stats["mean_share_first"]["brain"],
                             stem_b: None if stats["mean_share_first"]["brain"] is None
                             else 1.0 - stats["mean_share_first"]["brain"]}
    if seg is not None:
        summary["segmentation"] = Path(seg_path).name
        summary["mean_share_per_label"] = {
            region: {stem_a: v, stem_b: None if v is None else 1.0 - v}
            for region, v in stats["mean_share_first"].items() if region != "brain"
        }
        summary["pixels_per_label"] = {k: v for k, v in stats["pixels"].items() if k != "brain"}
    outputs = dict(zip(names[:3], (c1, c2, share), strict=True))
    if ext == ".png":
        # [-scale, scale] -> [0, 65535]; scale 1 unless a contribution exceeds it (then the next power of 2)
        peak = float(max(np.abs(c1).max(), np.abs(c2).max())) if c1.size else 0.0
        scale = 1.0 if peak <= 1.0 else float(2.0 ** np.ceil(np.log2(peak)))
        summary["png_encoding"] = {"contribution": png_contribution_encoding(scale), "share": PNG_SHARE_ENCODING,
                                   "contribution_scale": scale}
        outputs[names[0]], outputs[names[1]] = (c1 / scale + 1.0) / 2.0, (c2 / scale + 1.0) / 2.0
    written: list[Path] = []
    with output_group():  # the folder too, when this call created it
        ensure_writable_dir(out_dir)
        _write_outputs(outputs, out_dir, volume, ext, va if volume else None, summary, written, t0)
    return ExplainReport(written, summary, time.perf_counter() - t0, contributions=c)


def _write_outputs(outputs: dict, out_dir: Path, volume: bool, ext: str, like, summary: dict, written: list,
                   t0: float) -> None:
    from .atomic import atomic_write_text, output_group
    from .data.pairs import write_image
    from .data.volume import from_axial_slices, write_volume

    with output_group():
        for fname, arr in outputs.items():
            target = out_dir / fname
            if volume:
                write_volume(target, from_axial_slices(arr), like=like)
            elif ext == ".npy":
                write_image(target, arr[0])
            else:
                write_image(target, arr[0], bits=16)  # already encoded into [0, 1]
            written.append(target)
        summary["files"] = [p.name for p in written]
        summary["seconds"] = time.perf_counter() - t0
        atomic_write_text(out_dir / "explain.json", json.dumps(summary, indent=2) + "\n")
        written.append(out_dir / "explain.json")
