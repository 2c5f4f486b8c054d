"""Chen-Blum Q_CB as VIFB runs it (``metricsQcb.m``, from the Liu toolbox's ``metricChenBlum.m``).

Y. Chen and R. S. Blum, "A new automated quality assessment algorithm for image fusion", Image and
Vision Computing 27(10):1421-1432, 2009, doi:10.1016/j.imavis.2007.12.002.

Steps as in the MATLAB file: each image min-max normalised and rounded to 0..255 (``normalize1``; an
all-zero image is left as it is); contrast-sensitivity filtering in the frequency domain with the DoG
S(r) = exp(-(r/f0)^2) - a exp(-(r/f1)^2), f0 15.3870, f1 1.3456, a 0.7622, on the ``freqspace`` grid
scaled by W/30 and H/30; local contrast C = (G_2 * I) / (G_4 * I) - 1 with unnormalised 31x31 Gaussians
(sigma 2 and 4, ``filter2(..., 'same')``, zero padding), |C|, the masking C' = C^3 / (C^2 + 1e-4);
preservation Q_SF = min/max ratio of C'_S and C'_F, saliency weights C'_A^2 / (C'_A^2 + C'_B^2), mean of
the weighted sum.

Round-off and the complex part: for an even side the ``freqspace`` grid has a -Nyquist frequency without a
+Nyquist partner, so the filtered image is complex; the code keeps it complex and takes |C| of the complex
contrast - reproduced. ``freqspace`` is written out from MATLAB's documentation
(``((0:n-1) - floor(n/2)) * 2/n``; Octave lacks it). The Gaussian filters run by FFT here (exact to
~1e-12 relative). A constant non-zero image makes ``normalize1`` divide 0 by 0 (NaN in MATLAB); we map it
to all zeros.
"""

from __future__ import annotations

import numpy as np
from scipy import fft as sfft

from .registry import MetricSpec

__all__ = ["freqspace", "normalize1", "qcb_vifb", "VARIANTS"]

_F0, _F1, _A = 15.3870, 1.3456, 0.7622
_Z = 0.0001


def freqspace(n: int) -> np.ndarray:
    """MATLAB's 1-D ``freqspace`` of n points: ``((0:n-1) - floor(n/2)) * 2 / n``."""
    return (np.arange(n) - n // 2) * (2.0 / n)


def normalize1(x: np.ndarray) -> np.ndarray:
    """The Liu toolbox's ``normalize1``: min-max to 0..255, rounded halves away from zero."""
    hi, lo = x.max(), x.min()
    if hi == 0 and lo == 0:
        return x.astype(np.float64)
    if hi == lo:  # MATLAB: 0/0 -> NaN; defined here as all zeros
        return np.zeros(x.shape)
    return np.floor((x - lo) / (hi - lo) * 255.0 + 0.5)


def csf_filter(images: np.ndarray, response: np.ndarray) -> np.ndarray:
    """``ifft2(ifftshift(fftshift(fft2(x)) .* response))`` for a stack; ``response`` is centred."""
    return sfft.ifft2(sfft.fft2(images, axes=(-2, -1)) * np.fft.ifftshift(response), axes=(-2, -1))


def _gaussian_31(sigma: float) -> np.ndarray:
    x = np.arange(-15, 16, dtype=np.float64)
    return np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma * sigma)) / (2 * np.pi * sigma * sigma)


def _same_filter_pair(images: np.ndarray, kernels: list[np.ndarray]) -> list[np.ndarray]:
    """``filter2(k, x, 'same')`` (zero padding) for each kernel, by one zero-padded FFT of the stack."""
    h, w = images.shape[-2:]
    kh, kw = kernels[0].shape
    shape = (sfft.next_fast_len(h + kh - 1), sfft.next_fast_len(w + kw - 1))
    spec = sfft.fft2(images, s=shape, axes=(-2, -1))
    out = []
    for k in kernels:  # symmetric kernels: correlation == convolution
        full = sfft.ifft2(spec * sfft.fft2(k, s=shape), axes=(-2, -1))
        r0, c0 = kh // 2, kw // 2
        out.append(full[..., r0 : r0 + h, c0 : c0 + w])
    return out


def qcb_vifb(a: np.ndarray, b: np.ndarray, f: np.ndarray) -> float:
    """``metricsQcb.m`` on one channel (0..255 grey values)."""
    h, w = f.shape
    u = freqspace(w) * (w / 30.0)
    v = freqspace(h) * (h / 30.0)
    r = np.sqrt(u[None, :] ** 2 + v[:, None] ** 2)
    sd = np.exp(-((r / _F0) ** 2)) - _A * np.exp(-((r / _F1) ** 2))
    filtered = csf_filter(np.stack([normalize1(a), normalize1(b), normalize1(f)]), sd)
    g2, g4 = _same_filter_pair(filtered, [_gaussian_31(2.0), _gaussian_31(4.0)])
    # 0/0 only on exactly empty images (the code's NaN): no contrast there (0), fully preserved (1),
    # equal saliency (1/2). Real images never reach these branches.
    c = np.abs(_ratio(g2, g4, 1.0) - 1.0)
    cp = c**3 / (c**2 + _Z)
    c1, c2, cf = cp[0], cp[1], cp[2]
    q1 = np.where(c1 < cf, _ratio(c1, cf, 1.0), _ratio(cf, c1, 1.0))
    q2 = np.where(c2 < cf, _ratio(c2, cf, 1.0), _ratio(cf, c2, 1.0))
    s1, s2 = c1 * c1, c2 * c2
    lam = _ratio(s1, s1 + s2, 0.5)
    return float(np.mean(lam * q1 + (1.0 - lam) * q2))


def _ratio(num: np.ndarray, den: np.ndarray, if_zero: float) -> np.ndarray:
    out = np.full(np.broadcast(num, den).shape, if_zero, dtype=np.result_type(num, den))
    np.divide(num, den, out=out, where=den != 0)
    return out


VARIANTS: tuple[MetricSpec, ...] = (
    MetricSpec(
        key="qcb@vifb",
        function=qcb_vifb,
        formula="Chen & Blum 2009, doi:10.1016/j.imavis.2007.12.002",
        reference="xingchenzhang/VIFB:metrics/metricsQcb.m",
        inputs="8bit",
        colour="mean",
        higher_is_better=True,
        note="normalize1, DoG CSF on freqspace scaled by W/30, H/30, complex contrast kept (|C|); "
        "freqspace shim from MATLAB's documentation.",
    ),
)
