"""DICOM series written by the tests themselves, with pydicom, from a volume and its NIfTI affine.

Independent of :mod:`fusioninn.data.dicom` on purpose: this writer knows only the DICOM rules (pixel
(row r, column c) of slice k is voxel (c, r, k); ImagePositionPatient of slice k is the LPS position of
voxel (0, 0, k); PixelSpacing is (between rows, between columns)), so reading what it writes checks the
reader against the standard, not against itself. Also used by ``benchmarks/dicom_io.py``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"
MR = "1.2.840.10008.5.1.4.1.1.4"
LPS = np.array([[-1.0, 0, 0, 119.0], [0, -1.0, 0, 119.0], [0, 0, 1.0, -77.0], [0, 0, 0, 1]])


def reorient(data: np.ndarray, affine: np.ndarray, axcodes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The same image stored with other axis codes, e.g. ``("P", "I", "R")`` for sagittal slices."""
    from nibabel.orientations import apply_orientation, axcodes2ornt, inv_ornt_aff, io_orientation, ornt_transform

    ornt = ornt_transform(io_orientation(affine), axcodes2ornt(tuple(axcodes)))
    return apply_orientation(data, ornt), affine @ inv_ornt_aff(ornt, data.shape)


def _ds(x: float) -> str:
    for digits in range(12, 4, -1):
        t = f"{x:.{digits}g}"
        if len(t) <= 16:
            return t
    raise ValueError(x)


def _stored(data: np.ndarray, slope: float, intercept: float, signed: bool) -> np.ndarray:
    v = np.rint((np.asarray(data, dtype=np.float64) - intercept) / slope)
    lo, hi = (-32768, 32767) if signed else (0, 65535)
    if v.min() < lo or v.max() > hi:
        raise ValueError(f"values {v.min()}..{v.max()} do not fit 16 bits with slope {slope}, intercept {intercept}")
    return v.astype(np.int16 if signed else np.uint16)


def _common(patient_id: str, study_uid: str, series_uid: str, number: int, description: str, for_uid: str):
    from pydicom.dataset import Dataset

    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = "Phantom^Test"
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyInstanceUID = study_uid
    ds.StudyDate, ds.StudyTime = "20260101", "120000"
    ds.StudyID, ds.AccessionNumber, ds.ReferringPhysicianName = "1", "A1", ""
    ds.StudyDescription = "fusioninn test study"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = number
    ds.SeriesDescription = description
    ds.Modality = "MR"
    ds.PatientPosition = "HFS"
    ds.FrameOfReferenceUID = for_uid
    ds.PositionReferenceIndicator = ""
    ds.Manufacturer = "TestVendor"
    ds.InstitutionName = "Test Hospital"  # carried by the input, must not reach a derived series
    ds.add_new(0x00291010, "OB", b"private vendor data")  # a private tag, must not be copied
    ds.add_new(0x00290010, "LO", "TESTVENDOR")
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    return ds


