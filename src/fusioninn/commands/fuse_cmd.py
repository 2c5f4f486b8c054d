"""fusioninn fuse A B -o FUSED [--save-latent Z.npz] [--series S ...] [--format nifti|dicom]"""

from __future__ import annotations

import argparse

from ._common import add_dicom_arguments, add_model_arguments


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..inputs import positive_int

    p.add_argument("a", help="first source (T1ce): PNG/TIFF/JPEG/NPY image, NIfTI volume or DICOM series folder")
    p.add_argument("b", help="second source (FLAIR), same kind and voxel grid as A")
    p.add_argument("-o", "--out", required=True,
                   help="fused output: .png/.tif/.npy for images, .nii.gz for volumes, or a new folder with "
                        "--format dicom")
    add_dicom_arguments(p, twice=True)
    p.add_argument("--save-latent", metavar="Z", help="also write the latent (.npz) for exact decomposition")
    p.add_argument("--names", default="t1ce,flair", help="names of the two sources (default t1ce,flair)")
    p.add_argument("--batch-slices", type=positive_int, default=16,
                   help="slices per batch for volumes (fewer when memory is short)")
    add_model_arguments(p)


def run(args: argparse.Namespace) -> int:
    from ..atomic import output_group
    from ..inference import fuse_files
    from ._common import check_inputs_exist, check_series_option, load_model, parse_names

    names = parse_names(args.names)
    check_inputs_exist(*(args.a, args.b), dicom_folders=True)  # before the (slower) model load
    check_series_option(args.series, 2)
    model = load_model(args)
    with output_group():  # a failure on the latent also removes (or restores) the fused file written before it
        report = fuse_files(model, args.a, args.b, args.out, args.save_latent, names=names,
                            batch_slices=args.batch_slices, series=args.series, out_format=args.format)
    extra = f", latent {report.latent}" if report.latent else ""
    print(f"fused {args.a} + {args.b} -> {report.fused}{extra} "
          f"in {report.seconds:.2f} s")
    return 0
