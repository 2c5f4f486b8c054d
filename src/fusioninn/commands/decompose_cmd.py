"""fusioninn decompose FUSED -o OUTDIR [--latent Z.npz] [--samples K] [--series S] [--format nifti|dicom]"""

from __future__ import annotations

import argparse

from ._common import add_dicom_arguments, add_model_arguments


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..inputs import positive_int, seed_int

    p.add_argument("fused", help="fused image (.png/.tif/.npy), volume (.nii.gz) or DICOM series folder written "
                                 "by `fusioninn fuse`")
    p.add_argument("-o", "--out", required=True, help="output folder")
    p.add_argument("--latent", help="latent .npz from `fuse --save-latent`: exact decomposition")
    p.add_argument("--samples", type=int, default=1,
                   help="K fresh latents: output their mean and a per-pixel std map (uncertainty)")
    p.add_argument("--seed", type=seed_int, help="seed of the sampled latents (repeatable output)")
    p.add_argument("--names", help="names of the two outputs (default: from the latent, else source1,source2)")
    p.add_argument("--batch-slices", type=positive_int, default=16,
                   help="slices per batch for volumes (fewer when memory is short)")
    add_dicom_arguments(p, twice=False)
    add_model_arguments(p)


def run(args: argparse.Namespace) -> int:
    import time

    from ..atomic import output_group
    from ..errors import UserInputError
    from ..inference import decompose_file
    from ._common import check_inputs_exist, check_series_option, load_model, parse_names

    if args.latent and args.samples != 1:
        raise UserInputError("--samples has no effect with --latent (the decomposition is exact)")
    names = parse_names(args.names)
    check_inputs_exist(args.fused, dicom_folders=True)  # before the (slower) model load
    check_inputs_exist(args.latent)
    series = check_series_option(args.series, 1)
    model = load_model(args)
    t0 = time.perf_counter()
    with output_group():  # all outputs or none
        written = decompose_file(model, args.fused, args.out, args.latent, samples=args.samples, seed=args.seed,
                                 names=names, batch_slices=args.batch_slices, series=series, out_format=args.format)
    mode = "exact (latent)" if args.latent else f"sampled latent, K={args.samples}"
    print(f"decomposed {args.fused} [{mode}] in {time.perf_counter() - t0:.2f} s:")
    for path in written:
        print(f"  {path}")
    return 0
