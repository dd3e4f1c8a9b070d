"""Synthetic DICOM series written with pydicom: the ground truth for tests, the benchmark and samples/.

Each writer returns what it wrote (stored values in ascending position order, slopes,
intercepts, positions), so tests compare against the generator's own record of the data and
against SimpleITK, never against tensortool's output. No patient data: names are fixed
placeholders ("SYNTHETIC^PHANTOM").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
ENHANCED_CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2.1"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


@dataclass
class Written:
    """What a writer put on disk, in ascending position order (index k = k-th slice up the normal)."""

    files: list[Path]
    stored: np.ndarray  # (D, H, W) stored values
    slopes: list[float]
    intercepts: list[float]
    positions: list[tuple[float, float, float]]
    series_uid: str
    hu: np.ndarray = field(init=False)  # stored * slope + intercept in float64

    def __post_init__(self) -> None:
        s = np.asarray(self.slopes, dtype=np.float64)[:, None, None]
        i = np.asarray(self.intercepts, dtype=np.float64)[:, None, None]
        self.hu = self.stored.astype(np.float64) * s + i


def phantom(depth: int, rows: int, cols: int, seed: int = 0, dtype=np.int16, high: int = 3000) -> np.ndarray:
    """A body-like phantom in stored values for RescaleIntercept -1024: air (0 → -1024 HU), soft
    tissue (about 40 HU), a bright 'bone' (about 700 HU), noise, and a gradient along z."""
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[0:depth, 0:rows, 0:cols].astype(np.float64)
    cy, cx = (rows - 1) / 2, (cols - 1) / 2
    r = np.hypot((y - cy) / (rows / 2.4), (x - cx) / (cols / 2.0))
    vol = np.where(r < 1.0, 1024 + 40, 0).astype(np.float64)
    bone = np.hypot((y - cy * 1.3) / (rows / 10), (x - cx) / (cols / 10)) < 1.0
    vol[bone] = 1024 + 700 + 20 * z[bone]
    vol += rng.normal(0, 10, vol.shape)
    vol += z * 3  # a gradient along z makes the slice order visible
    return np.clip(vol, 0, high).astype(dtype)


def _base(modality: str, sop_class: str, series_uid: str, study_uid: str, series_number: int,
          description: str, frame_of_reference: str, instance_uid: str | None = None) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = instance_uid or generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = "SYNTHETIC^PHANTOM"
    ds.PatientID = "SYNTHETIC"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = frame_of_reference
    ds.Modality = modality
    ds.SeriesNumber = series_number
    ds.SeriesDescription = description
    ds.StudyDescription = "synthetic phantom (no patient data)"
    return ds


def _pixels(ds: Dataset, plane: np.ndarray) -> None:
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = plane.shape[-2:]
    ds.BitsAllocated = plane.dtype.itemsize * 8
    ds.BitsStored = ds.BitsAllocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if plane.dtype.kind == "i" else 0
    ds.PixelData = np.ascontiguousarray(plane).astype(plane.dtype.newbyteorder("<")).tobytes()


def write_series(folder: str | Path, stored: np.ndarray, *, spacing_mm: tuple[float, float] = (0.7, 0.7),
                 step_mm: float = 2.5, origin: tuple[float, float, float] = (-22.0, -22.0, -100.0),
                 orientation: Sequence[float] = AXIAL, slopes: Sequence[float] | float = 1.0,
                 intercepts: Sequence[float] | float = -1024.0, modality: str = "CT",
                 series_uid: str | None = None, study_uid: str | None = None, series_number: int = 1,
                 description: str = "synthetic CT", missing: Sequence[int] = (), tilt_deg: float = 0.0,
                 shuffle_names: bool = True, instance_descending: bool = False, prefix: str = "",
                 seed: int = 0, image_type: Sequence[str] = ("ORIGINAL", "PRIMARY", "AXIAL"),
                 positions: Sequence[float] | None = None, temporal: Sequence[int] | None = None,
                 frame_of_reference: str | None = None) -> Written:
    """One file per slice of ``stored`` (D×H×W), slice k at origin + k·step along the normal.

    ``missing`` leaves slice indices out (a gap); ``tilt_deg`` shifts each slice along the
    column direction by k·step·tan(tilt) (a tilted gantry); ``positions`` overrides the
    distances along the normal (duplicates allowed, with ``temporal`` ids); file names are
    shuffled (random numbers) unless ``shuffle_names`` is False; ``instance_descending``
    numbers slices from the top, as many scanners do.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    depth = stored.shape[0]
    slopes = [float(slopes)] * depth if np.isscalar(slopes) else [float(v) for v in slopes]
    intercepts = [float(intercepts)] * depth if np.isscalar(intercepts) else [float(v) for v in intercepts]
    series_uid = series_uid or generate_uid()
    study_uid = study_uid or generate_uid()
    frame_of_reference = frame_of_reference or generate_uid()
    row, col = np.asarray(orientation[:3]), np.asarray(orientation[3:])
    normal = np.cross(row, col)
    dist = list(positions) if positions is not None else [k * step_mm for k in range(depth)]
    rng = np.random.default_rng(seed)
    names = rng.permutation(100000)[:depth] if shuffle_names else np.arange(depth)
    files, kept = [], []
    for k in range(depth):
        if k in missing:
            continue
        shift = col * dist[k] * np.tan(np.radians(tilt_deg))
        pos = np.asarray(origin) + dist[k] * normal + shift
        ds = _base(modality, CT_IMAGE if modality == "CT" else MR_IMAGE, series_uid, study_uid, series_number,
                   description, frame_of_reference, generate_uid(entropy_srcs=[series_uid, str(k)]))
        ds.ImageType = list(image_type)
        ds.InstanceNumber = (depth - k) if instance_descending else k + 1
        ds.ImagePositionPatient = [f"{v:.4f}" for v in pos]
        ds.ImageOrientationPatient = [f"{v:.6f}" for v in orientation]
        ds.PixelSpacing = [f"{v:g}" for v in spacing_mm]
        ds.SliceThickness = f"{step_mm:g}"
        if tilt_deg:
            ds.GantryDetectorTilt = f"{tilt_deg:g}"
        if temporal is not None:
            ds.TemporalPositionIdentifier = int(temporal[k])
        ds.RescaleSlope = f"{slopes[k]:g}"
        ds.RescaleIntercept = f"{intercepts[k]:g}"
        if modality == "CT":
            ds.RescaleType = "HU"
        ds.WindowCenter, ds.WindowWidth = "40", "400"
        _pixels(ds, stored[k])
        path = folder / f"{prefix}{names[k]:05d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
        kept.append(k)
    return Written(files, stored[kept], [slopes[k] for k in kept], [intercepts[k] for k in kept],
                   [tuple(np.asarray(origin) + dist[k] * normal) for k in kept], series_uid)


