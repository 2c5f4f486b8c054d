"""What an imaging pipeline does to a saved fused image, for evaluation and for training.

Evaluation (:func:`parse_perturbations`, :func:`perturb_fused`) works on NumPy arrays and uses the real
operations: the fused image is first saved as 8-bit (rounded), then

- ``png``: nothing more (the 8-bit image itself);
- ``jpegQ``: JPEG at quality Q (Pillow/libjpeg, greyscale), as PACS archives and web viewers store it;
- ``blurS``: Gaussian blur of standard deviation S pixels (viewer interpolation, a resampling step);
- ``shiftS``: a sub-pixel shift by S pixels down and right with bilinear interpolation (resampling onto
  another grid); the sources are shifted the same way before scoring, so only the information lost by
  the interpolation counts, not the displacement;
- ``noiseS``: Gaussian noise of standard deviation S grey levels (8-bit scale);

and saved as 8-bit again. Each perturbation is a fixed, seeded function of the image, so scores repeat.

Training (:class:`FusedPerturbation`) uses differentiable stand-ins on torch tensors - a JPEG-like
quantisation of 8x8 block DCT coefficients with the standard luminance table (straight-through
rounding), Gaussian blur, a zero-phase sub-pixel resampling and noise - the robust-watermarking recipe
(e.g. Zhu et al., "HiDDeN: hiding data with deep networks", ECCV 2018), applied to the fused image before
the reverse pass, so that the decomposition learns to survive them.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .errors import UserInputError

__all__ = [
    "Perturbation",
    "parse_perturbations",
    "perturb_fused",
    "FusedPerturbation",
    "jpeg_quant_table",
    "jpeg_like",
    "TRAIN_KINDS",
]

_SPEC = re.compile(r"^(png|jpeg|blur|shift|noise)(\d+(?:\.\d+)?)?$")


@dataclass(frozen=True)
class Perturbation:
    """One named perturbation of a saved fused image (``kind`` and its parameter)."""

    name: str
    kind: str
    value: float = 0.0

    @property
    def moves_image(self) -> bool:
        """Whether the sources must be moved the same way before scoring (a resampling shift)."""
        return self.kind == "shift"


def parse_perturbations(text: str | None) -> list[Perturbation]:
    """``"jpeg95,jpeg85,blur0.5,shift0.5,noise1"`` as a list of :class:`Perturbation` (``None`` -> [])."""
    if text is None:
        return []
    out: list[Perturbation] = []
    for raw in text.split(","):
        name = raw.strip().lower()
        m = _SPEC.match(name)
        if not m:
            raise UserInputError(f"--perturb: unknown perturbation {raw.strip()!r}; use png, jpegQ (1-100), "
                                 "blurS, shiftS, noiseS, e.g. jpeg95,jpeg85,blur0.5,shift0.5,noise1")
        kind, value = m.group(1), m.group(2)
        if kind == "png":
            if value is not None:
                raise UserInputError(f"--perturb: png takes no parameter, got {raw.strip()!r}")
            v = 0.0
        else:
            if value is None:
                raise UserInputError(f"--perturb: {kind} needs a parameter, e.g. {kind}1, got {raw.strip()!r}")
            v = float(value)
            if kind == "jpeg" and not (v.is_integer() and 1 <= v <= 100):
                raise UserInputError(f"--perturb: JPEG quality must be an integer 1-100, got {raw.strip()!r}")
            if kind == "shift" and not 0 <= v <= 1:
                raise UserInputError(f"--perturb: shift must be between 0 and 1 pixel, got {raw.strip()!r}")
            if kind == "blur" and v > 20:
                raise UserInputError(f"--perturb: blur sigma must be at most 20 pixels, got {raw.strip()!r}")
        if any(p.name == name for p in out):
            raise UserInputError(f"--perturb: {name!r} given twice")
        out.append(Perturbation(name, kind, v))
    if not out:
        raise UserInputError("--perturb is empty")
    return out


# ----------------------------------------------------------------------------------------------------
# Evaluation: real operations on NumPy images


def _to8(img: np.ndarray) -> np.ndarray:
    return np.floor(np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _jpeg(img8: np.ndarray, quality: int) -> np.ndarray:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img8, mode="L").save(buf, format="JPEG", quality=int(quality))
    buf.seek(0)
    return np.asarray(Image.open(buf).convert("L"), dtype=np.uint8)


def _gauss_kernel(sigma: float) -> np.ndarray:
    radius = max(1, int(math.ceil(3.0 * sigma)))
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def _filter_axis(img: np.ndarray, k: np.ndarray, axis: int) -> np.ndarray:
    r = len(k) // 2
    pad = [(0, 0)] * img.ndim
    pad[axis] = (r, r)
    p = np.pad(img, pad, mode="reflect" if img.shape[axis] > r else "edge")
    out = np.zeros_like(img, dtype=np.float64)
    n = img.shape[axis]
    for t, w in enumerate(k):
        out += w * np.take(p, np.arange(t, t + n), axis=axis)
    return out


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return img.astype(np.float64)
    k = _gauss_kernel(sigma)
    return _filter_axis(_filter_axis(img.astype(np.float64), k, -1), k, -2)


def _shift(img: np.ndarray, s: float) -> np.ndarray:
    """Bilinear resampling at (i - s, j - s): the image moves s pixels down and right (edges repeated)."""
    out = img.astype(np.float64)
    for axis in (-2, -1):
        prev = np.concatenate([np.take(out, [0], axis=axis),
                               np.take(out, np.arange(out.shape[axis] - 1), axis=axis)], axis=axis)
        out = (1.0 - s) * out + s * prev
    return out


def perturb_fused(fused: np.ndarray, sources: np.ndarray, p: Perturbation, seed: int = 0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Save ``fused`` (N, H, W) in [0, 1] as 8-bit, apply ``p``, save as 8-bit again.

    Returns ``(perturbed fused (N, H, W) float32 in [0, 1], the sources to score against (N, 2, H, W))``:
    the sources unchanged, or shifted like the image for ``shift``. ``seed`` fixes the noise.
    """
    f8 = _to8(np.asarray(fused, dtype=np.float64))
    src = np.asarray(sources, dtype=np.float64)
    if p.kind == "png":
        out = f8
    elif p.kind == "jpeg":
        out = np.stack([_jpeg(img, int(p.value)) for img in f8])
    elif p.kind == "blur":
        out = _to8(_blur(f8 / 255.0, p.value))
    elif p.kind == "shift":
        out = _to8(_shift(f8 / 255.0, p.value))
        src = np.clip(_shift(src, p.value), 0.0, 1.0)
    elif p.kind == "noise":
        rng = np.random.default_rng([seed, 7919])
        out = _to8(f8 / 255.0 + rng.normal(0.0, p.value / 255.0, f8.shape))
    else:  # pragma: no cover - parse_perturbations admits no other kind
        raise ValueError(p.kind)
    return (out.astype(np.float32) / 255.0), src.astype(np.float32)


