"""The case viewer: one self-contained HTML file for a 2-D pair or a volume pair (``fusioninn view``).

Panels: both sources (input units), the fused image, both sources decomposed from the fused image alone
(mean of K sampled latents, input units), their per-pixel standard deviations over the K samples
(uncertainty), and the share of the first source (:mod:`fusioninn.models.contributions`), with an
optional segmentation outline. Everything is inlined (data, script, style); the page makes no request.

Storage. Every panel is stored per slice as integer codes ``q`` with the slice's own ``lo`` and ``step``
(value = lo + q * step), zlib-compressed and base64-encoded; the page decodes them with the browser's
``DecompressionStream`` and draws every panel from these values (window/level works on the numbers).
Sources with integer values (MRI files) are stored exactly (step 1); each computed panel with the bits of
:data:`PANEL_BITS` (step = slice range / (2**bits - 1)), which is what keeps a 240x240x155 case under 25
MB: their noise-like low bits do not compress. Display precision: a shown value lies within
step / 2 of the computed array (1/4094 of that slice's range for the computed panels, exact for integer
sources); the readout prints 4 significant digits of the stored value, so |readout − array| <= step / 2 +
half a unit of the 4th significant digit.

Indices. The readout's ``data-i/j/k`` are the voxel's index in the first input file's own array order
(after :func:`fusioninn.data.volume.read_volume` reoriented it to RAS and
:func:`~fusioninn.data.volume.axial_slices` cut it), for 2-D images i = column, j = row, k = 0. For a
DICOM series folder the "file" is the series as stored: i = column and j = row of a DICOM image
(``pixel_array[j, i]``), k = that image's place in the series sorted along the slice normal (row
direction x column direction), counted from 0 — not InstanceNumber, not the file name.
"""

from __future__ import annotations

import base64
import html
import json
import time
import zlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import DataError, UserInputError

__all__ = ["CaseData", "PANELS", "READOUT", "PANEL_BITS", "panel_bits", "build_case", "write_viewer",
           "quantise_slice", "decode_slice", "escape_bytes", "unescape_bytes", "index_map_for"]

#: data-panel names in page order
PANELS = ("source-1", "source-2", "fused", "share-1", "decomposed-1", "decomposed-2", "uncertainty-1",
          "uncertainty-2")
#: readout names in order (every panel, plus both contributions)
READOUT = ("source-1", "source-2", "fused", "decomposed-1", "decomposed-2", "uncertainty-1", "uncertainty-2",
           "contribution-1", "contribution-2", "share-1")


@dataclass
class CaseData:
    """What the page shows: ``arrays[name]`` (Z, H, W) float32 for every readout name (``None`` where not
    available), ``seg`` (Z, H, W) uint8 or None, and the page's metadata."""

    arrays: dict[str, np.ndarray | None]
    seg: np.ndarray | None
    names: tuple[str, str]
    is_volume: bool
    index_map: dict
    first_slice: int
    last_slice: int
    units: str
    method: str
    samples: int
    steps: int | None
    completeness_max_abs: float | None
    notes: list[str] = field(default_factory=list)
    seconds: dict = field(default_factory=dict)

    def file_index(self, z: int, row: int, col: int) -> tuple[int, int, int]:
        m = self.index_map
        return tuple(int(m["offset"][a] + m["row"][a] * row + m["col"][a] * col + m["slice"][a] * z)
                     for a in range(3))


# --------------------------------------------------------------------------------------------------
# Indices