def write_localizer(folder: str | Path, series_uid: str, study_uid: str | None = None, *, rows: int = 32,
                    cols: int = 48, name: str = "scout.dcm") -> Path:
    """A coronal LOCALIZER image sharing ``series_uid`` with an axial series."""
    folder = Path(folder)
    ds = _base("CT", CT_IMAGE, series_uid, study_uid or generate_uid(), 1, "synthetic CT", generate_uid())
    ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    ds.InstanceNumber = 1
    ds.ImagePositionPatient = ["-250", "0", "50"]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "0", "-1"]
    ds.PixelSpacing = ["1", "1"]
    ds.RescaleSlope, ds.RescaleIntercept = "1", "-1024"
    _pixels(ds, np.full((rows, cols), 1000, np.int16))
    path = folder / name
    ds.save_as(path, enforce_file_format=True)
    return path


def write_multiframe(path: str | Path, stored: np.ndarray, *, spacing_mm: tuple[float, float] = (0.7, 0.7),
                     step_mm: float = 2.5, origin: tuple[float, float, float] = (-22.0, -22.0, -100.0),
                     slopes: Sequence[float] | float = 1.0, intercepts: Sequence[float] | float = -1024.0,
                     frame_order: Sequence[int] | None = None) -> Written:
    """An enhanced CT multi-frame file holding the same slices as :func:`write_series` would.

    ``frame_order`` stores slice ``frame_order[f]`` as frame f (frames need not be in order).
    """
    depth = stored.shape[0]
    slopes = [float(slopes)] * depth if np.isscalar(slopes) else [float(v) for v in slopes]
    intercepts = [float(intercepts)] * depth if np.isscalar(intercepts) else [float(v) for v in intercepts]
    order = list(frame_order) if frame_order is not None else list(range(depth))
    uid = generate_uid()
    ds = _base("CT", ENHANCED_CT_IMAGE, uid, generate_uid(), 1, "synthetic enhanced CT", generate_uid())
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    ds.InstanceNumber = 1
    ds.NumberOfFrames = depth
    shared = Dataset()
    measures = Dataset()
    measures.PixelSpacing = [f"{v:g}" for v in spacing_mm]
    measures.SliceThickness = f"{step_mm:g}"
    orient = Dataset()
    orient.ImageOrientationPatient = [f"{v:g}" for v in AXIAL]
    shared.PixelMeasuresSequence = DicomSequence([measures])
    shared.PlaneOrientationSequence = DicomSequence([orient])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    frames = []
    for f in range(depth):
        k = order[f]
        group = Dataset()
        pos = Dataset()
        pos.ImagePositionPatient = [f"{v:.4f}" for v in (origin[0], origin[1], origin[2] + k * step_mm)]
        group.PlanePositionSequence = DicomSequence([pos])
        rescale = Dataset()
        rescale.RescaleSlope = f"{slopes[k]:g}"
        rescale.RescaleIntercept = f"{intercepts[k]:g}"
        rescale.RescaleType = "HU"
        group.PixelValueTransformationSequence = DicomSequence([rescale])
        frames.append(group)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(frames)
    _pixels(ds, stored[order])
    ds.save_as(path, enforce_file_format=True)
    return Written([Path(path)], stored, slopes, intercepts,
                   [(origin[0], origin[1], origin[2] + k * step_mm) for k in range(depth)], uid)


