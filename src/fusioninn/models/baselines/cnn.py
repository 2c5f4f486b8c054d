"""The CNN fusion baselines of the FusionINN comparison, at widths small enough to train on a CPU.

Written from the architectures' published descriptions; each class docstring cites its paper and says
what we shrank. All share one contract (:class:`FusionCNN`):

* ``forward(x)`` takes the stacked source pair, float (N, 2, H, W) in [0, 1], and returns the fused
  image (N, 1, H, W) in [0, 1] (a sigmoid ends every network, so the fusion loss sees a proper image);
* any H, W: encoder-decoders pad internally (edge replication) to the multiple their poolings need and
  crop back;
* ``count_parameters()`` gives the number of trainable parameters; ``config`` holds the constructor
  arguments, so a checkpoint can rebuild the architecture with ``type(model)(**model.config)``.

Batch normalisation is used throughout (as in the networks trained for the published FusionINN
comparison), so call ``model.eval()`` before inference.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FusionCNN", "DeepFuse", "FunFuseAn", "HalfUNet", "UNet", "UNetPlusPlus", "UNet3Plus"]


def _conv_bn_act(c_in: int, c_out: int, kernel: int = 3, act: nn.Module | None = None) -> nn.Sequential:
    """Convolution ('same' padding), batch norm, activation (ReLU unless given)."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(c_out),
        act if act is not None else nn.ReLU(inplace=True),
    )


def _double_conv(c_in: int, c_out: int) -> nn.Sequential:
    """The U-Net unit: two (3×3 conv, BN, ReLU) layers."""
    return nn.Sequential(_conv_bn_act(c_in, c_out), _conv_bn_act(c_out, c_out))


def _widths(widths: Sequence[int], n: int, name: str) -> tuple[int, ...]:
    w = tuple(int(v) for v in widths)
    if len(w) != n or min(w) < 1:
        raise ValueError(f"{name}: widths must be {n} positive integers, got {tuple(widths)}")
    return w


