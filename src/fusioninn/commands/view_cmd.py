"""fusioninn view A B -o case.html [--latent L] [--samples K] [--method NAME] [--seg FILE] [--series S ...]"""

from __future__ import annotations

import argparse

from ._common import add_dicom_arguments, add_model_arguments


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..inputs import positive_int, seed_int

    p.add_argument("a", help="first source (T1ce): PNG/TIFF/JPEG/NPY image, NIfTI volume or DICOM series folder")
    p.add_argument("b", help="second source (FLAIR), same kind and voxel grid as A")
    add_dicom_arguments(p, twice=True, output_format=False)
    p.add_argument("-o", "--out", required=True, help="the HTML file to write (self-contained, opens offline)")
    p.add_argument("--latent", help="latent .npz from `fuse --save-latent`: show that fused image")
    p.add_argument("--samples", type=positive_int, default=8,
                   help="K sampled latents: decomposed = their mean, uncertainty = their std (default 8)")
    p.add_argument("--method", default="fusioninn", help="fusion method of the fused and share panels")
    p.add_argument("--seg", metavar="FILE", help="segmentation (BraTS labels) drawn as an outline")
    p.add_argument("--steps", type=positive_int, default=8,
                   help="Gauss-Legendre steps (secant rule) of the share panel (default 8; completeness is printed)")
    p.add_argument("--no-contributions", action="store_true", help="skip the share panel (much faster)")
    p.add_argument("--bits", type=int, default=None,
                   help="bits per stored value of every computed panel, 8-16 (default: 11 fused, 10 decomposed, 9 "
                        "uncertainty and contributions, so a BraTS case fits 25 MB); the readout is exact to "
                        "1/(2 * (2**bits - 1)) of each slice's range")
    p.add_argument("--seed", type=seed_int, default=0, help="seed of the sampled latents (default 0)")
    p.add_argument("--batch-slices", type=positive_int, default=8, help="slices per batch for volumes")
    add_model_arguments(p)


def run(args: argparse.Namespace) -> int:
    import time

    from ..atomic import check_output_folder, guard_outputs
    from ..device import configure_threads, resolve_device
    from ..errors import UserInputError
    from ..inference import refuse_outputs_inside_dicom_inputs
    from ..viewer import build_case, write_viewer
    from ._common import check_inputs_exist, check_series_option

    if args.bits is not None and not 8 <= args.bits <= 16:
        raise UserInputError(f"--bits must be between 8 and 16, got {args.bits}")
    if not args.out.lower().endswith((".html", ".htm")):
        raise UserInputError("the viewer is an HTML file: name it .html", args.out)
    check_inputs_exist(args.a, args.b, dicom_folders=True)
    check_inputs_exist(args.latent, args.seg, args.model)
    series = check_series_option(args.series, 2)
    check_output_folder(args.out)
    guard_outputs([args.a, args.b, args.latent, args.seg, args.model], [args.out])
    refuse_outputs_inside_dicom_inputs([args.a, args.b], [args.out])
    configure_threads(args.threads)
    t0 = time.perf_counter()
    case = build_case(args.a, args.b, latent=args.latent, samples=args.samples, method=args.method, seg=args.seg,
                      contributions=not args.no_contributions, steps=args.steps, model_path=args.model,
                      device=resolve_device(args.device), seed=args.seed, batch_slices=args.batch_slices,
                      progress=True, series=series)
    info = write_viewer(case, args.out, bits=args.bits)
    s = case.seconds
    contrib = ("" if case.completeness_max_abs is None else
               f"; share panel: {s.get('contributions_slices', 0)} slices in {s['contributions']:.1f} s, "
               f"completeness max {case.completeness_max_abs:.2e}"
               + (f" at {case.steps} steps" if case.steps else " (exact rule weights)"))
    print(f"wrote {args.out} ({info['bytes'] / 1e6:.1f} MB) in {time.perf_counter() - t0:.1f} s{contrib} "
          f"[read {s['read']:.1f} s, fuse {s['fuse']:.1f} s, decompose x{case.samples} {s['decompose']:.1f} s, "
          f"share panel {s['contributions']:.1f} s, page {info['seconds_write']:.1f} s]")
    return 0
