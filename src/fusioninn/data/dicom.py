"""DICOM series in, derived DICOM series out (pydicom, with pylibjpeg's codecs for compressed data).

Reading. :func:`read_dicom_series` takes a folder (searched recursively) holding one image series, or
several with a selector (``SeriesInstanceUID``, ``SeriesNumber`` or ``SeriesDescription``). Classic
single-frame objects and enhanced multi-frame objects (per-frame functional groups) are read the same
way: every 2-D image becomes a :class:`DicomSlice` with its position, orientation, pixel spacing and
rescale. Slices are sorted by their position along the slice normal (row direction x column direction),
never by file name or InstanceNumber; the rescale slope and intercept are applied; the voxel grid and its
affine are built the way a NIfTI affine is (DICOM's LPS patient coordinates turned to RAS), and the
result is a :class:`~fusioninn.data.volume.Volume` like any NIfTI file, reoriented to RAS+.

Refused, each with one :class:`DataError` line: folders without DICOM images; several series without a
selector (the message lists them); colour images and secondary captures; images without patient
geometry; mixed orientations or image sizes in one series; gantry tilt; non-uniform slice spacing;
missing slices; several images at one position (echoes, time points); transfer syntaxes no installed
decoder handles; corrupt pixel data. The geometric tolerance is a tenth of the smallest voxel side: no
slice may sit further than that from where the regular grid puts it (we never resample).

Writing. :func:`write_derived_series` writes a volume on an input series's own grid as a new derived MR
series (one classic MR Image Storage object per slice, explicit VR little endian): new Series and SOP
Instance UIDs, ``ImageType`` DERIVED\\SECONDARY, a ``SeriesDescription`` and ``DerivationDescription``,
patient, study and frame-of-reference attributes copied from the input (and nothing else of it: no private
tags), ``ReferencedSeriesSequence`` and a per-slice ``SourceImageSequence`` naming the source images,
the input's per-slice geometry, and unsigned 16-bit pixels with a rescale slope and intercept per slice
chosen so that each slice's values survive to 1/65535 of that slice's range (a near-empty slice keeps its
precision; one rescale for the whole series would leave it a few storage steps). The folder appears whole
or not at all
(:func:`fusioninn.atomic.atomic_dir`).
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError

__all__ = [
    "DicomSlice",
    "DicomSeries",
    "SeriesSummary",
    "is_dicom_folder",
    "list_series",
    "read_dicom_series",
    "write_derived_series",
    "describe_series",
    "safe_name",
]

# Secondary capture image storage and its multi-frame variants: not cross-sectional images
_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
_DICOMDIR = "1.2.840.10008.1.3.10"
# Files and folders with these name endings are never read as DICOM folders (their own readers report)
_NOT_DICOM_SUFFIXES = (".nii", ".nii.gz", ".png", ".tif", ".tiff", ".jpg", ".jpeg", ".npy", ".gif", ".bmp",
                       ".npz", ".h5", ".hdf5", ".json")
# a slice may sit at most this fraction of the smallest voxel side away from the regular grid
GRID_TOLERANCE = 0.1
# direction cosines of two slices agree to this (about 0.06 degrees)
ORIENTATION_TOLERANCE = 1e-3
_UINT16_MAX = 65535

# Attributes a derived series copies from its input, and nothing else: the patient, the study, the frame
# of reference, and the few series attributes a viewer needs to place it.
_COPIED = (
    "SpecificCharacterSet",
    # Patient module (and the de-identification statement, when the input carries one)
    "PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientSex",
    "PatientIdentityRemoved", "DeidentificationMethod", "DeidentificationMethodCodeSequence",
    # Patient Study module
    "PatientAge", "PatientSize", "PatientWeight",
    # General Study module
    "StudyInstanceUID", "StudyDate", "StudyTime", "ReferringPhysicianName", "StudyID", "AccessionNumber",
    "StudyDescription",
    # Frame of Reference module
    "FrameOfReferenceUID", "PositionReferenceIndicator",
    # General Series: what a viewer needs to hang it with its source
    "Modality", "PatientPosition", "BodyPartExamined",
)


@dataclass
class DicomSlice:
    """One 2-D image of a series: a classic single-frame object or one frame of a multi-frame one.

    ``position`` and ``orientation`` are DICOM patient coordinates (LPS, mm); ``spacing`` is
    (between rows, between columns) as in ``PixelSpacing``.
    """

    path: Path
    frame: int | None
    position: np.ndarray
    orientation: np.ndarray
    spacing: tuple[float, float]
    thickness: float | None
    slope: float
    intercept: float
    rows: int
    columns: int
    sop_class_uid: str
    sop_instance_uid: str

    @property
    def where(self) -> str:
        return str(self.path) if self.frame is None else f"{self.path} (frame {self.frame + 1})"


@dataclass
class DicomSeries:
    """What a derived series needs from its source: slices in volume order and the copied attributes."""

    folder: Path
    series_uid: str
    study_uid: str
    number: str
    description: str
    slices: list[DicomSlice]
    copied: Any  # pydicom Dataset holding only the _COPIED attributes of the first image
    slice_spacing: float
    extra: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        return describe_series(self.number, self.description, self.series_uid)


@dataclass
class SeriesSummary:
    uid: str
    number: str
    description: str
    files: list[Path]
    images: int  # 2-D images (frames count one each)


def describe_series(number: str, description: str, uid: str) -> str:
    parts = [f"#{number}" if number else "", f"'{description}'" if description else "", uid]
    return " ".join(p for p in parts if p)


_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def safe_name(text: str, limit: int = 64) -> str:
    """``text`` as a file-name part: runs of characters outside ``A-Za-z0-9._+-`` become one ``_``, no
    leading or trailing ``._-``, at most ``limit`` characters ("" when nothing is left)."""
    return _UNSAFE.sub("_", text).strip("._-")[:limit].rstrip("._-")


def _require_pydicom():
    try:
        import pydicom
    except ImportError:  # a core dependency; only a broken install lands here
        raise DataError("reading DICOM needs pydicom (pip install pydicom pylibjpeg pylibjpeg-libjpeg "
                        "pylibjpeg-openjpeg)") from None
    return pydicom


def is_dicom_folder(path: str | Path) -> bool:
    """True for an existing folder whose name is not that of a file format we read another way."""
    path = Path(path)
    return path.is_dir() and not path.name.lower().endswith(_NOT_DICOM_SUFFIXES)


def _has_dicm_preamble(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def _str(ds, name: str) -> str:
    value = ds.get(name, "")
    return "" if value is None else str(value).strip()


@dataclass
class _ScanStats:
    files: int = 0
    not_dicom: int = 0
    without_image: list = field(default_factory=list)

    def text(self) -> str:
        if not self.files:
            return "an empty folder"
        if self.not_dicom == self.files:
            return f"{self.files} files, none of them DICOM"
        parts = [f"{self.files} files"]
        if self.not_dicom:
            parts.append(f"{self.not_dicom} not DICOM")
        if self.without_image:
            parts.append(f"{len(self.without_image)} DICOM objects without image data (non-image objects or "
                         f"truncated files, e.g. {self.without_image[0].name})")
        return ", ".join(parts)


def _scan(folder: Path, unreadable: list | None = None) -> tuple[dict[str, list], _ScanStats]:
    """Headers of every DICOM image under ``folder``, grouped by SeriesInstanceUID (pixel data deferred).

    A file with a damaged header raises, or, with an ``unreadable`` list, is appended to it as a
    :class:`DataError` (a collection skips the study it lies in)."""
    paths = []
    stats = _ScanStats()
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        dirs[:] = [d for d in dirs if not d.startswith(".")]  # our own .tmp-* folders, hidden folders
        paths.extend(Path(root) / name for name in sorted(names) if not name.startswith("."))
    return _read_headers(paths, stats, unreadable), stats


def _read_headers(paths: Sequence[Path], stats: _ScanStats, unreadable: list | None = None) -> dict[str, list]:
    pydicom = _require_pydicom()
    groups: dict[str, list] = {}
    for path in paths:
        stats.files += 1
        if not _has_dicm_preamble(path):
            stats.not_dicom += 1
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(path, defer_size="64 KB")
        except Exception as err:  # pydicom raises many kinds on a damaged header
            bad = DataError(f"not a readable DICOM file ({type(err).__name__}: {err})", path)
            if unreadable is None:
                raise bad from None
            unreadable.append(bad)
            continue
        if _str(ds, "SOPClassUID") == _DICOMDIR or "PixelData" not in ds and "FloatPixelData" not in ds \
                and "DoubleFloatPixelData" not in ds:
            stats.without_image.append(path)  # DICOMDIR, structured reports, presentation states
            continue
        groups.setdefault(_str(ds, "SeriesInstanceUID") or "(no SeriesInstanceUID)", []).append((path, ds))
    return groups


def _summaries(groups: dict[str, list]) -> list[SeriesSummary]:
    out = []
    for uid, items in groups.items():
        ds0 = items[0][1]
        frames = sum(int(ds.get("NumberOfFrames", 1) or 1) for _, ds in items)
        out.append(SeriesSummary(uid, _str(ds0, "SeriesNumber"), _str(ds0, "SeriesDescription"),
                                 [p for p, _ in items], frames))

    def key(s: SeriesSummary):
        try:
            return (0, float(s.number), s.uid)
        except ValueError:
            return (1, 0.0, s.uid)

    return sorted(out, key=key)


def list_series(folder: str | Path) -> list[SeriesSummary]:
    """The image series under ``folder`` (recursively), ordered by SeriesNumber."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError("not a folder", folder)
    groups, _ = _scan(folder)
    return _summaries(groups)