def index_map_for(original_affine: np.ndarray, shape_file: tuple[int, int, int]) -> dict:
    """Affine map from a viewer position (axial slice z, row, col of :func:`axial_slices` of the RAS
    array) to the voxel index (i, j, k) of the file as stored: ``index[a] = offset[a] + row[a] * row +
    col[a] * col + slice[a] * z``."""
    from nibabel.orientations import axcodes2ornt, io_orientation, ornt_transform

    ornt = ornt_transform(io_orientation(original_affine), axcodes2ornt(("R", "A", "S")))
    ras_shape = [0, 0, 0]
    for a in range(3):
        ras_shape[int(ornt[a, 0])] = shape_file[a]
    x_dim, y_dim, _ = ras_shape
    # axial_slices: slices[z, row, col] = ras[X - 1 - col, Y - 1 - row, z]
    ras_of = {  # ras axis -> (offset, row, col, slice) coefficients
        0: (x_dim - 1, 0, -1, 0),
        1: (y_dim - 1, -1, 0, 0),
        2: (0, 0, 0, 1),
    }
    out = {"offset": [0, 0, 0], "row": [0, 0, 0], "col": [0, 0, 0], "slice": [0, 0, 0]}
    for a in range(3):
        ras_axis, flip = int(ornt[a, 0]), ornt[a, 1] < 0
        off, r, c, s = ras_of[ras_axis]
        if flip:  # ras index = n - 1 - file index  ->  file index = n - 1 - ras index
            off, r, c, s = shape_file[a] - 1 - off, -r, -c, -s
        out["offset"][a], out["row"][a], out["col"][a], out["slice"][a] = int(off), int(r), int(c), int(s)
    return out


IMAGE_INDEX_MAP = {"offset": [0, 0, 0], "row": [0, 1, 0], "col": [1, 0, 0], "slice": [0, 0, 0]}


# --------------------------------------------------------------------------------------------------
# Building the case


def build_case(
    path_a: str | Path,
    path_b: str | Path,
    latent: str | Path | None = None,
    samples: int = 8,
    method: str = "fusioninn",
    seg: str | Path | None = None,
    contributions: bool = True,
    steps: int = 8,
    model_path: str | None = None,
    device="cpu",
    seed: int = 0,
    batch_slices: int = 8,
    progress: bool = False,
    precomputed=None,
    series=None,
) -> CaseData:
    """Compute every panel of the viewer for two images or two volumes (NIfTI files or DICOM series
    folders; ``series`` selects series as for ``fusioninn fuse``) (see :func:`write_viewer`).

    ``precomputed``: the :class:`~fusioninn.models.contributions.Contributions` that
    :func:`fusioninn.explain.explain_files` computed for the same inputs and method (its report's
    ``contributions``), reused instead of computing the share panel again.
    """
    from ..api import load_pretrained
    from ..data.pairs import pad_to_multiple, unpad
    from ..explain import progress_bar, resolve_method, slice_contributions
    from ..inference import is_volume
    from ..models.fusioninn import FusionINN

    path_a, path_b = Path(path_a), Path(path_b)
    if samples < 1:
        raise UserInputError(f"--samples must be >= 1, got {samples}")
    if steps < 1:
        raise UserInputError(f"--steps must be >= 1, got {steps}")
    volume = is_volume(path_a)
    if volume != is_volume(path_b):
        raise UserInputError(f"cannot view a volume with a 2-D image ({path_b.name})", path_a)
    timings: dict = {}
    t0 = time.perf_counter()
    src = _read_sources(path_a, path_b, seg, volume, series)
    sa, sb, na, nb, segs = src["sa"], src["sb"], src["na"], src["nb"], src["seg"]
    (pa, size), (pb, _) = pad_to_multiple(na, 2), pad_to_multiple(nb, 2)
    if min(pa.shape[1:]) < 2:
        raise DataError(f"image too small to view ({na.shape[2]}x{na.shape[1]})", path_a)
    name, thing = resolve_method(method, model_path, device)
    fusion_model = thing if isinstance(thing, FusionINN) else load_pretrained(model_path, device=device)
    if not isinstance(fusion_model, FusionINN):
        raise UserInputError("--model is not a FusionINN checkpoint", model_path)
    timings["read"] = time.perf_counter() - t0

    t = time.perf_counter()
    notes: list[str] = list(src.get("notes", []))
    if name == "fusioninn":
        if latent is not None:
            fused = _fused_from_latent(fusion_model, Path(latent), pa, pb, "volume" if volume else "image")
            notes.append(f"Fused image from the saved latent {Path(latent).name}.")
        else:
            fused = _fuse_once_per_input(fusion_model, pa, pb, batch_slices)
    else:
        if latent is not None:
            raise UserInputError("--latent belongs to FusionINN; it cannot be used with --method " + name)
        from ..methods import resolve_methods

        (m,) = resolve_methods([name], model_path=model_path, device=device)
        fused = m.fuse(np.stack([pa, pb], 1))
    timings["fuse"] = time.perf_counter() - t

    t = time.perf_counter()
    if name == "fusioninn":
        d1, d2, u1, u2 = _decomposition(fusion_model, fused, samples, seed, batch_slices, size, src)
        if u1 is None:
            notes.append("Uncertainty needs --samples >= 2.")
    else:
        d1 = d2 = u1 = u2 = None
        notes.append(f"Only FusionINN decomposes its fused image; {name} has no decomposition or uncertainty.")
    timings["decompose"] = time.perf_counter() - t

    t = time.perf_counter()
    c1 = c2 = share = None
    completeness = None
    if contributions and precomputed is not None:
        if precomputed.first.shape != pa.shape or precomputed.method != name:
            raise ValueError(f"precomputed contributions of {precomputed.method} {precomputed.first.shape} do not "
                             f"match {name} {pa.shape}")
        c = precomputed
        steps = c.steps or steps
    elif contributions:
        update, close = progress_bar(f"contributions ({name}, {steps} steps)", progress and pa.shape[0] > 1)
        try:
            c = slice_contributions(name, thing if name != "fusioninn" else fusion_model, pa, pb, steps,
                                    batch_slices=min(4, batch_slices), progress=update)
        finally:
            close()
    if contributions:
        c1, c2, share = unpad(c.first, size), unpad(c.second, size), unpad(c.share_first, size)
        residual = unpad(c.residual, size)
        completeness = float(np.abs(residual).max()) if residual.size else 0.0
        timings["contributions_slices"] = int(len(c.computed)) if c.computed is not None else int(pa.shape[0])
    else:
        notes.append("Contributions not computed (--no-contributions).")
    timings["contributions"] = time.perf_counter() - t
    arrays = {
        "source-1": sa, "source-2": sb, "fused": unpad(np.asarray(fused), size),
        "decomposed-1": d1, "decomposed-2": d2, "uncertainty-1": u1, "uncertainty-2": u2,
        "contribution-1": c1, "contribution-2": c2, "share-1": share,
    }
    arrays = {k: None if v is None else np.ascontiguousarray(v, dtype=np.float32) for k, v in arrays.items()}
    stems = src["stems"]
    return CaseData(arrays=arrays, seg=segs, names=stems, is_volume=volume, index_map=src["index_map"],
                    first_slice=0, last_slice=int(sa.shape[0]) - 1, units=src["units"], method=name,
                    samples=int(samples), steps=None if isinstance(thing, str) else (int(steps) if contributions
                                                                                     else None),
                    completeness_max_abs=completeness, notes=notes, seconds=timings)