def write_series(
    folder: Path,
    data: np.ndarray,
    affine: np.ndarray,
    *,
    slope: float = 1.0,
    intercept: float = 0.0,
    signed: bool = True,
    transfer_syntax: str | None = None,
    multiframe: bool = False,
    shuffle: bool = False,
    patient_id: str = "PHANTOM-1",
    study_uid: str | None = None,
    series_uid: str | None = None,
    for_uid: str | None = None,
    number: int = 1,
    description: str = "T1ce",
    seed: int = 0,
    positions: Sequence[np.ndarray] | None = None,
    orientations: Sequence[np.ndarray] | None = None,
    drop: Sequence[int] = (),
    per_slice_rescale: bool = False,
) -> list[Path]:
    """Write ``data`` (i, j, k voxels with RAS ``affine``, as NIfTI stores it) as one DICOM series.

    Slices are along k. ``slope``/``intercept`` give the rescale (stored = (value - intercept) / slope,
    rounded). ``transfer_syntax``: None (explicit VR little endian) or a compressed one pydicom can encode
    (RLE Lossless, JPEG 2000 Lossless). ``multiframe``: one enhanced MR object instead of one file per
    slice. ``shuffle``: file names (or frame order) in random order. ``positions``/``orientations``
    override slice k's ImagePositionPatient / ImageOrientationPatient; ``drop`` leaves slices out.
    ``per_slice_rescale``: each slice gets its own slope and intercept from its own value range (as
    float-to-DICOM converters write), unsigned 16-bit (in a multi-frame object: per-frame functional groups).
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence as Seq
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ np.asarray(affine, dtype=np.float64)
    col_step, row_step = np.linalg.norm(lps[:3, 0]), np.linalg.norm(lps[:3, 1])
    row_dir, col_dir = lps[:3, 0] / col_step, lps[:3, 1] / row_step
    orientation = np.concatenate([row_dir, col_dir])
    nx, ny, nz = data.shape
    if per_slice_rescale:
        signed = False
        rescale = []
        planes = []
        for k in range(nz):
            lo_k, hi_k = float(np.min(data[:, :, k])), float(np.max(data[:, :, k]))
            s_k = float(_ds((hi_k - lo_k) / 65000)) if hi_k > lo_k else 1.0
            i_k = float(_ds(lo_k))
            rescale.append((s_k, i_k))
            planes.append(_stored(data[:, :, k], s_k, i_k, False))
        stored = np.stack(planes, axis=2)
    else:
        rescale = [(slope, intercept)] * nz
        stored = _stored(data, slope, intercept, signed)
    keep = [k for k in range(nz) if k not in set(drop)]
    study_uid = study_uid or generate_uid()
    series_uid = series_uid or generate_uid()
    for_uid = for_uid or generate_uid()
    rng = random.Random(seed)

    def position(k: int) -> np.ndarray:
        if positions is not None:
            return np.asarray(positions[k], dtype=np.float64)
        return (lps @ np.array([0.0, 0.0, k, 1.0]))[:3]

    def ori(k: int) -> np.ndarray:
        return orientation if orientations is None else np.asarray(orientations[k], dtype=np.float64)

    def plane(k: int) -> bytes:
        return np.ascontiguousarray(stored[:, :, k].T)

    base = _common(patient_id, study_uid, series_uid, number, description, for_uid)
    base.Rows, base.Columns = ny, nx
    base.PixelRepresentation = 1 if signed else 0
    written: list[Path] = []
    if multiframe:
        ds = Dataset()
        ds.update(base)
        ds.SOPClassUID = ENHANCED_MR
        ds.SOPInstanceUID = generate_uid()
        ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
        ds.InstanceNumber = 1
        ds.NumberOfFrames = len(keep)
        order = list(keep)
        if shuffle:
            rng.shuffle(order)
        shared = Dataset()
        pm = Dataset()
        pm.PixelSpacing = [_ds(row_step), _ds(col_step)]
        pm.SliceThickness = _ds(float(np.linalg.norm(lps[:3, 2])))
        shared.PixelMeasuresSequence = Seq([pm])
        if not per_slice_rescale:  # one rescale for every frame, in the shared group
            pvt = Dataset()
            pvt.RescaleSlope, pvt.RescaleIntercept, pvt.RescaleType = _ds(slope), _ds(intercept), "US"
            shared.PixelValueTransformationSequence = Seq([pvt])
        if orientations is None:
            po = Dataset()
            po.ImageOrientationPatient = [_ds(v) for v in orientation]
            shared.PlaneOrientationSequence = Seq([po])
        ds.SharedFunctionalGroupsSequence = Seq([shared])
        frames = []
        for k in order:
            g = Dataset()
            pp = Dataset()
            pp.ImagePositionPatient = [_ds(v) for v in position(k)]
            g.PlanePositionSequence = Seq([pp])
            if orientations is not None:
                po = Dataset()
                po.ImageOrientationPatient = [_ds(v) for v in ori(k)]
                g.PlaneOrientationSequence = Seq([po])
            if per_slice_rescale:  # each frame its own rescale, in its per-frame group
                pvt = Dataset()
                pvt.RescaleSlope, pvt.RescaleIntercept = _ds(rescale[k][0]), _ds(rescale[k][1])
                pvt.RescaleType = "US"
                g.PixelValueTransformationSequence = Seq([pvt])
            fc = Dataset()
            fc.InStackPositionNumber = k + 1
            g.FrameContentSequence = Seq([fc])
            frames.append(g)
        ds.PerFrameFunctionalGroupsSequence = Seq(frames)
        pixels = np.stack([plane(k) for k in order])
        written.append(_save(ds, folder / "enhanced.dcm", pixels, transfer_syntax, ExplicitVRLittleEndian,
                             FileMetaDataset))
        return written
    names = [f"IM{k:04d}.dcm" for k in keep]
    if shuffle:
        names = [f"{rng.getrandbits(48):012x}.dcm" for _ in keep]  # file names say nothing about the order
    instance = list(range(1, len(keep) + 1))
    if shuffle:
        rng.shuffle(instance)  # nor does InstanceNumber
    for n, k in enumerate(keep):
        ds = Dataset()
        ds.update(base)
        ds.SOPClassUID = MR
        ds.SOPInstanceUID = generate_uid()
        ds.ImageType = ["ORIGINAL", "PRIMARY"]
        ds.InstanceNumber = instance[n]
        ds.ScanningSequence, ds.SequenceVariant = "SE", "NONE"
        ds.ImagePositionPatient = [_ds(v) for v in position(k)]
        ds.ImageOrientationPatient = [_ds(v) for v in ori(k)]
        ds.PixelSpacing = [_ds(row_step), _ds(col_step)]
        ds.SliceThickness = _ds(float(np.linalg.norm(lps[:3, 2])))
        ds.RescaleSlope, ds.RescaleIntercept = _ds(rescale[k][0]), _ds(rescale[k][1])
        written.append(_save(ds, folder / names[n], plane(k), transfer_syntax, ExplicitVRLittleEndian,
                             FileMetaDataset))
    return written


def _save(ds, path: Path, pixels: np.ndarray, transfer_syntax, default_ts, meta_cls) -> Path:
    meta = meta_cls()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = default_ts
    ds.file_meta = meta
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    if transfer_syntax is not None:
        ds.compress(transfer_syntax, np.ascontiguousarray(pixels))
    ds.save_as(path, enforce_file_format=True)
    return path


def phantom_pair(shape=(32, 28, 12), seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """T1ce and FLAIR volumes of a small phantom subject (int16, BraTS-like LPS storage)."""
    from fusioninn.data.phantom import phantom_subject

    vols = phantom_subject(seed, shape=shape, sequences=("t1ce", "flair"))
    return vols["t1ce"], vols["flair"]


def phantom_affine(shape) -> np.ndarray:
    """An LPS affine of 1 x 1.2 x 2.5 mm voxels for a small phantom (BraTS storage order)."""
    aff = np.diag([-1.0, -1.2, 2.5, 1.0])
    aff[:3, 3] = [shape[0] / 2, shape[1] * 0.6, -shape[2] * 1.25]
    return aff