def _listing(series: Sequence[SeriesSummary]) -> str:
    return "; ".join(f"{describe_series(s.number, s.description, s.uid)} ({s.images} images)" for s in series)


def _select(folder: Path, groups: dict[str, list], stats: _ScanStats, selector: str | None,
            option: str = "--series") -> str:
    if not groups:
        raise DataError(f"no DICOM image series here ({stats.text()}); expected a folder of one DICOM series "
                        "or a NIfTI file", folder)
    series = _summaries(groups)
    if selector is None or selector == "":
        if len(series) == 1:
            return series[0].uid
        raise DataError(f"holds {len(series)} DICOM series; choose one with --series UID|number|description: "
                        f"{_listing(series)}", folder)
    sel = selector.strip()
    for rule in (lambda s: s.uid == sel, lambda s: s.number == sel and sel != "",
                 lambda s: s.description.lower() == sel.lower() and sel != ""):
        hits = [s for s in series if rule(s)]
        if len(hits) == 1:
            return hits[0].uid
        if len(hits) > 1:
            raise DataError(f"{option} {selector!r} matches {len(hits)} series; give the UID: {_listing(hits)}",
                            folder)
    raise DataError(f"{option} {selector!r} matches none of the series here: {_listing(series)}", folder)


# --------------------------------------------------------------------------------------------------
# the images of one series
def _seq_item(ds, name: str):
    seq = ds.get(name)
    return seq[0] if seq else None


def _frame_attr(groups: Sequence, seq_name: str, attr: str):
    """Look ``attr`` up in the per-frame group first, then in the shared one (enhanced objects)."""
    for g in groups:
        if g is None:
            continue
        item = _seq_item(g, seq_name)
        if item is not None and attr in item:
            return item.get(attr)
    return None


def _floats(value, n: int, what: str, where: str) -> np.ndarray:
    try:
        arr = np.array([float(v) for v in value], dtype=np.float64)
    except (TypeError, ValueError):
        arr = np.array([])
    if arr.shape != (n,) or not np.isfinite(arr).all():
        raise DataError(f"{what} is missing or malformed ({value!r})", where)
    return arr


def _number(value, default: float | None) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return default
    return v if np.isfinite(v) else default


def _check_grey(ds, path: Path) -> None:
    sop = _str(ds, "SOPClassUID")
    if sop.startswith(_SECONDARY_CAPTURE):
        raise DataError(f"is a secondary capture (SOP class {sop}), not an MR series: a screenshot or scanned "
                        "image has no patient geometry to fuse on", path)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    photometric = _str(ds, "PhotometricInterpretation").upper()
    if samples != 1 or photometric not in ("MONOCHROME1", "MONOCHROME2", ""):
        raise DataError(f"holds colour images (PhotometricInterpretation {photometric or '?'}, {samples} samples "
                        "per pixel), not a grey-scale MR series", path)