def read_back(path: str | Path) -> Dataset:
    return pydicom.dcmread(path)


@dataclass
class Tree:
    """A synthetic export tree: volume series (by SeriesInstanceUID), a localizer file and a broken series."""

    good: dict[str, Written]
    localizer: Path | None
    broken: Written | None


def write_export_tree(root: str | Path, *, series: int = 3, depth: int = 6, rows: int = 24, cols: int = 20,
                      localizer: bool = True, broken: bool = True, seed: int = 0, study_uid: str | None = None,
                      first_number: int = 1) -> Tree:
    """Folders as a PACS export lays them out (study/series/files): ``series`` good volumes (CT and MR
    in turn, series numbers ``first_number``, +1, ...), a LOCALIZER sharing the first one's UID, and a series whose
    slices repeat positions unevenly (it cannot be stacked, so it fails)."""
    root = Path(root)
    study = study_uid or generate_uid()
    good = {}
    for k in range(series):
        modality = "CT" if k % 2 == 0 else "MR"
        w = write_series(root / "study" / f"s{k + 1:03d}", phantom(depth, rows, cols, seed=seed + k), modality=modality,
                         series_number=first_number + k, study_uid=study, seed=seed + k, intercepts=-1024.0 if k % 2 == 0 else 0.0,
                         slopes=1.0 if k % 2 == 0 else 0.5)
        good[w.series_uid] = w
    scout = write_localizer(root / "study" / "s001", next(iter(good)), study) if localizer and good else None
    bad = None
    if broken:
        bad = write_series(root / "study" / "s999", phantom(4, rows, cols, seed=seed + 99), series_number=999,
                           study_uid=study, positions=[0.0, 0.0, 0.0, 2.5], seed=seed + 99)
    return Tree(good, scout, bad)