def _read_sources(path_a: Path, path_b: Path, seg, volume: bool, series=None) -> dict:
    """Both sources as (Z, H, W) slices in input units (``sa``, ``sb``), normalised (``na``, ``nb``) with
    their per-slice ``lo``/``hi`` in input units, the segmentation, the index map, the unit name and the
    names of both sources (``stems``)."""
    from ..data.pairs import read_image
    from ..data.volume import axial_slices, check_same_grid, minmax_normalise, read_volume
    from ..explain import read_segmentation, source_stems
    from ..inference import check_dicom_pair, series_selectors

    sel_a, sel_b, _ = series_selectors(series)
    if volume:
        va, vb = read_volume(path_a, sel_a), read_volume(path_b, sel_b)
        check_dicom_pair(va, vb)
        check_same_grid(va, vb)
        stems = tuple(source_stems((path_a, path_b), (va, vb), (bool(sel_a), bool(sel_b))))
        sa, sb = axial_slices(va.data), axial_slices(vb.data)
        na, lo_a, hi_a = minmax_normalise(sa)
        nb, lo_b, hi_b = minmax_normalise(sb)
        return {"sa": sa, "sb": sb, "na": na, "nb": nb, "lo": (lo_a, lo_b), "hi": (hi_a, hi_b),
                "seg": read_segmentation(seg, na.shape, True, like=va) if seg else None,
                "index_map": index_map_for(va.original_affine, tuple(int(s) for s in va.header.get_data_shape()[:3])),
                "units": "input units" if va.dicom is None else "input units (rescaled DICOM values)",
                "stems": stems,
                "notes": [] if va.dicom is None else [
                    f"{stems[0]} is a DICOM series: voxel (i, j, k) is column i and row j of its image k, the "
                    "images counted along the slice normal from 0 (not by InstanceNumber)."]}
    if sel_a or sel_b:
        raise UserInputError("--series selects a series of a DICOM folder; these inputs are 2-D images")
    ia, ib = read_image(path_a), read_image(path_b)
    if ia.shape != ib.shape:
        raise DataError(f"size {ia.shape[1]}x{ia.shape[0]} differs from {ib.shape[1]}x{ib.shape[0]} of "
                        f"{path_b}", path_a)
    sa = (ia.grey * (ia.value_range[1] - ia.value_range[0]) + ia.value_range[0])[None].astype(np.float32)
    sb = (ib.grey * (ib.value_range[1] - ib.value_range[0]) + ib.value_range[0])[None].astype(np.float32)
    # min-max normalisation is affine-invariant: the same normalised images as `fuse` makes from the
    # grey levels, with lo/hi in stored units (so decomposed values come back in those units)
    na, lo_a, hi_a = minmax_normalise(sa, clip_negative=False)
    nb, lo_b, hi_b = minmax_normalise(sb, clip_negative=False)
    return {"sa": sa, "sb": sb, "na": na, "nb": nb, "lo": (lo_a, lo_b), "hi": (hi_a, hi_b),
            "seg": read_segmentation(seg, ia.shape, False)[None] if seg else None,
            "index_map": IMAGE_INDEX_MAP, "units": "stored pixel values", "stems": (_stem(path_a), _stem(path_b))}


