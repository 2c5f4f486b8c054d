"""Baselines FusionINN is compared with: training-free rules and small CNNs.

``rules`` holds the classic rules (average, maximum, PCA, Laplacian pyramid, DWT, guided filter),
``cnn`` the CNN architectures of the published comparison, ``registry`` the uniform method interface
(``rule_method``, ``cnn_method``, ``build_cnn``) that evaluation code uses. See docs/baselines.md.
"""

from .cnn import DeepFuse, FunFuseAn, FusionCNN, HalfUNet, UNet, UNet3Plus, UNetPlusPlus
from .registry import (
    CNN_BASELINES,
    RULES,
    CNNMethod,
    RuleMethod,
    build_cnn,
    check_pairs,
    cnn_method,
    rule_method,
)
from .rules import fuse_average, fuse_dwt, fuse_guided, fuse_laplacian, fuse_maximum, fuse_pca

__all__ = [
    "RULES",
    "CNN_BASELINES",
    "RuleMethod",
    "CNNMethod",
    "rule_method",
    "cnn_method",
    "build_cnn",
    "check_pairs",
    "FusionCNN",
    "DeepFuse",
    "FunFuseAn",
    "HalfUNet",
    "UNet",
    "UNetPlusPlus",
    "UNet3Plus",
    "fuse_average",
    "fuse_maximum",
    "fuse_pca",
    "fuse_laplacian",
    "fuse_dwt",
    "fuse_guided",
]