def _slices_of(path: Path, ds) -> list[DicomSlice]:
    _check_grey(ds, path)
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    if rows < 1 or cols < 1:
        raise DataError("image has no Rows/Columns", path)
    sop_class, sop_uid = _str(ds, "SOPClassUID"), _str(ds, "SOPInstanceUID")
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    shared = _seq_item(ds, "SharedFunctionalGroupsSequence")
    out = []
    if per_frame is not None or shared is not None:  # enhanced multi-frame object
        if per_frame is not None and len(per_frame) != n_frames:
            raise DataError(f"{len(per_frame)} per-frame functional groups for {n_frames} frames", path)
        for f in range(n_frames):
            groups = (per_frame[f] if per_frame is not None else None, shared)
            where = f"{path} (frame {f + 1})"
            pos = _frame_attr(groups, "PlanePositionSequence", "ImagePositionPatient")
            ori = _frame_attr(groups, "PlaneOrientationSequence", "ImageOrientationPatient")
            if pos is None or ori is None:
                raise DataError("frame without ImagePositionPatient/ImageOrientationPatient: cannot place it "
                                "in the patient", where)
            ps = _frame_attr(groups, "PixelMeasuresSequence", "PixelSpacing")
            out.append(DicomSlice(
                path=path, frame=f,
                position=_floats(pos, 3, "ImagePositionPatient", where),
                orientation=_floats(ori, 6, "ImageOrientationPatient", where),
                spacing=tuple(_floats(ps, 2, "PixelSpacing", where)),  # type: ignore[arg-type]
                thickness=_number(_frame_attr(groups, "PixelMeasuresSequence", "SliceThickness"), None),
                slope=_number(_frame_attr(groups, "PixelValueTransformationSequence", "RescaleSlope"),
                              _number(ds.get("RescaleSlope"), 1.0)) or 1.0,
                intercept=_number(_frame_attr(groups, "PixelValueTransformationSequence", "RescaleIntercept"),
                                  _number(ds.get("RescaleIntercept"), 0.0)) or 0.0,
                rows=rows, columns=cols, sop_class_uid=sop_class, sop_instance_uid=sop_uid,
            ))
        return out
    if n_frames != 1:
        raise DataError(f"multi-frame object ({n_frames} frames) without per-frame geometry", path)
    if "ImagePositionPatient" not in ds or "ImageOrientationPatient" not in ds:
        raise DataError("no ImagePositionPatient/ImageOrientationPatient: cannot place the slice in the patient",
                        path)
    spacing = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing")
    out.append(DicomSlice(
        path=path, frame=None,
        position=_floats(ds.ImagePositionPatient, 3, "ImagePositionPatient", str(path)),
        orientation=_floats(ds.ImageOrientationPatient, 6, "ImageOrientationPatient", str(path)),
        spacing=tuple(_floats(spacing, 2, "PixelSpacing", str(path))),  # type: ignore[arg-type]
        thickness=_number(ds.get("SliceThickness"), None),
        slope=_number(ds.get("RescaleSlope"), 1.0) or 1.0,
        intercept=_number(ds.get("RescaleIntercept"), 0.0) or 0.0,
        rows=rows, columns=cols, sop_class_uid=sop_class, sop_instance_uid=sop_uid,
    ))
    return out


def _fmt(v: np.ndarray | Sequence[float]) -> str:
    return "(" + ", ".join(f"{float(x):.4g}" for x in v) + ")"


def _order_and_check(slices: list[DicomSlice], folder: Path, fallback_spacing: float | None) -> tuple[
        list[DicomSlice], float]:
    """Sort along the slice normal; refuse what does not make one regular grid. Returns (slices, spacing)."""
    first = slices[0]
    for s in slices[1:]:
        if np.abs(s.orientation - first.orientation).max() > ORIENTATION_TOLERANCE:
            raise DataError(f"mixed orientations in one series: {_fmt(first.orientation)} in {first.where}, "
                            f"{_fmt(s.orientation)} in {s.where}", folder)
        if (s.rows, s.columns) != (first.rows, first.columns):
            raise DataError(f"images of different sizes in one series: {first.columns}x{first.rows} in "
                            f"{first.where}, {s.columns}x{s.rows} in {s.where}", folder)
        if np.abs(np.subtract(s.spacing, first.spacing)).max() > 1e-3 * max(first.spacing):
            raise DataError(f"different pixel spacings in one series: {_fmt(first.spacing)} mm in {first.where}, "
                            f"{_fmt(s.spacing)} mm in {s.where}", folder)
    row_dir, col_dir = first.orientation[:3], first.orientation[3:]
    if abs(np.linalg.norm(row_dir) - 1) > 1e-2 or abs(np.linalg.norm(col_dir) - 1) > 1e-2 \
            or abs(float(row_dir @ col_dir)) > 1e-2:
        raise DataError(f"ImageOrientationPatient {_fmt(first.orientation)} is not two unit vectors at right "
                        "angles", first.where)
    normal = np.cross(row_dir, col_dir)
    normal /= np.linalg.norm(normal)
    heights = np.array([s.position @ normal for s in slices])
    order = np.argsort(heights, kind="stable")
    slices = [slices[i] for i in order]
    heights = heights[order]
    voxel = min(first.spacing)
    tol = GRID_TOLERANCE * voxel
    if len(slices) == 1:
        spacing = fallback_spacing or first.thickness or 1.0
        return slices, float(spacing)
    steps = np.diff(heights)
    if steps.min() <= tol:
        k = int(np.argmin(steps))
        raise DataError(f"two images at one position ({heights[k]:.4g} mm along the slice normal: "
                        f"{slices[k].where} and {slices[k + 1].where}): several volumes in one series "
                        "(echoes, time points, repeats)? Select or split them first", folder)
    spacing = float(np.median(steps))
    tol = GRID_TOLERANCE * min(voxel, spacing)
    # missing slices: a gap that holds whole extra steps
    gaps = np.flatnonzero(steps > 1.5 * spacing)
    if gaps.size:
        k = int(gaps[0])
        missing = int(round(steps[gaps].sum() / spacing)) - gaps.size
        raise DataError(f"missing slices: a gap of {steps[k]:.4g} mm between {heights[k]:.4g} and "
                        f"{heights[k + 1]:.4g} mm along the slice normal where the spacing is {spacing:.4g} mm "
                        f"(about {missing} slice(s) missing in all)", folder)
    # gantry tilt: the slice origins must lie on one line along the normal
    origin = slices[0].position
    lateral = np.array([np.linalg.norm((s.position - origin) - ((s.position - origin) @ normal) * normal)
                        for s in slices])
    if lateral.max() > tol:
        k = int(np.argmax(lateral))
        angle = np.degrees(np.arctan2(lateral[k], heights[k] - heights[0]))
        raise DataError(f"gantry tilt or sheared stack: slice origins drift {lateral[k]:.3g} mm sideways off the "
                        f"slice normal ({angle:.2f} degrees; tolerance {tol:.3g} mm); resample to an orthogonal "
                        "grid first", folder)
    # non-uniform spacing: every slice within tol of where the regular grid (least-squares fit) puts it
    index = np.arange(len(slices), dtype=np.float64)
    spacing, start = np.polyfit(index, heights, 1)
    spacing = float(spacing)
    off = np.abs(heights - (start + spacing * index))
    if off.max() > tol:
        raise DataError(f"non-uniform slice spacing: steps from {steps.min():.4g} to {steps.max():.4g} mm (a slice "
                        f"{off.max():.3g} mm off the regular grid; tolerance {tol:.3g} mm); resample first", folder)
    return slices, spacing