# ----------------------------------------------------------------------------------------------------
# Training: differentiable stand-ins on torch tensors

#: The luminance quantisation table of the JPEG standard (ITU-T T.81, Annex K, Table K.1).
_JPEG_LUMA = torch.tensor([
    [16, 11, 10, 16, 24, 40, 51, 61], [12, 12, 14, 19, 26, 58, 60, 55],
    [14, 13, 16, 24, 40, 57, 69, 56], [14, 17, 22, 29, 51, 87, 80, 62],
    [18, 22, 37, 56, 68, 109, 103, 77], [24, 35, 55, 64, 81, 104, 113, 92],
    [49, 64, 78, 87, 103, 121, 120, 101], [72, 92, 95, 98, 112, 100, 103, 99],
], dtype=torch.float64)


def jpeg_quant_table(quality: float) -> torch.Tensor:
    """The 8x8 luminance table at ``quality`` (1-100), scaled as libjpeg scales it."""
    q = float(min(max(quality, 1.0), 100.0))
    scale = 5000.0 / q if q < 50 else 200.0 - 2.0 * q
    return torch.clamp(torch.floor((_JPEG_LUMA * scale + 50.0) / 100.0), 1.0, 255.0)


def _dct_matrix(n: int = 8) -> torch.Tensor:
    k = torch.arange(n, dtype=torch.float64)
    m = torch.cos(math.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n)) * math.sqrt(2.0 / n)
    m[0] /= math.sqrt(2.0)
    return m  # orthonormal DCT-II: coefficients = M @ block @ M.T