def _blank(pa: np.ndarray, pb: np.ndarray) -> np.ndarray:
    """Slices that are 0 in both normalised sources (constant in the input): one and the same network input."""
    return ~(pa.any(axis=(1, 2)) | pb.any(axis=(1, 2)))


def _fuse_once_per_input(model, pa: np.ndarray, pb: np.ndarray, batch: int) -> np.ndarray:
    """FusionINN's fused slices, the blank slices (identical inputs, so identical fused images) fused once."""
    blank = _blank(pa, pb)
    rows = np.flatnonzero(~blank)
    if blank.any():
        rows = np.sort(np.append(rows, np.flatnonzero(blank)[0]))
    part, _ = model.fuse(pa[rows], pb[rows], batch_size=batch)
    fused = np.empty(pa.shape, np.float32)
    fused[rows] = part
    if blank.any():
        fused[blank] = part[np.searchsorted(rows, np.flatnonzero(blank)[0])]
    return fused


def _decomposition(model, fused, samples: int, seed: int, batch: int, size, src: dict):
    """Mean of ``samples`` decompositions from the fused image alone and their per-pixel std, both back in
    the sources' units (std ``None`` for one sample). Slices constant in both sources are not decomposed:
    back in their units (range 0) every decomposition of them is that constant and its std 0."""
    from ..data.pairs import unpad

    rows = np.flatnonzero(~_blank(src["na"], src["nb"]))  # per slice: padding does not change it
    spans = [(hi - lo).astype(np.float32)[:, None, None] for lo, hi in zip(src["lo"], src["hi"], strict=True)]
    offsets = [lo.astype(np.float32)[:, None, None] for lo in src["lo"]]
    shape = (len(fused), *np.shape(fused)[1:])
    x1, x2 = np.zeros(shape, np.float32), np.zeros(shape, np.float32)
    std = np.zeros((shape[0], 2, *shape[1:]), np.float32) if samples > 1 else None
    if len(rows):
        dec = model.decompose(np.asarray(fused)[rows], samples=samples, seed=seed, batch_size=batch)
        x1[rows], x2[rows] = dec.x1, dec.x2
        if std is not None:
            std[rows] = dec.std
    d1 = unpad(x1, size) * spans[0] + offsets[0]
    d2 = unpad(x2, size) * spans[1] + offsets[1]
    if std is None:
        return d1, d2, None, None
    return d1, d2, unpad(std[:, 0], size) * spans[0], unpad(std[:, 1], size) * spans[1]


def _stem(path: Path) -> str:
    from ..inference import _stem as stem

    return stem(path)