def _affine_ras(first: DicomSlice, spacing: float) -> np.ndarray:
    """Affine of the array (column i, row j, slice k) in RAS mm, as a NIfTI file of this series has."""
    row_dir, col_dir = first.orientation[:3], first.orientation[3:]
    normal = np.cross(row_dir, col_dir)
    normal /= np.linalg.norm(normal)
    lps = np.eye(4)
    lps[:3, 0] = row_dir * first.spacing[1]  # along a row: the column index grows
    lps[:3, 1] = col_dir * first.spacing[0]  # down a column: the row index grows
    lps[:3, 2] = normal * spacing
    lps[:3, 3] = first.position
    return np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps


def _decode(ds, path: Path) -> np.ndarray:
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = ds.pixel_array
    except NotImplementedError as err:
        name = getattr(ts, "name", str(ts))
        msg = " ".join(str(err).split())[:160]
        raise DataError(f"cannot decode pixel data in transfer syntax {name} ({ts}): no installed decoder "
                        f"({msg})", path) from None
    except Exception as err:  # truncated or damaged pixel data, inconsistent header
        msg = " ".join(str(err).split())[:200]
        raise DataError(f"corrupt or truncated pixel data ({type(err).__name__}: {msg})", path) from None
    return np.asarray(arr)


def _header_only_copy(ds):
    from pydicom.dataset import Dataset

    out = Dataset()
    for name in _COPIED:
        if name in ds:
            out[name] = ds[name]
    return out


def read_dicom_series(folder: str | Path, series: str | None = None):
    """Read one DICOM series under ``folder`` as a :class:`~fusioninn.data.volume.Volume` (RAS+, float32).

    ``series`` selects one of several series by SeriesInstanceUID, SeriesNumber or SeriesDescription
    (case-insensitive). The volume's ``dicom`` attribute holds the :class:`DicomSeries` a derived series
    is written from; its ``header`` is a NIfTI header with the DICOM geometry, so NIfTI outputs work as for
    NIfTI inputs.

    Raises:
        DataError: everything listed in the module docstring, naming the folder or file.
    """
    from ..atomic import note_input

    folder = Path(folder)
    if not folder.exists():
        raise DataError("folder not found", folder)
    if not folder.is_dir():
        raise DataError("not a folder of DICOM files", folder)
    note_input(folder)  # no output of the running command may replace it
    groups, stats = _scan(folder)
    uid = _select(folder, groups, stats, series)
    return _series_volume(folder, uid, groups[uid])


def read_series_files(files: Sequence[str | Path], folder: str | Path | None = None):
    """Read the DICOM series made of exactly ``files`` (found by an earlier scan, e.g. of a collection):
    the :class:`~fusioninn.data.volume.Volume` :func:`read_dicom_series` gives, without searching a folder.

    ``folder`` names the series in messages (default: the files' common folder).

    Raises:
        DataError: as :func:`read_dicom_series`; also when the files are no longer one image series.
    """
    from ..atomic import note_input

    paths = [Path(f) for f in files]
    if not paths:
        raise DataError("no files given for a DICOM series", folder)
    where = Path(folder) if folder is not None else Path(os.path.commonpath([str(p.parent) for p in paths]))
    for p in paths:
        if not p.is_file():
            raise DataError("DICOM file gone since the collection was scanned", p)
    note_input(where)  # as read_dicom_series: no output of the running command may replace it
    stats = _ScanStats()
    groups = _read_headers(paths, stats)
    if len(groups) != 1 or sum(len(v) for v in groups.values()) != len(paths):
        raise DataError(f"these {len(paths)} files are no longer one DICOM image series ({stats.text()}, "
                        f"{len(groups)} series)", where)
    uid, items = next(iter(groups.items()))
    return _series_volume(where, uid, items)


def _series_volume(folder: Path, uid: str, items: list):
    """The volume of one series from its (path, header) items."""
    import nibabel as nib
    from nibabel.orientations import apply_orientation, inv_ornt_aff

    from .memory import check_memory
    from .volume import Volume, _to_ras_transform

    slices: list[DicomSlice] = []
    by_path = {}
    for path, ds in items:
        slices.extend(_slices_of(path, ds))
        by_path[path] = ds
    first_ds = items[0][1]
    fallback = _number(first_ds.get("SpacingBetweenSlices"), None)
    slices, spacing = _order_and_check(slices, folder, fallback)
    rows, cols = slices[0].rows, slices[0].columns
    check_memory(rows * cols * len(slices) * 24, f"DICOM series of {cols}x{rows}x{len(slices)} voxels", folder)

    data = np.empty((cols, rows, len(slices)), dtype=np.float32)
    decoded: dict[Path, np.ndarray] = {}
    for k, s in enumerate(slices):
        if s.path not in decoded:
            arr = _decode(by_path[s.path], s.path)
            n_frames = int(by_path[s.path].get("NumberOfFrames", 1) or 1)
            want = (n_frames, rows, cols) if n_frames > 1 else (rows, cols)
            if arr.shape != want:
                raise DataError(f"pixel data of shape {arr.shape}, header says {want}", s.path)
            decoded[s.path] = arr
            if len(decoded) > 1 and n_frames == 1:  # classic objects: keep one at a time
                decoded = {s.path: arr}
        arr = decoded[s.path]
        plane = arr[s.frame] if s.frame is not None else arr
        values = plane.astype(np.float64) * s.slope + s.intercept
        if not np.isfinite(values).all():
            raise DataError("NaN or infinite pixel values", s.where)
        data[:, :, k] = values.T
    affine = _affine_ras(slices[0], spacing)
    header = nib.Nifti1Header()
    header.set_data_shape(data.shape)
    header.set_data_dtype(np.float32)
    header.set_zooms((slices[0].spacing[1], slices[0].spacing[0], spacing))
    header.set_qform(affine, code=1)
    header.set_sform(affine, code=1)
    info = DicomSeries(
        folder=folder, series_uid=uid, study_uid=_str(first_ds, "StudyInstanceUID"),
        number=_str(first_ds, "SeriesNumber"), description=_str(first_ds, "SeriesDescription"),
        slices=slices, copied=_header_only_copy(first_ds), slice_spacing=spacing,
        extra={"patient_id": _str(first_ds, "PatientID"), "modality": _str(first_ds, "Modality"),
               "frame_of_reference": _str(first_ds, "FrameOfReferenceUID")},
    )
    ornt = _to_ras_transform(affine)
    ras = np.ascontiguousarray(apply_orientation(data, ornt))
    return Volume(data=ras, affine=affine @ inv_ornt_aff(ornt, data.shape), header=header,
                  original_affine=affine, original_axcodes=tuple(nib.aff2axcodes(affine)),
                  original_dtype=np.dtype(np.float32), path=folder, dicom=info)


