"""fusioninn explain A B -o DIR [--method NAME] [--steps K] [--seg FILE] [--series S ...]"""

from __future__ import annotations

import argparse

from ._common import add_dicom_arguments, add_model_arguments


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..inputs import positive_int

    p.add_argument("a", help="first source (T1ce): PNG/TIFF/JPEG/NPY image, NIfTI volume or DICOM series folder")
    p.add_argument("b", help="second source (FLAIR), same kind and voxel grid as A")
    p.add_argument("-o", "--out", required=True,
                   help="output folder (created if missing); maps of volumes (NIfTI or DICOM) are NIfTI float32")
    add_dicom_arguments(p, twice=True, output_format=False)
    p.add_argument("--method", default="fusioninn",
                   help="fusioninn (default), a rule (average, maximum, pca, laplacian, dwt, guided) or a CNN "
                        "baseline (deepfuse, funfusean, halfunet, unet, unetpp, unet3p)")
    p.add_argument("--steps", type=positive_int, default=32,
                   help="Gauss-Legendre points on the path (networks, secant rule; default 32)")
    p.add_argument("--seg", metavar="FILE", help="BraTS segmentation (labels 0/1/2/4): mean shares per label")
    p.add_argument("--batch-slices", type=positive_int, default=4, help="slices per batch for volumes (memory bound)")
    add_model_arguments(p)


def run(args: argparse.Namespace) -> int:
    from ..device import configure_threads, resolve_device
    from ..explain import explain_files
    from ._common import check_inputs_exist, check_series_option

    check_inputs_exist(args.a, args.b, dicom_folders=True)
    check_inputs_exist(args.seg, args.model)
    series = check_series_option(args.series, 2)
    configure_threads(args.threads)
    report = explain_files(args.a, args.b, args.out, method=args.method, steps=args.steps, seg_path=args.seg,
                           model_path=args.model, device=resolve_device(args.device),
                           batch_slices=args.batch_slices, progress=True, series=series)
    s = report.summary
    steps = f"{s['steps']} steps" if s["steps"] else "exact weights"
    first_share = next(iter(s["mean_share"].values()))
    share = "n/a (no brain)" if first_share is None else f"{first_share:.3f}"
    labels = [f"{path} [series {label}]" if label else path
              for path, label in zip((args.a, args.b), s.get("series") or (None, None), strict=True)]
    print(f"explained {labels[0]} + {labels[1]} with {s['method']} ({steps}): completeness max |residual| "
          f"{s['completeness_max_abs']:.2e}, mean share of the first source {share}; "
          f"wrote {len(report.written)} files to {args.out} in {report.seconds:.1f} s")
    return 0