def _fused_from_latent(model, latent_path: Path, pa, pb, kind: str) -> np.ndarray:
    """The fused image of a saved latent (``fuse --save-latent``), checked against these sources."""
    import torch

    from ..inference import _read_latent

    lat, _, _, _ = _read_latent(latent_path, kind)
    if lat.ndim != 4 or lat.shape[0] != pa.shape[0] or lat.shape[2:] != pa.shape[1:]:
        raise DataError(f"latent of shape {tuple(lat.shape)} does not match these inputs ({pa.shape[0]} slices of "
                        f"{pa.shape[2]}x{pa.shape[1]})", latent_path)
    with torch.no_grad():
        fused = model.fused_image(torch.from_numpy(np.ascontiguousarray(lat[:, 1:2]))).numpy()[:, 0]
        check, _ = model.fuse(pa[:1], pb[:1])
    if np.abs(check[0] - fused[0]).max() > 1.0 / 255 + 1e-4:
        raise DataError("latent does not belong to these sources and this model (its fused image differs)",
                        latent_path)
    return fused


# --------------------------------------------------------------------------------------------------
# Writing the page


#: bytes the HTML parser would not hand back unchanged inside a <script> element: NUL (-> U+FFFD) and CR
#: (newline normalisation), '<' (could end the element), and the escape byte itself. Each becomes the
#: escape byte followed by the byte XOR 0x40 (none of which is special).
_ESCAPE = 0x1B
_SPECIAL = np.array([0x00, 0x0D, 0x3C, _ESCAPE], np.uint8)


def escape_bytes(data: bytes) -> bytes:
    """``data`` made safe to embed as the text of a windows-1252 page's <script> element (see _SPECIAL)."""
    a = np.frombuffer(data, np.uint8)
    special = np.isin(a, _SPECIAL)
    out = np.empty(a.size + int(special.sum()), np.uint8)
    pos = np.arange(a.size) + np.cumsum(special) - special
    out[pos] = np.where(special, _ESCAPE, a)
    out[pos[special] + 1] = a[special] ^ 0x40
    return out.tobytes()


def unescape_bytes(data: bytes) -> bytes:
    """Inverse of :func:`escape_bytes` (the page does the same in JavaScript)."""
    out, i = bytearray(), 0
    while True:
        j = data.find(bytes([_ESCAPE]), i)
        if j < 0:
            out += data[i:]
            return bytes(out)
        out += data[i:j]
        out.append(data[j + 1] ^ 0x40)
        i = j + 2


def _med_residuals(q: np.ndarray) -> np.ndarray:
    """Residuals of the median edge detector (LOCO-I / JPEG-LS) prediction from the left, upper and
    upper-left neighbours (0 outside the image), zigzag-coded as uint16: smooth images compress better."""
    q = q.astype(np.int32)
    left, up, diag = np.zeros_like(q), np.zeros_like(q), np.zeros_like(q)
    left[:, 1:], up[1:, :], diag[1:, 1:] = q[:, :-1], q[:-1, :], q[:-1, :-1]
    hi, lo = np.maximum(left, up), np.minimum(left, up)
    pred = np.where(diag >= hi, lo, np.where(diag <= lo, hi, left + up - diag))
    r = (q - pred + 32768) % 65536 - 32768  # modulo 2**16, so that every residual fits 16 bits
    return np.where(r >= 0, 2 * r, -2 * r - 1).astype("<u2")


def _planes(codes: np.ndarray) -> bytes:
    """Low bytes of all codes, then the high bytes (byte planes compress better)."""
    return codes.astype("<u2").view(np.uint8).reshape(-1, 2).T.tobytes()


def quantise_slice(values: np.ndarray, bits: int = 16, filter: int | None = None) -> dict:
    """One slice as ``{"lo", "step", "filter", "data"}``: value = lo + q * step with ``q`` an unsigned
    integer of at most ``bits`` bits (step = (max − min) / (2**bits − 1)); integer-valued slices whose range
    fits 16 bits are stored exactly (step 1). ``data``: zlib-compressed byte planes of the codes
    (``filter`` 0) or of their MED prediction residuals (``filter`` 1); ``filter=None`` takes whichever is
    smaller. ``data`` is omitted for a constant slice. :func:`decode_slice` inverts it."""
    v = np.asarray(values, dtype=np.float64)
    lo, hi = float(v.min()), float(v.max())
    if hi <= lo:
        return {"lo": lo, "step": 0.0}
    if hi - lo <= 65535 and np.array_equal(v, np.rint(v)):
        step = 1.0
    else:
        step = (hi - lo) / float(2 ** int(bits) - 1)
    q = np.rint((v - lo) / step).clip(0, 65535).astype("<u2")
    data = {}
    for f in (0, 1) if filter is None else (int(filter),):
        data[f] = zlib.compress(_planes(_med_residuals(q) if f else q), 6)
    use = min(data, key=lambda f: len(data[f]))
    return {"lo": lo, "step": step, "filter": use, "data": data[use]}