# --------------------------------------------------------------------------------------------------
def _ds_number(x: float) -> str:
    """A decimal string (VR DS, at most 16 characters) that parses back to (nearly) ``x``."""
    for digits in range(10, 4, -1):
        text = f"{x:.{digits}g}"
        if len(text) <= 16:
            return text
    raise ValueError(x)


def _quantisation(data: np.ndarray, constant_slope: float = 1.0) -> tuple[float, float]:
    """(slope, intercept), both exactly representable as DS text, mapping [min, max] onto 0..65535
    (``constant_slope`` when all values are equal)."""
    lo, hi = float(data.min()), float(data.max())
    intercept = float(_ds_number(lo))
    if intercept > lo:  # the written intercept must not lie above the minimum
        intercept = float(_ds_number(lo - abs(lo) * 1e-9 - 1e-12))
    span = hi - intercept
    slope = span / _UINT16_MAX if span > 0 else constant_slope
    text = _ds_number(slope)
    if float(text) * _UINT16_MAX < span:  # rounding down would clip the maximum
        text = _ds_number(slope * (1 + 1e-8))
    return float(text), intercept


def _code_now() -> tuple[str, str]:
    now = _dt.datetime.now()
    return now.strftime("%Y%m%d"), now.strftime("%H%M%S.%f")


def write_derived_series(
    folder: str | Path,
    data: np.ndarray,
    like,
    description: str,
    derivation: str,
    sources: Sequence = (),
    series_number: int | None = None,
    series_uid: str | None = None,
) -> Path:
    """Write ``data`` (RAS+, the shape of ``like.data``) as a derived MR series in a new ``folder``.

    Args:
        folder: the series folder to create (must not exist, or be empty).
        data: the values, in the units they should have after the rescale.
        like: the :class:`~fusioninn.data.volume.Volume` read from DICOM whose grid, patient, study and
            frame of reference the series gets.
        description: ``SeriesDescription`` (at most 64 characters).
        derivation: ``DerivationDescription`` (how the values were made).
        sources: the volumes the values were derived from (default: ``like``), for
            ``ReferencedSeriesSequence`` and each slice's ``SourceImageSequence``.
        series_number: ``SeriesNumber`` (default: the source's plus 1000, a common convention for
            derived series).
        series_uid: the new ``SeriesInstanceUID`` (default: a freshly generated one; never pass a UID
            that exists already).

    Returns the folder.
    """
    _require_pydicom()
    from nibabel.orientations import apply_orientation, axcodes2ornt, io_orientation, ornt_transform
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence as DicomSequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    from ..atomic import atomic_dir

    src: DicomSeries | None = getattr(like, "dicom", None)
    if src is None:
        raise DataError("a DICOM output needs a DICOM input series: its patient, study and geometry are copied "
                        "from it", getattr(like, "path", None))
    data = np.asarray(data)
    if data.shape != like.data.shape:
        raise DataError(f"volume shape {tuple(data.shape)} does not match the input's {like.shape}", folder)
    if not np.isfinite(data).all():
        raise DataError("refusing to write NaN or infinite values", folder)
    sources = list(sources) or [like]
    back = apply_orientation(data, ornt_transform(axcodes2ornt(("R", "A", "S")), io_orientation(like.original_affine)))
    n = back.shape[2]
    if n != len(src.slices):
        raise DataError(f"{n} slices for a series of {len(src.slices)}", folder)
    # one rescale per slice (RescaleSlope/Intercept are per-image attributes of MR Image Storage): every slice
    # keeps 1/65535 of its own range, where one rescale per series leaves a near-empty slice a few steps
    # (a constant slice takes the series' slope, so that no slice says "integers, slope 1": readers such as
    # ITK's series reader pick the pixel type from the first file)
    series_slope = _quantisation(back)[0]
    rescale = [_quantisation(back[:, :, k], series_slope) for k in range(n)]
    stored = np.empty(back.shape, dtype="<u2")
    for k, (slope, intercept) in enumerate(rescale):
        plane = np.rint((back[:, :, k].astype(np.float64) - intercept) / slope)
        stored[:, :, k] = np.clip(plane, 0, _UINT16_MAX)

    series_uid = series_uid or generate_uid()
    date, time = _code_now()
    number = series_number
    if number is None:
        try:
            number = int(float(src.number)) + 1000
        except ValueError:
            number = 1000
    base = Dataset()
    for elem in src.copied:
        base.add(elem)
    base.SOPClassUID = MR_IMAGE_STORAGE
    base.Modality = "MR" if not src.copied.get("Modality") else src.copied.Modality
    base.SeriesInstanceUID = series_uid
    base.SeriesNumber = number
    base.SeriesDescription = description[:64]
    base.SeriesDate, base.SeriesTime = date, time
    base.ContentDate, base.ContentTime = date, time
    base.ImageType = ["DERIVED", "SECONDARY"]
    base.DerivationDescription = derivation[:1024]
    base.Manufacturer = ""
    base.SoftwareVersions = _software_version()
    for name in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                 "ReferringPhysicianName", "StudyID", "AccessionNumber", "PositionReferenceIndicator"):
        if name not in base:  # type 2 attributes: present, empty when the input had none
            setattr(base, name, "")
    # MR Image module, type 1: a derived image was not acquired with one sequence
    base.ScanningSequence = "RM"
    base.SequenceVariant = "NONE"
    base.ScanOptions = ""
    base.MRAcquisitionType = ""
    base.EchoTime = ""
    base.EchoTrainLength = ""
    base.SamplesPerPixel = 1
    base.PhotometricInterpretation = "MONOCHROME2"
    base.Rows, base.Columns = src.slices[0].rows, src.slices[0].columns
    base.BitsAllocated, base.BitsStored, base.HighBit, base.PixelRepresentation = 16, 16, 15, 0
    base.RescaleType = "US"
    lo, hi = float(back.min()), float(back.max())
    base.WindowCenter = _ds_number((lo + hi) / 2)
    base.WindowWidth = _ds_number(max(hi - lo, 1e-6))
    base.SpacingBetweenSlices = _ds_number(src.slice_spacing)
    same_study, other_studies = _series_references(sources, src.study_uid)
    # every slice repeats these references to all source images: encoded once, copied as raw bytes (encoding
    # them again for each file took most of the writing time of a 155-slice series)
    base[0x00081115] = _encoded_sequence(0x00081115, same_study, base)  # ReferencedSeriesSequence
    if other_studies:  # StudiesContainingOtherReferencedInstancesSequence
        base[0x00081200] = _encoded_sequence(0x00081200, other_studies, base)
    base.BurnedInAnnotation = "NO"

    folder = Path(folder)
    encodings = _encodings(base)
    with atomic_dir(folder) as tmp:
        for k, s in enumerate(src.slices):
            ds = Dataset()
            ds.update(base)
            uid = generate_uid()
            ds.SOPInstanceUID = uid
            ds.InstanceNumber = k + 1
            ds.RescaleSlope, ds.RescaleIntercept = _ds_number(rescale[k][0]), _ds_number(rescale[k][1])
            ds.ImagePositionPatient = [_ds_number(v) for v in s.position]
            ds.ImageOrientationPatient = [_ds_number(v) for v in s.orientation]
            ds.PixelSpacing = [_ds_number(v) for v in s.spacing]
            if s.thickness is not None:
                ds.SliceThickness = _ds_number(s.thickness)
            ds.SourceImageSequence = DicomSequence([_image_ref(v.dicom.slices[k]) for v in sources
                                                    if getattr(v, "dicom", None) is not None
                                                    and len(v.dicom.slices) == n])
            ds.PixelData = np.ascontiguousarray(stored[:, :, k].T).tobytes()
            ds["PixelData"].VR = "OW"  # 16-bit pixels; said here, as no VR correction runs (below)
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = MR_IMAGE_STORAGE
            meta.MediaStorageSOPInstanceUID = uid
            meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.file_meta = meta
            # already in the encoding it is written in: pydicom then writes the raw sequences as they are
            ds.set_original_encoding(False, True, encodings)
            ds.save_as(tmp / f"IM{k + 1:05d}.dcm", enforce_file_format=True)
    return folder