def _round_ste(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


def jpeg_like(x: torch.Tensor, quality: torch.Tensor | float) -> torch.Tensor:
    """JPEG-like compression of (N, 1, H, W) images in [0, 1]: 8x8 block DCT of the 8-bit values, each
    coefficient rounded to a multiple of the quality-scaled luminance table (straight-through gradient),
    inverse DCT. ``quality``: one value or one per image. Sizes that are not multiples of 8 are padded
    by edge replication (as encoders do) and cropped back."""
    n, c, h, w = x.shape
    ph, pw = (-h) % 8, (-w) % 8
    v = F.pad(x, (0, pw, 0, ph), mode="replicate") if ph or pw else x
    hh, ww = v.shape[2:]
    m = _dct_matrix().to(x.dtype).to(x.device)
    blocks = (v * 255.0 - 128.0).reshape(n, c, hh // 8, 8, ww // 8, 8).permute(0, 1, 2, 4, 3, 5)
    coef = m @ blocks @ m.t()
    qs = torch.as_tensor(quality, dtype=torch.float64).reshape(-1)
    tables = torch.stack([jpeg_quant_table(float(q)) for q in qs]).to(x.dtype).to(x.device)
    tables = tables.reshape(-1, 1, 1, 1, 8, 8)
    coef = _round_ste(coef / tables) * tables
    out = (m.t() @ coef @ m).permute(0, 1, 2, 4, 3, 5).reshape(n, c, hh, ww)
    out = (out + 128.0) / 255.0
    return out[:, :, :h, :w].clamp(0.0, 1.0)


def _separable(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Filter one image (1, 1, H, W) with the 1-D kernel ``k`` along both axes, reflecting at the edges."""
    r = k.numel() // 2
    kk = k.to(x.dtype).to(x.device)
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), kk.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), kk.view(1, 1, -1, 1))


#: What a training perturbation can be.
TRAIN_KINDS = ("jpeg", "blur", "shift", "noise")
_RANGE_FIELD = {"jpeg": "jpeg_quality", "blur": "blur_sigma", "shift": "shift", "noise": "noise"}


@dataclass
class FusedPerturbation:
    """Random, differentiable perturbations of a fused training batch (N, 1, H, W) in [0, 1].

    Each image independently stays untouched with probability ``1 - share`` or gets one of ``kinds``,
    chosen uniformly, with a random strength: JPEG-like quality in ``jpeg_quality``, blur sigma in
    ``blur_sigma`` pixels, a zero-phase sub-pixel resampling (shift by s, then back by s, along each axis,
    s in ``shift``) or Gaussian noise of sigma in ``noise`` grey levels. Draws come from the generator
    passed in (the trainer's, so a seeded, resumed run repeats them) or torch's global one.
    """

    kinds: tuple[str, ...] = TRAIN_KINDS
    share: float = 0.5
    jpeg_quality: tuple[float, float] = (80.0, 98.0)
    blur_sigma: tuple[float, float] = (0.3, 0.8)
    shift: tuple[float, float] = (0.1, 0.5)
    noise: tuple[float, float] = (0.5, 2.0)

    def __post_init__(self) -> None:
        self.kinds = tuple(self.kinds)
        bad = [k for k in self.kinds if k not in TRAIN_KINDS]
        if bad or not self.kinds:
            raise ValueError(f"training perturbations must be some of {', '.join(TRAIN_KINDS)}, got {self.kinds}")
        if not 0.0 <= self.share <= 1.0:
            raise ValueError(f"perturbation share must be in [0, 1], got {self.share}")

    @classmethod
    def from_spec(cls, spec: str, share: float = 0.5) -> FusedPerturbation:
        """``"jpeg,blur,shift,noise"`` (a subset, comma-separated); each kind may give its strength range,
        ``"jpeg:85-95,blur:0.4-0.8,shift:0.25-0.5,noise:1-2"`` (JPEG quality, blur sigma and shift in
        pixels, noise sigma in grey levels)."""
        kinds, ranges = [], {}
        for item in (k.strip() for k in spec.split(",")):
            if not item:
                continue
            kind, _, span = item.partition(":")
            kinds.append(kind)
            if span:
                lo, sep, hi = span.partition("-")
                try:
                    a, b = float(lo), float(hi if sep else lo)
                except ValueError:
                    raise ValueError(f"training perturbation {item!r}: the range must be LO-HI, e.g. blur:0.4-0.8"
                                     ) from None
                if not 0 <= a <= b:
                    raise ValueError(f"training perturbation {item!r}: need 0 <= LO <= HI")
                field_name = _RANGE_FIELD.get(kind)
                if field_name is None:
                    raise ValueError(f"training perturbations must be some of {', '.join(TRAIN_KINDS)}, got {kind!r}")
                if kind == "jpeg" and not (1 <= a and b <= 100):
                    raise ValueError(f"training perturbation {item!r}: JPEG quality must lie in 1-100")
                if kind == "shift" and b > 0.5:
                    raise ValueError(f"training perturbation {item!r}: a zero-phase shift beyond 0.5 px is one "
                                     "below 0.5 px the other way")
                ranges[field_name] = (a, b)
        return cls(kinds=tuple(kinds), share=share, **ranges)

    def __call__(self, fused: torch.Tensor, generator: torch.Generator | None = None, lo: int = 0,
                 total: int | None = None) -> torch.Tensor:
        """Perturb ``fused`` (N, 1, H, W). For data-parallel training, ``fused`` is rows ``lo`` to ``lo + N``
        of a global batch of ``total``: the draws are made for the whole global batch from ``generator``
        and sliced, so every rank stays in step and the images get what a single process would give them."""
        n = fused.shape[0]
        total = n if total is None else total
        dev = fused.device
        apply = (torch.rand(total, generator=generator, device=dev) < self.share)[lo : lo + n]
        choice = torch.randint(0, len(self.kinds), (total,), generator=generator, device=dev)[lo : lo + n]
        strength = torch.rand(total, generator=generator, device=dev)[lo : lo + n]
        gauss = None
        if "noise" in self.kinds:
            gauss = torch.randn(total, *fused.shape[1:], generator=generator, device=dev, dtype=fused.dtype)
            gauss = gauss[lo : lo + n]
        out = []
        for i in range(n):
            img = fused[i : i + 1]
            if bool(apply[i]):
                kind = self.kinds[int(choice[i])]
                u = float(strength[i])
                if kind == "jpeg":
                    lo_q, hi_q = self.jpeg_quality
                    img = jpeg_like(img, round(lo_q + u * (hi_q - lo_q)))
                elif kind == "blur":
                    a, b = self.blur_sigma
                    img = _separable(img, torch.from_numpy(_gauss_kernel(a + u * (b - a))))
                elif kind == "shift":
                    a, b = self.shift
                    sh = a + u * (b - a)
                    t = sh * (1.0 - sh)
                    img = _separable(img, torch.tensor([t, 1.0 - 2.0 * t, t], dtype=torch.float64))
                else:  # noise
                    a, b = self.noise
                    img = img + gauss[i : i + 1] * ((a + u * (b - a)) / 255.0)
                img = img.clamp(0.0, 1.0)
            out.append(img)
        return torch.cat(out)