class FusionCNN(nn.Module):
    """Base class: input checks, padding to ``multiple``, crop, sigmoid. Subclasses define ``_logits``."""

    #: H and W are padded up to a multiple of this (2 ** number of poolings) before ``_logits``.
    multiple: int = 1

    def __init__(self) -> None:
        super().__init__()
        self.config: dict = {}

    def _logits(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Fuse a stacked pair (N, 2, H, W) in [0, 1] into (N, 1, H, W) in [0, 1]."""
        if x.dim() != 4 or x.shape[1] != 2:
            raise ValueError(
                f"{type(self).__name__} expects input of shape (N, 2, H, W), got {tuple(x.shape)}"
            )
        h, w = x.shape[-2:]
        m = self.multiple
        pad_h, pad_w = (-h) % m, (-w) % m
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        out = self._logits(x)[..., :h, :w]
        return torch.sigmoid(out)

    def count_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    parameter_count = count_parameters  # same name as FusionINN's


# ----------------------------------------------------------------------------------------------
# Two-branch networks (no resolution change)


class DeepFuse(FusionCNN):
    """DeepFuse: Prabhakar, Srikar & Babu, "DeepFuse: A deep unsupervised approach for exposure fusion
    with extreme exposure image pairs", ICCV 2017, doi:10.1109/ICCV.2017.505.

    Feature extraction C1 (5×5, 16 ch) and C2 (7×7, 32 ch) applied to each source with *tied* weights,
    fusion by element-wise addition of the two C2 feature maps, reconstruction C3 (7×7, 32) → C4 (5×5, 16)
    → C5 (5×5, 1). Each conv is followed by BN and a leaky ReLU; the last by a sigmoid.

    Widths: the paper's (16, 32) are kept — they already give 89,057 parameters. Changes: BN added, and
    a sigmoid output on [0, 1] images instead of the paper's Y-channel output.
    """

    def __init__(self, widths: Sequence[int] = (16, 32)) -> None:
        super().__init__()
        c1, c2 = _widths(widths, 2, "DeepFuse")
        self.config = {"widths": [c1, c2]}
        lrelu = nn.LeakyReLU(0.2, inplace=True)
        self.extract = nn.Sequential(_conv_bn_act(1, c1, 5, lrelu), _conv_bn_act(c1, c2, 7, lrelu))
        self.reconstruct = nn.Sequential(
            _conv_bn_act(c2, c2, 7, nn.LeakyReLU(0.2, inplace=True)),
            _conv_bn_act(c2, c1, 5, nn.LeakyReLU(0.2, inplace=True)),
            nn.Conv2d(c1, 1, 5, padding=2),
        )

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        # tied weights: run both sources through the same extractor as one batch of 2N single images
        feats = self.extract(torch.cat([x[:, 0:1], x[:, 1:2]], dim=0))
        return self.reconstruct(feats[:n] + feats[n:])


class FunFuseAn(FusionCNN):
    """FunFuseAn: Kumar, Hoffmann, Oelschlägel, Koch, Kirsch & Gumhold, "Structural similarity based
    anatomical and functional brain imaging fusion", MBIA 2019 (MICCAI workshop), LNCS 11846,
    doi:10.1007/978-3-030-33226-6_14, arXiv:1908.03958.

    Two encoders per source, one for low and one for high frequencies, with *untied* weights (the two
    modalities differ): a single large-kernel conv for the low-frequency branch (9×9 for source 1,
    7×7 for source 2, 16 ch) and three convs for the high-frequency branch (3×3/3×3/3×3 for source 1,
    5×5/5×5/3×3 for source 2, 16 → 32 → ``hf_width`` ch). High-frequency features are fused by the
    element-wise maximum and reconstructed to 16 ch (5×5 convs); the low-frequency features of both
    sources and that reconstruction are averaged, and a final 5×5 conv plus sigmoid gives the image.

    Widths: the high-frequency branch ends at 48 channels instead of 64 (99,825 instead of 121,905
    parameters). Change: the code of the published comparison weights the maximum by the sum of both
    features, which divides by values near zero under leaky-ReLU features; we use ReLU features and the
    plain maximum, which keeps the "strongest response wins" rule and is numerically safe.
    """

    def __init__(self, hf_width: int = 48, lf_width: int = 16) -> None:
        super().__init__()
        hf, lf = int(hf_width), int(lf_width)
        if hf < 1 or lf < 1:
            raise ValueError(
                f"FunFuseAn: widths must be positive, got hf_width={hf_width}, lf_width={lf_width}"
            )
        self.config = {"hf_width": hf, "lf_width": lf}
        lrelu = nn.LeakyReLU(0.2, inplace=True)
        self.lf1 = _conv_bn_act(1, lf, 9, lrelu)
        self.lf2 = _conv_bn_act(1, lf, 7, nn.LeakyReLU(0.2, inplace=True))
        self.hf1 = nn.Sequential(_conv_bn_act(1, 16, 3), _conv_bn_act(16, 32, 3), _conv_bn_act(32, hf, 3))
        self.hf2 = nn.Sequential(_conv_bn_act(1, 16, 5), _conv_bn_act(16, 32, 5), _conv_bn_act(32, hf, 3))
        self.recon_hf = nn.Sequential(
            _conv_bn_act(hf, 32, 5, nn.LeakyReLU(0.2, inplace=True)),
            _conv_bn_act(32, lf, 5, nn.LeakyReLU(0.2, inplace=True)),
        )
        self.out = nn.Conv2d(lf, 1, 5, padding=2)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        s1, s2 = x[:, 0:1], x[:, 1:2]
        hf = self.recon_hf(torch.maximum(self.hf1(s1), self.hf2(s2)))
        return self.out((self.lf1(s1) + self.lf2(s2) + hf) / 3.0)


# ----------------------------------------------------------------------------------------------
# Encoder-decoders fed the stacked pair


class _Ghost(nn.Module):
    """Ghost module (Han et al., GhostNet, CVPR 2020): a 3×3 conv makes half the channels, a cheap
    depthwise 3×3 conv derives the other half from them; BN + ReLU after each."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        primary = (c_out + 1) // 2
        self.primary = _conv_bn_act(c_in, primary)
        self.cheap = nn.Sequential(
            nn.Conv2d(
                primary,
                c_out - primary,
                3,
                padding=1,
                groups=primary if c_out - primary == primary else 1,
                bias=False,
            ),
            nn.BatchNorm2d(c_out - primary),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.primary(x)
        return torch.cat([p, self.cheap(p)], dim=1)


class HalfUNet(FusionCNN):
    """Half-UNet: Lu, She, Tie & Xu, "Half-UNet: A simplified U-Net architecture for medical image
    segmentation", Frontiers in Neuroinformatics 16:911679, 2022, doi:10.3389/fninf.2022.911679.

    The paper's three simplifications of U-Net: (1) the same channel number at every level, (2) a
    full-scale fusion that upsamples every encoder level to full resolution and *adds* them instead of a
    decoder path, (3) ghost modules instead of plain convolutions. Five levels (four 2×2 max-poolings),
    two ghost modules per level, two after the fusion, a 1×1 conv and a sigmoid.

    Widths: 32 channels instead of 64: 53,505 parameters instead of ~0.21M.
    """

    multiple = 16

    def __init__(self, width: int = 32, levels: int = 5) -> None:
        super().__init__()
        c, n = int(width), int(levels)
        if c < 2 or n < 1:
            raise ValueError(f"HalfUNet: need width >= 2 and levels >= 1, got width={width}, levels={levels}")
        self.config = {"width": c, "levels": n}
        self.multiple = 2 ** (n - 1)
        self.encoders = nn.ModuleList(
            nn.Sequential(_Ghost(2 if i == 0 else c, c), _Ghost(c, c)) for i in range(n)
        )
        self.fuse = nn.Sequential(_Ghost(c, c), _Ghost(c, c))
        self.out = nn.Conv2d(c, 1, 1)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        total = None
        h = x
        for i, enc in enumerate(self.encoders):
            if i:
                h = F.max_pool2d(h, 2)
            h = enc(h)
            up = h if i == 0 else F.interpolate(h, size=size, mode="bilinear", align_corners=False)
            total = up if total is None else total + up
        return self.out(self.fuse(total))


class UNet(FusionCNN):
    """U-Net: Ronneberger, Fischer & Brox, "U-Net: Convolutional networks for biomedical image
    segmentation", MICCAI 2015, LNCS 9351, doi:10.1007/978-3-319-24574-4_28.

    Contracting path of double 3×3 conv units with 2×2 max-pooling, channels doubling per level;
    expanding path of 2×2 up-convolutions (transposed convs halving the channels), concatenation with
    the skip connection and a double conv; 1×1 conv to one channel and a sigmoid. Four poolings.

    Widths: (4, 8, 16, 32, 48) instead of (64, 128, 256, 512, 1024): 99,209 parameters instead of ~31.0M;
    'same' padding instead of the paper's unpadded convolutions, so no cropping of the skips.
    """

    def __init__(self, widths: Sequence[int] = (4, 8, 16, 32, 48)) -> None:
        super().__init__()
        w = _widths(widths, len(tuple(widths)), "UNet")
        if len(w) < 2:
            raise ValueError(f"UNet: need at least two levels of widths, got {w}")
        self.config = {"widths": list(w)}
        self.multiple = 2 ** (len(w) - 1)
        self.down = nn.ModuleList(_double_conv(2 if i == 0 else w[i - 1], w[i]) for i in range(len(w)))
        self.up = nn.ModuleList(nn.ConvTranspose2d(w[i + 1], w[i], 2, stride=2) for i in range(len(w) - 1))
        self.dec = nn.ModuleList(_double_conv(2 * w[i], w[i]) for i in range(len(w) - 1))
        self.out = nn.Conv2d(w[0], 1, 1)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        h = x
        for i, block in enumerate(self.down):
            if i:
                h = F.max_pool2d(h, 2)
            h = block(h)
            skips.append(h)
        for i in reversed(range(len(self.up))):
            h = self.dec[i](torch.cat([skips[i], self.up[i](h)], dim=1))
        return self.out(h)


class UNetPlusPlus(FusionCNN):
    """UNet++: Zhou, Rahman Siddiquee, Tajbakhsh & Liang, "UNet++: A nested U-Net architecture for
    medical image segmentation", DLMIA 2018 (MICCAI workshop), LNCS 11045, doi:10.1007/978-3-030-00889-5_1.

    Nested, dense skip pathways: node X(i, j) (level i, column j) is a double conv of the concatenation
    of X(i, 0..j-1) and the upsampled X(i+1, j-1). The output is a 1×1 conv on X(0, L) and a sigmoid.
    Four poolings.

    Widths: (4, 8, 16, 24, 32) instead of (32, 64, 128, 256, 512): 77,549 parameters instead of ~9.2M;
    bilinear upsampling instead of transposed convs; deep supervision (a segmentation training aid)
    not used — one output from the last node.
    """

    def __init__(self, widths: Sequence[int] = (4, 8, 16, 24, 32)) -> None:
        super().__init__()
        w = _widths(widths, len(tuple(widths)), "UNetPlusPlus")
        if len(w) < 2:
            raise ValueError(f"UNetPlusPlus: need at least two levels of widths, got {w}")
        self.config = {"widths": list(w)}
        depth = len(w) - 1
        self.multiple = 2**depth
        nodes = {}
        for i in range(depth + 1):
            nodes[f"{i}_0"] = _double_conv(2 if i == 0 else w[i - 1], w[i])
        for j in range(1, depth + 1):
            for i in range(depth + 1 - j):
                nodes[f"{i}_{j}"] = _double_conv(j * w[i] + w[i + 1], w[i])
        self.nodes = nn.ModuleDict(nodes)
        self.depth = depth
        self.out = nn.Conv2d(w[0], 1, 1)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        grid: dict[tuple[int, int], torch.Tensor] = {}
        h = x
        for i in range(self.depth + 1):
            if i:
                h = F.max_pool2d(h, 2)
            h = self.nodes[f"{i}_0"](h)
            grid[(i, 0)] = h
        for j in range(1, self.depth + 1):
            for i in range(self.depth + 1 - j):
                up = F.interpolate(grid[(i + 1, j - 1)], scale_factor=2, mode="bilinear", align_corners=False)
                same = [grid[(i, k)] for k in range(j)]
                grid[(i, j)] = self.nodes[f"{i}_{j}"](torch.cat([*same, up], dim=1))
        return self.out(grid[(0, self.depth)])


class UNet3Plus(FusionCNN):
    """UNet 3+: Huang, Lin, Tong, Hu, Zhang, Iwamoto, Han, Chen & Wu, "UNet 3+: A full-scale connected
    UNet for medical image segmentation", ICASSP 2020, doi:10.1109/ICASSP40776.2020.9053405.

    A U-Net encoder (double conv units, four poolings). Each decoder level d receives *all* scales:
    encoder levels finer than d max-pooled down, the encoder level d itself, and all coarser decoder
    levels (the bottleneck counts as one) bilinearly upsampled, each squeezed to ``cat`` channels by a
    3×3 conv + BN + ReLU; the five are concatenated (5·cat channels) and fused by a 3×3 conv + BN + ReLU.
    The output is a 3×3 conv on the finest decoder level and a sigmoid.

    Widths: encoder (4, 8, 16, 32, 48), cat = 4 (decoder 20 ch) instead of (64, …, 1024) and cat = 64
    (decoder 320 ch): 83,229 parameters instead of ~27.0M. Deep supervision and the classification-guided
    module (segmentation aids) are not used.
    """

    def __init__(self, widths: Sequence[int] = (4, 8, 16, 32, 48), cat: int = 4) -> None:
        super().__init__()
        w = _widths(widths, len(tuple(widths)), "UNet3Plus")
        cat = int(cat)
        if len(w) < 2 or cat < 1:
            raise ValueError(f"UNet3Plus: need >= 2 levels and cat >= 1, got widths={w}, cat={cat}")
        self.config = {"widths": list(w), "cat": cat}
        n = len(w)
        self.levels = n
        self.multiple = 2 ** (n - 1)
        up_ch = cat * n
        self.enc = nn.ModuleList(_double_conv(2 if i == 0 else w[i - 1], w[i]) for i in range(n))
        # squeeze[d][s]: from source scale s to decoder level d (d < n - 1; level n-1 is the bottleneck)
        squeeze = []
        for d in range(n - 1):
            row = []
            for s in range(n):
                if s <= d:
                    c_in = w[s]  # encoder level, pooled down (or same level)
                elif s == n - 1:
                    c_in = w[s]  # the bottleneck
                else:
                    c_in = up_ch  # a coarser decoder level
                row.append(_conv_bn_act(c_in, cat))
            squeeze.append(nn.ModuleList(row))
        self.squeeze = nn.ModuleList(squeeze)
        self.fuse = nn.ModuleList(_conv_bn_act(up_ch, up_ch) for _ in range(n - 1))
        self.out = nn.Conv2d(up_ch, 1, 3, padding=1)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        n = self.levels
        enc = []
        h = x
        for i, block in enumerate(self.enc):
            if i:
                h = F.max_pool2d(h, 2)
            h = block(h)
            enc.append(h)
        dec: dict[int, torch.Tensor] = {n - 1: enc[n - 1]}
        for d in reversed(range(n - 1)):
            size = enc[d].shape[-2:]
            parts = []
            for s in range(n):
                if s < d:
                    src = F.max_pool2d(enc[s], 2 ** (d - s))
                elif s == d:
                    src = enc[d]
                else:
                    src = F.interpolate(dec[s], size=size, mode="bilinear", align_corners=False)
                parts.append(self.squeeze[d][s](src))
            dec[d] = self.fuse[d](torch.cat(parts, dim=1))
        return self.out(dec[0])