def _encoded_sequence(tag: int, items, context):
    """A sequence element encoded once (explicit VR little endian, as the series is written), as a raw element
    that pydicom writes into every file as it is and reads back like any sequence."""
    from pydicom.dataelem import DataElement, RawDataElement
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_sequence
    from pydicom.tag import Tag

    buf = DicomBytesIO()
    buf.is_little_endian, buf.is_implicit_VR = True, False
    write_sequence(buf, DataElement(tag, "SQ", items), _encodings(context))
    value = buf.getvalue()
    return RawDataElement(Tag(tag), "SQ", len(value), value, 0, False, True)


def _encodings(ds) -> list[str]:
    """The Python codecs of a dataset's SpecificCharacterSet (pydicom's default without one)."""
    from pydicom.charset import convert_encodings, default_encoding

    return list(convert_encodings(ds.get("SpecificCharacterSet") or default_encoding))


def _software_version() -> str:
    from .. import __version__

    return f"fusioninn {__version__}"


def _image_ref(s: DicomSlice):
    from pydicom.dataset import Dataset

    ref = Dataset()
    ref.ReferencedSOPClassUID = s.sop_class_uid
    ref.ReferencedSOPInstanceUID = s.sop_instance_uid
    if s.frame is not None:
        ref.ReferencedFrameNumber = s.frame + 1
    return ref