def _panel_filter(a: np.ndarray, bits: int) -> int:
    """The filter that stores panel ``a`` (Z, H, W) smaller, judged on a sample of its slices."""
    sizes = [0, 0]
    for z in np.unique(np.linspace(0, a.shape[0] - 1, min(a.shape[0], 8)).astype(int)):
        q = quantise_slice(a[z], bits)
        if "data" in q:
            sizes[q["filter"]] += 1
    return int(sizes[1] > sizes[0])


def decode_slice(entry: dict, shape: tuple[int, int]) -> np.ndarray:
    """The stored values of a :func:`quantise_slice` entry (what the page shows), float64 of ``shape``."""
    if "data" not in entry:
        return np.full(shape, entry["lo"])
    raw = np.frombuffer(zlib.decompress(entry["data"]), np.uint8)
    n = raw.size // 2
    codes = (raw[:n].astype(np.int64) | (raw[n:].astype(np.int64) << 8)).reshape(shape)
    if entry.get("filter") == 1:
        signed = np.where(codes & 1, -((codes + 1) >> 1), codes >> 1)
        q = np.zeros(shape, np.int64)
        for r in range(shape[0]):  # the prediction needs the decoded neighbours: row by row, as the page does
            for c in range(shape[1]):
                left = q[r, c - 1] if c else 0
                up = q[r - 1, c] if r else 0
                diag = q[r - 1, c - 1] if r and c else 0
                hi, lo = max(left, up), min(left, up)
                pred = lo if diag >= hi else hi if diag <= lo else left + up - diag
                q[r, c] = (signed[r, c] + pred) & 0xFFFF
        codes = q
    return entry["lo"] + codes * entry["step"]


def _ascii_js(source: str) -> str:
    """JavaScript source with every non-ASCII character written as a \\u escape (strings and comments only)."""
    return "".join(c if ord(c) < 128 else f"\\u{ord(c):04x}" for c in source)


def _cp1252(text: str) -> bytes:
    """Markup as ASCII bytes, non-ASCII characters as character references (valid in windows-1252)."""
    return text.encode("ascii", "xmlcharrefreplace")