def _series_references(sources: Sequence, study_uid: str):
    """ReferencedSeriesSequence items for sources in ``study_uid``; the others grouped by their study."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    same, other = [], {}
    for v in sources:
        info: DicomSeries | None = getattr(v, "dicom", None)
        if info is None:
            continue
        item = Dataset()
        item.SeriesInstanceUID = info.series_uid
        refs = {}
        for s in info.slices:  # one reference per object, however many frames it holds
            if s.sop_instance_uid not in refs:
                ref = Dataset()
                ref.ReferencedSOPClassUID = s.sop_class_uid
                ref.ReferencedSOPInstanceUID = s.sop_instance_uid
                refs[s.sop_instance_uid] = ref
        item.ReferencedInstanceSequence = DicomSequence(list(refs.values()))
        if info.study_uid == study_uid or not info.study_uid:
            same.append(item)
        else:
            other.setdefault(info.study_uid, []).append(item)
    studies = []
    for uid, items in other.items():
        st = Dataset()
        st.StudyInstanceUID = uid
        st.ReferencedSeriesSequence = DicomSequence(items)
        studies.append(st)
    return DicomSequence(same), DicomSequence(studies)


# --------------------------------------------------------------------------------------------------
# the data spec form dicom:A:B / dicom:STUDY:SERIES_A:SERIES_B (evaluate, train, benchmark)
def parse_dicom_spec(spec: str) -> tuple[Path, str | None, Path, str | None]:
    """``dicom:DIR_A:DIR_B`` (two series folders) or ``dicom:STUDY:SEL_A:SEL_B`` (two series of one
    folder, selected by UID, number or description) -> (folder A, selector A, folder B, selector B)."""
    body = spec[len("dicom:"):] if spec.startswith("dicom:") else spec
    parts = body.split(":")
    if len(parts) == 2 and all(parts):
        return Path(parts[0]), None, Path(parts[1]), None
    if len(parts) == 3 and all(parts):
        return Path(parts[0]), parts[1], Path(parts[0]), parts[2]
    raise DataError(f"bad dicom spec {spec!r}; use dicom:DIR_A:DIR_B (two series folders) or "
                    "dicom:STUDY:SERIES_A:SERIES_B (UID, number or description)")


def read_dicom_pairs(spec: str, min_brain_fraction: float = 0.1, clip_negative: bool = True):
    """Slice pairs of two co-registered DICOM series: every axial slice in which at least
    ``min_brain_fraction`` of the pixels are non-zero in either series, each min-max normalised per slice
    and per series (as for BraTS folders with ``slices="all"``).

    Returns ``(images (N, 2, H, W) float32, slice_index (N,) int32, subject_id, (volume A, volume B))``.
    """
    from .volume import check_same_grid, read_volume

    folder_a, sel_a, folder_b, sel_b = parse_dicom_spec(spec)
    for folder in (folder_a, folder_b):
        if not folder.is_dir():
            raise DataError("no such folder (a dicom: spec names DICOM series folders)", folder)
    va, vb = read_volume(folder_a, sel_a), read_volume(folder_b, sel_b)
    if va.dicom.series_uid == vb.dicom.series_uid:
        raise DataError(f"both halves of the spec select the same series ({va.dicom.label})", spec)
    check_same_grid(va, vb)
    images, keep = _pair_slices(va, vb, min_brain_fraction, clip_negative, spec)
    subject = va.dicom.extra.get("patient_id") or va.dicom.study_uid or folder_a.name
    return images, keep, subject, (va, vb)


def _pair_slices(va, vb, min_brain_fraction: float, clip_negative: bool, where) -> tuple[np.ndarray, np.ndarray]:
    """The normalised axial slice pairs with enough brain of two volumes on one grid, and their indices."""
    from .volume import axial_slices, minmax_normalise

    stacks = [axial_slices(v.data) for v in (va, vb)]
    brain = (stacks[0] > 0) | (stacks[1] > 0)
    keep = np.flatnonzero(brain.mean(axis=(1, 2)) >= min_brain_fraction)
    if keep.size == 0:
        raise DataError(f"no slice with >= {min_brain_fraction:g} brain fraction", where)
    images = np.empty((keep.size, 2, *stacks[0].shape[1:]), dtype=np.float32)
    for c, st in enumerate(stacks):
        images[:, c] = minmax_normalise(st[keep], clip_negative=clip_negative)[0]
    return images, keep.astype(np.int32)


def canonical_dicom_spec(spec: str) -> str:
    """A ``dicom:`` spec with absolute, resolved folders (what a prepared folder records as its source)."""
    folder_a, sel_a, folder_b, sel_b = parse_dicom_spec(spec)
    a, b = (str(Path(f).expanduser().resolve()) for f in (folder_a, folder_b))
    if ":" in a or ":" in b:
        raise DataError("a folder of a dicom: spec must not contain ':'", spec)
    if sel_a is None:
        return f"dicom:{a}:{b}"
    return f"dicom:{a}:{sel_a}:{sel_b}"


def dicom_spec_sources(spec: str) -> tuple[str, list[Path], list[Path]]:
    """``(subject id, folders, files)`` of the two series a ``dicom:`` spec names, from the headers alone
    (no pixel data): what ``prepare`` records to see later whether the series changed. The subject id is
    the one :func:`read_dicom_pairs` gives (PatientID, else StudyInstanceUID, else the first folder's name).
    """
    folder_a, sel_a, folder_b, sel_b = parse_dicom_spec(spec)
    chosen = []
    scans: dict[Path, tuple] = {}
    for folder, sel in ((folder_a, sel_a), (folder_b, sel_b)):
        if not folder.is_dir():
            raise DataError("no such folder (a dicom: spec names DICOM series folders)", folder)
        if folder not in scans:
            scans[folder] = _scan(folder)
        groups, stats = scans[folder]
        uid = _select(folder, groups, stats, sel)
        chosen.append((uid, groups[uid]))
    if chosen[0][0] == chosen[1][0]:
        raise DataError(f"both halves of the spec select the same series ({chosen[0][0]})", spec)
    first = chosen[0][1][0][1]
    subject = _str(first, "PatientID") or _str(first, "StudyInstanceUID") or folder_a.name
    files = sorted({p for _, items in chosen for p, _ in items})
    return subject, [folder_a, folder_b], files


# --------------------------------------------------------------------------------------------------
# the data spec form dicom-studies:ROOT:SERIES_A:SERIES_B: a collection, one subject per study
STUDIES_PREFIX = "dicom-studies:"


def is_studies_spec(spec) -> bool:
    return str(spec).startswith(STUDIES_PREFIX)


def parse_studies_spec(spec: str) -> tuple[Path, str, str]:
    """``dicom-studies:ROOT:SERIES_A:SERIES_B`` -> (root, selector A, selector B)."""
    parts = str(spec)[len(STUDIES_PREFIX):].split(":")
    if len(parts) != 3 or not all(p.strip() for p in parts):
        raise DataError(f"bad dicom-studies spec {spec!r}; use dicom-studies:ROOT:SERIES_A:SERIES_B (ROOT holds "
                        "one study per subject; each series by UID, number or description; no ':' in any part)")
    return Path(parts[0]).expanduser(), parts[1].strip(), parts[2].strip()


def canonical_studies_spec(spec: str) -> str:
    """A ``dicom-studies:`` spec with its root absolute and resolved (what a prepared folder records)."""
    root, sel_a, sel_b = parse_studies_spec(spec)
    root_text = str(root.resolve())
    if ":" in root_text:
        raise DataError("the root of a dicom-studies: spec must not contain ':'", spec)
    return f"{STUDIES_PREFIX}{root_text}:{sel_a}:{sel_b}"


@dataclass
class StudyPair:
    """One subject of a collection: the files of its two selected series (from one scan of the root)."""

    subject: str
    folder: Path  # the study's folder (the common folder of its files)
    study_uid: str
    files_a: list[Path]
    files_b: list[Path]


@dataclass
class StudyCollection:
    """What :func:`find_study_pairs` found under a root: usable subjects and the studies it could not use."""

    root: Path
    pairs: list[StudyPair]
    problems: list[tuple[str, str]]  # (subject, one-line reason)
    studies: int

    @property
    def subjects(self) -> list[str]:
        return [p.subject for p in self.pairs]


def _study_label(patient: str, study_uid: str, folder: Path) -> str:
    return patient or folder.name or study_uid


def find_study_pairs(spec: str) -> StudyCollection:
    """The studies under the root of a ``dicom-studies:`` spec and, in each, the files of the two series the
    selectors pick (one scan of the root: headers only, no pixel data).

    Subjects are studies (StudyInstanceUID), wherever their files lie under the root. A subject is named by its
    PatientID (``<PatientID>_<StudyDate or StudyID>`` when a patient has several studies, then ``_2``, ...).
    A study in which a selector matches no series or several, or whose two selectors pick one series, or that
    holds a file with a damaged header, is a problem (skipped or refused by the caller), named by subject.

    Raises:
        DataError: a bad spec, a root that is not a folder or holds no DICOM image series, or a selector that
            matches a series in no study at all (a typing error, not a damaged subject).
    """
    root, sel_a, sel_b = parse_studies_spec(spec)
    if not root.is_dir():
        raise DataError("no such folder (a dicom-studies: spec names a folder of DICOM studies)", root)
    unreadable: list[DataError] = []
    groups, stats = _scan(root, unreadable)
    if not groups:
        raise DataError(f"no DICOM image series here ({stats.text()}); expected a folder of DICOM studies", root)
    studies: dict[str, dict[str, list]] = {}
    for uid, items in groups.items():
        studies.setdefault(_str(items[0][1], "StudyInstanceUID") or "(no StudyInstanceUID)", {})[uid] = items
    infos = []
    for study_uid, series in studies.items():
        ds0 = next(iter(series.values()))[0][1]
        files = [p for items in series.values() for p, _ in items]
        folder = Path(os.path.commonpath([str(p.parent) for p in files]))
        infos.append((folder, study_uid, _str(ds0, "PatientID"), ds0, series))
    infos.sort(key=lambda t: (str(t[0]), t[1]))
    names = _subject_names(infos)
    pairs, problems = [], []
    found = {sel_a: False, sel_b: False}
    for (folder, study_uid, _, _, series), sid in zip(infos, names, strict=True):
        broken = [e for e in unreadable if folder in Path(e.path or "").parents]
        chosen, reason = [], None
        for sel in (sel_a, sel_b):
            try:
                chosen.append(_select(folder, series, stats, sel, option="series"))
                found[sel] = True
            except DataError as err:
                if "matches none" not in str(err):
                    found[sel] = True
                reason = reason or str(err)
        if reason is None and chosen[0] == chosen[1]:
            reason = f"{folder}: both selectors pick the same series ({describe_series(*_id3(series[chosen[0]]))})"
        if reason is None and broken:
            reason = str(broken[0])
        if reason is not None:
            problems.append((sid, reason))
            continue
        pairs.append(StudyPair(sid, folder, study_uid, [p for p, _ in series[chosen[0]]],
                               [p for p, _ in series[chosen[1]]]))
    for sel, hit in found.items():
        if not hit:
            first = infos[0]
            raise DataError(f"series {sel!r} matches no series in any of the {len(infos)} studies (e.g. subject "
                            f"{names[0]}: {_listing(_summaries(first[4]))})", root)
    loose = [e for e in unreadable if not any(i[0] in Path(e.path or "").parents for i in infos)]
    problems.extend(("(no study)", str(e)) for e in loose)
    return StudyCollection(root, pairs, problems, len(infos))


def _id3(items: list) -> tuple[str, str, str]:
    ds = items[0][1]
    return _str(ds, "SeriesNumber"), _str(ds, "SeriesDescription"), _str(ds, "SeriesInstanceUID")


def _subject_names(infos: list) -> list[str]:
    """PatientID per study; a patient's several studies told apart by StudyDate (or StudyID), then a count."""
    base = [_study_label(pid, uid, folder) for folder, uid, pid, _, _ in infos]
    out = []
    for (_, _, _, ds, _), name in zip(infos, base, strict=True):
        if base.count(name) > 1:
            tag = _str(ds, "StudyDate") or _str(ds, "StudyID")
            name = f"{name}_{tag}" if tag else name
        out.append(name)
    seen: dict[str, int] = {}
    unique = []
    for name in out:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return unique


def read_study_pair(pair: StudyPair, min_brain_fraction: float = 0.1,
                    clip_negative: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The slice pairs of one subject of a collection (as :func:`read_dicom_pairs`), from its file lists.

    Raises:
        DataError: the series cannot be read, lie on different grids (naming both), or have no brain slice;
            the message starts with ``subject <id>:``.
    """
    from .volume import check_same_grid

    try:
        va = read_series_files(pair.files_a)
        vb = read_series_files(pair.files_b)
        check_same_grid(va, vb)
        return _pair_slices(va, vb, min_brain_fraction, clip_negative, pair.folder)
    except DataError as err:
        raise DataError(f"subject {pair.subject}: {err}") from None


def read_dicom_collection(spec: str, min_brain_fraction: float = 0.1, clip_negative: bool = True,
                          skip_bad: bool = False, say=None):
    """Every subject of a ``dicom-studies:`` spec read into memory (see :func:`find_study_pairs`).

    A subject that cannot be used raises :class:`DataError`, or with ``skip_bad`` is left out with one
    ``say`` line (default: a Python warning, which the CLI prints as one ``warning:`` line).

    Returns ``(images (N, 2, H, W), slice_index (N,), subject_ids (N), subjects read, skipped (id, reason))``.
    """
    coll = find_study_pairs(spec)

    def skip(sid: str, reason: str) -> None:
        if not skip_bad:
            raise DataError(reason if reason.startswith("subject ") else f"subject {sid}: {reason}")
        skipped.append((sid, reason))
        text = f"skipping subject {sid}: {reason.removeprefix(f'subject {sid}: ')}"
        if say is None:
            warnings.warn(text, stacklevel=3)
        else:
            say(text)

    skipped: list[tuple[str, str]] = []
    for sid, reason in coll.problems:
        skip(sid, reason)
    parts = []
    for pair in coll.pairs:
        try:
            parts.append((pair.subject, *read_study_pair(pair, min_brain_fraction, clip_negative)))
        except DataError as err:
            skip(pair.subject, str(err))
    if not parts:
        reasons = "; ".join(f"{s}: {r}" for s, r in skipped[:3])
        raise DataError(f"no usable subject among {coll.studies} DICOM studies ({reasons})", coll.root)
    sizes = {p[1].shape[2:] for p in parts}
    if len(sizes) > 1:
        listed = ", ".join(f"{p[0]} {p[1].shape[2]}x{p[1].shape[3]}" for p in parts[:6])
        raise DataError(f"subjects have different slice sizes ({listed}); read them separately", coll.root)
    images = np.concatenate([p[1] for p in parts])
    index = np.concatenate([p[2] for p in parts]).astype(np.int32)
    ids = [p[0] for p in parts for _ in range(len(p[2]))]
    return images, index, ids, [p[0] for p in parts], skipped