def _colormap(name: str) -> str:
    import matplotlib

    if name == "grey":
        table = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
    else:
        table = (matplotlib.colormaps[name](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)
    return base64.b64encode(table.tobytes()).decode("ascii")


def _window(a: np.ndarray | None, lo_q: float = 0.0, hi_q: float = 99.5, fixed: tuple | None = None) -> list:
    if fixed is not None:
        return list(fixed)
    if a is None:
        return [0.0, 1.0]
    sample = a[a != 0] if np.any(a != 0) else a.ravel()
    lo = float(np.percentile(sample, lo_q)) if lo_q else min(0.0, float(sample.min()))
    hi = float(np.percentile(sample, hi_q))
    return [lo, hi if hi > lo else lo + 1.0]


def _thinned(a: np.ndarray | None) -> np.ndarray | None:
    return None if a is None else a[:, ::2, ::2]


def _panel_html(name: str, title: str, unit: str, width: int, height: int, available: bool, why: str,
                legend: str | None) -> str:
    na = "" if available else f'<div class="na">{html.escape(why)}</div>'
    leg = legend or ""
    return (f'<figure data-panel="{name}"><figcaption>{html.escape(title)} <span class="unit">{html.escape(unit)}'
            f'</span></figcaption><div class="stack"><canvas class="image" width="{width}" height="{height}">'
            f'</canvas><canvas class="overlay"></canvas>{na}</div>{leg}</figure>')


#: bits per stored value of each computed panel, matched to what each value is accurate to: the fused
#: image is exact (11 bits); the decomposition is a mean of K sampled latents, whose own sampling error is
#: about uncertainty / sqrt(K) (10); a standard deviation from K = 8 samples is uncertain by about 25 %,
#: and the contributions by their completeness error of ~1e-3 mean (9). This keeps a 240x240x155 BraTS case
#: under the 25 MB budget (docs/interpretability.md). Sources: exact when integer-valued, else 16 bits.
PANEL_BITS = {"fused": 11, "decomposed-1": 10, "decomposed-2": 10, "uncertainty-1": 9, "uncertainty-2": 9,
              "contribution-1": 9, "contribution-2": 9, "share-1": 9}
DEFAULT_BITS = None  # None: PANEL_BITS; an integer: that many bits for every computed panel


def panel_bits(name: str, bits: int | None = DEFAULT_BITS) -> int:
    """Bits per stored value of panel ``name`` (``bits`` overrides the computed panels' defaults)."""
    if name.startswith("source-"):
        return 16
    return PANEL_BITS[name] if bits is None else int(bits)


def write_viewer(case: CaseData, out: str | Path, bits: int | None = DEFAULT_BITS) -> dict:
    """Write the page for ``case`` to ``out`` atomically; returns sizes and timings.

    ``bits`` (8-16): quantisation of every computed panel instead of :data:`PANEL_BITS`; the sources are
    stored exactly when they are integers (as MRI files are), else with 16 bits.
    """
    if bits is not None and not 8 <= int(bits) <= 16:
        raise UserInputError(f"--bits must be between 8 and 16, got {bits}")
    from ..atomic import atomic_write_bytes

    t0 = time.perf_counter()
    z_count, h, w = case.arrays["source-1"].shape
    first, last = case.first_slice, case.last_slice
    a_name, b_name = case.names
    titles = {
        "source-1": (a_name, case.units), "source-2": (b_name, case.units),
        "fused": (f"fused ({case.method})", "[0, 1]"),
        "share-1": (f"share of {a_name}", "0 = all " + b_name + ", 1 = all " + a_name),
        "decomposed-1": (f"{a_name} decomposed from the fused image", f"mean of {case.samples}, {case.units}"),
        "decomposed-2": (f"{b_name} decomposed from the fused image", f"mean of {case.samples}, {case.units}"),
        "uncertainty-1": (f"uncertainty of {a_name}", f"std over {case.samples}, {case.units}"),
        "uncertainty-2": (f"uncertainty of {b_name}", f"std over {case.samples}, {case.units}"),
    }
    windows = {
        "src1": _window(np.concatenate([case.arrays["source-1"].ravel()[::7]])),
        "src2": _window(np.concatenate([case.arrays["source-2"].ravel()[::7]])),
        "fused": [0.0, 1.0],
        "unc1": _window(_thinned(case.arrays["uncertainty-1"])),
        "unc2": _window(_thinned(case.arrays["uncertainty-2"])),
        "share": [0.0, 1.0],
    }
    panel_info = {
        "source-1": {"window": "src1", "colormap": "grey"}, "source-2": {"window": "src2", "colormap": "grey"},
        "fused": {"window": "fused", "colormap": "grey"}, "share-1": {"window": "share", "colormap": "coolwarm"},
        "decomposed-1": {"window": "src1", "colormap": "grey"}, "decomposed-2": {"window": "src2", "colormap": "grey"},
        "uncertainty-1": {"window": "unc1", "colormap": "magma"},
        "uncertainty-2": {"window": "unc2", "colormap": "magma"},
    }
    # Every compressed slice goes into one binary block (escaped, see escape_bytes); the JSON holds each
    # slice's lo, step, filter and its offset "o" and length "n" in that block.
    blob = bytearray()

    def stored(data: bytes) -> dict:
        chunk = escape_bytes(data)
        where = {"o": len(blob), "n": len(chunk)}
        blob.extend(chunk)
        return where

    arrays = {}
    for name in READOUT:
        a = case.arrays.get(name)
        if a is None:
            continue
        depth = panel_bits(name, bits)
        entries = []
        chosen = _panel_filter(a[first : last + 1], depth)
        for z in range(first, last + 1):
            entry = quantise_slice(a[z], depth, chosen)
            if "data" in entry:
                entry.update(stored(entry.pop("data")))
            entries.append(entry)
        arrays[name] = {"slices": entries}
    seg = None
    if case.seg is not None:
        seg = [stored(zlib.compress(np.ascontiguousarray(case.seg[z], np.uint8).tobytes(), 6))
               if case.seg[z].any() else None for z in range(first, last + 1)]
    initial = first + int(np.argmax([np.count_nonzero(case.seg[z]) for z in range(first, last + 1)])) \
        if case.seg is not None and case.seg.any() else (first + last) // 2
    data = {
        "format": "fusioninn-viewer-2", "height": h, "width": w, "first_slice": first, "last_slice": last,
        "initial_slice": initial, "is_volume": case.is_volume, "panel_order": list(PANELS),
        "readout_order": [n for n in READOUT], "panels": panel_info, "windows": windows, "arrays": arrays,
        "has_seg": case.seg is not None, "seg": seg, "index_map": case.index_map, "source_names": list(case.names),
        "colormaps": {name: _colormap(name) for name in ("grey", "magma", "coolwarm")},
    }
    why = {name: "" for name in PANELS}
    for name in PANELS:
        if case.arrays.get(name) is None:
            why[name] = ("not computed (--no-contributions)" if name == "share-1" else
                         "needs --samples >= 2" if name.startswith("uncertainty") and case.method == "fusioninn" else
                         f"only FusionINN decomposes ({case.method} does not)")
    legend = ('<div class="legend" style="background: linear-gradient(to right, #3b4cc0, #dddddd, #b40426)"></div>'
              f'<div class="legend-text"><span>{html.escape(b_name)}</span><span>0.5</span>'
              f'<span>{html.escape(a_name)}</span></div>')
    panels_html = "\n".join(
        _panel_html(n, *titles[n], w, h, case.arrays.get(n) is not None, why[n], legend if n == "share-1" else None)
        for n in PANELS)
    steps = f"{case.steps} Gauss–Legendre steps (secant rule)" if case.steps else "exact rule weights"
    contrib = (f"contributions by {steps}, completeness max |fused − baseline − c₁ − c₂| = "
               f"{case.completeness_max_abs:.2e}" if case.completeness_max_abs is not None else "no contributions")
    subtitle = (f"{a_name} + {b_name} · {'volume' if case.is_volume else '2-D image'} {w}×{h}"
                f"{f'×{z_count}' if case.is_volume else ''} · method {case.method} · "
                f"decomposition: mean of {case.samples} latent samples · {contrib}")
    notes = " ".join(case.notes + [
        "Values are stored per slice (sources exactly; computed panels with 9-11 bits, step = slice range / "
        "(2^bits - 1)) and shown with 4 significant digits. Decomposed sources and uncertainty are in the "
        "sources' units; fused and contributions in fused-image units [0, 1]. Research tool: not for diagnosis."])
    # The page is windows-1252, so that the binary block's bytes are its characters one to one: markup
    # outside it is ASCII with character references, the script ASCII with \\u escapes.
    js = _ascii_js(resources.files(__package__).joinpath("viewer.js").read_text(encoding="utf-8"))
    page = resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    seg_key = ", <kbd>o</kbd> segmentation outline on/off (yellow: enhancing, red: necrosis, green: oedema)" \
        if case.seg is not None else ""
    replacements = {
        "__TITLE__": html.escape(f"fusioninn case viewer — {a_name} + {b_name}"),
        "__SUBTITLE__": html.escape(subtitle), "__MIN__": str(first), "__MAX__": str(last), "__VALUE__": str(initial),
        "__ASPECT__": f"{w} / {h}", "__PANEL__": f"min(23.5vw, calc((100vh - 300px) / 2 * {w / h:.4f}))",
        "__PANELS__": panels_html, "__SEGKEY__": seg_key,
        "__NOTES__": html.escape(notes), "__JS__": js, "__CASE_JSON__": payload,
    }
    parts = page.split("__CASE_BLOB__")  # the template's own placeholder, split before any name is inserted
    for key in ("__TITLE__", "__SUBTITLE__", "__MIN__", "__MAX__", "__VALUE__", "__ASPECT__", "__PANEL__", "__PANELS__",
                "__SEGKEY__", "__NOTES__", "__JS__", "__CASE_JSON__"):  # the data last: never re-scanned
        parts = [part.replace(key, replacements[key]) for part in parts]
    head, tail = parts
    atomic_write_bytes(out, _cp1252(head) + bytes(blob) + _cp1252(tail))
    return {"bytes": Path(out).stat().st_size, "seconds_write": time.perf_counter() - t0}
