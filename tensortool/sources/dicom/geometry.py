"""Where the slices of a series lie: order, spacing, gaps, gantry tilt and the affine (LPS, mm)."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ...errors import InputError
from .headers import SliceHeader

GAP_TOLERANCE = 0.05  # relative difference of a slice step from the median step
DUPLICATE_MM = 1e-3  # positions closer than this along the normal are the same slice position
TILT_DEGREES = 0.1  # below this, a stack is considered untilted


def _normal(orientation: tuple[float, ...]) -> np.ndarray:
    n = np.cross(orientation[:3], orientation[3:])
    return n / np.linalg.norm(n)


def _distances(slices: Sequence[SliceHeader]) -> np.ndarray:
    """d = (row × column direction) · ImagePositionPatient, per slice."""
    n = _normal(slices[0].orientation)
    return np.array([float(np.dot(n, s.position)) for s in slices])


@dataclass
class Geometry:
    """Where the slices lie: order, spacing, gaps, tilt, affine (LPS, mm)."""

    slices: list[SliceHeader]
    spacing_mm: tuple[float, float, float]  # (z, y, x)
    origin_mm: tuple[float, float, float]
    direction: tuple[float, ...]  # 3×3 row-major; columns: x (w), y (h), z (d) axes in LPS
    affine_lps: list[list[float]]  # (d, h, w, 1) voxel index -> (L, P, S, 1) mm
    positions_mm: list[float]  # distance of each slice along the normal
    gaps: list[dict[str, Any]]
    tilt_deg: float
    warnings: list[str]
    repeats: int = 1  # planes per position when split along time/echo


def slice_geometry(slices: list[SliceHeader], *, order: str = "position",
                   split_duplicates: bool = False) -> Geometry:
    """Order slices and work out spacing, gaps, tilt and the affine.

    ``order="position"`` sorts by the distance along the slice normal, ascending;
    ``"instance"`` by InstanceNumber. Duplicate positions are an error unless
    ``split_duplicates`` and every position repeats the same number of times.
    """
    warnings: list[str] = []
    first = slices[0]
    ps = first.pixel_spacing or (1.0, 1.0)
    if first.pixel_spacing is None:
        warnings.append("no PixelSpacing: 1 mm assumed in-plane")
    if not all(s.position is not None and s.orientation is not None for s in slices):
        return _unplaced(slices, ps, warnings)
    ordered, dist, repeats = _ordered(slices, order, split_duplicates)
    # Keep the first repeat for the geometry; the loader reads the rest in the same order.
    geo_slices = ordered[::repeats]
    geo_dist = dist[::repeats]
    row = np.asarray(first.orientation[:3], dtype=np.float64)
    col = np.asarray(first.orientation[3:], dtype=np.float64)
    normal = _normal(first.orientation)
    positions = np.array([s.position for s in geo_slices], dtype=np.float64)
    if len(geo_slices) > 1:
        z, slice_vec, gaps, tilt = _stack_step(geo_slices, geo_dist, positions, normal, warnings)
    else:
        z = first.slice_thickness or 1.0
        slice_vec, gaps, tilt = normal * z, [], 0.0
    origin = positions[0]
    # SimpleITK's direction: columns are the unit vectors of the x (column), y (row), z (slice) axes.
    zdir = slice_vec / max(np.linalg.norm(slice_vec), 1e-12)
    direction = np.stack([row, col, zdir if tilt == 0.0 else normal * np.sign(np.dot(slice_vec, normal) or 1)], 1)
    affine = np.eye(4)
    affine[:3, 0] = slice_vec  # d
    affine[:3, 1] = col * ps[0]  # h: next row
    affine[:3, 2] = row * ps[1]  # w: next column
    affine[:3, 3] = origin
    return Geometry(
        ordered, (float(z), float(ps[0]), float(ps[1])), tuple(float(v) for v in origin),
        tuple(float(v) for v in direction.reshape(-1)), [[float(v) for v in r] for r in affine],
        [float(v) for v in geo_dist], gaps, round(tilt, 4), warnings, repeats)


def _unplaced(slices: list[SliceHeader], ps: tuple[float, float], warnings: list[str]) -> Geometry:
    """Slices without ImagePositionPatient/ImageOrientationPatient: by InstanceNumber, SliceThickness apart."""
    first = slices[0]
    ordered = sorted(slices, key=lambda s: (s.instance if s.instance is not None else 0, s.path, s.frame or 0))
    z = first.slice_thickness or 1.0
    if len(slices) > 1:
        warnings.append(f"no ImagePositionPatient/ImageOrientationPatient: slices ordered by InstanceNumber, "
                        f"slice spacing taken from SliceThickness ({z:g} mm)")
    direction = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    affine = [[0.0, 0.0, ps[1], 0.0], [0.0, ps[0], 0.0, 0.0], [z, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
    return Geometry(ordered, (z, ps[0], ps[1]), (0.0, 0.0, 0.0), direction, affine,
                    [k * z for k in range(len(ordered))], [], 0.0, warnings)


def _ordered(slices: list[SliceHeader], order: str,
             split_duplicates: bool) -> tuple[list[SliceHeader], np.ndarray, int]:
    """(slices in order, their distances along the normal, planes per position)."""
    d = _distances(slices)
    if order == "instance":
        idx = sorted(range(len(slices)), key=lambda k: (slices[k].instance if slices[k].instance is not None else 0,
                                                        d[k], slices[k].path))
    else:  # position, ties broken by time/echo then instance, so repeats come out in acquisition order
        idx = sorted(range(len(slices)), key=lambda k: (round(d[k] / DUPLICATE_MM), _repeat_key(slices[k])))
    ordered = [slices[k] for k in idx]
    dist = d[idx]
    # Duplicate positions: 4-D (time), multi-echo, or repeated acquisitions.
    # a set, not np.unique (like np.median, its first call imports numpy.ma: 8 ms, a tenth of a load)
    unique_positions = set(np.round(dist / DUPLICATE_MM).tolist())
    if len(unique_positions) == len(ordered):
        return ordered, dist, 1
    counts = Counter(np.round(dist / DUPLICATE_MM).tolist())
    sizes = set(counts.values())
    if not split_duplicates or len(sizes) != 1 or order != "position":
        worst = max(counts, key=counts.get)
        example = [s.path for s, v in zip(ordered, np.round(dist / DUPLICATE_MM)) if v == worst][:3]
        raise InputError(
            f"{len(ordered) - len(counts)} slice(s) share a position with another slice "
            f"(up to {counts[worst]} at {worst * DUPLICATE_MM:.3f} mm, e.g. {', '.join(example)})",
            hint="a 4-D or multi-echo series: {split_duplicates=True} stacks the repeats along the first axis"
                 if len(sizes) == 1 else "the repeats are uneven; pick the files of one acquisition",
            param="split_duplicates" if len(sizes) == 1 else None)
    return ordered, dist, sizes.pop()


def _stack_step(geo_slices: list[SliceHeader], geo_dist: np.ndarray, positions: np.ndarray, normal: np.ndarray,
                warnings: list[str]) -> tuple[float, np.ndarray, list[dict[str, Any]], float]:
    """(slice spacing, the affine's slice vector, gaps, tilt in degrees) of two or more positions."""
    n = len(geo_slices)
    steps = np.diff(geo_dist)
    step = float(statistics.median(np.abs(steps).tolist()))  # np.median's first call imports numpy.ma
    gaps: list[dict[str, Any]] = []
    for k, s in enumerate(np.abs(steps)):
        if abs(s - step) > GAP_TOLERANCE * step:
            gaps.append({"between": [k, k + 1], "files": [geo_slices[k].path, geo_slices[k + 1].path],
                         "expected_mm": round(step, 4), "found_mm": round(float(s), 4)})
    for g in gaps:
        warnings.append(f"uneven slice spacing between slices {g['between'][0]} and {g['between'][1]} "
                        f"({g['files'][0]} → {g['files'][1]}): expected {g['expected_mm']:g} mm, "
                        f"found {g['found_mm']:g} mm; spacing_mm and affine_lps use the median step, "
                        "slice_positions_mm holds each slice's real position (resample with those)")
    through = positions[-1] - positions[0]
    cos = abs(float(np.dot(through, normal))) / max(float(np.linalg.norm(through)), 1e-12)
    tilt = float(np.degrees(np.arccos(min(1.0, cos))))
    # The affine's slice step is the median step, the same as spacing_mm's z: the mean step
    # (first to last over n-1) would fold any gap into every slice. With a gap, only
    # slice_positions_mm places every slice; the affine is exact up to the first gap.
    span = float(geo_dist[-1] - geo_dist[0])
    signed = step if span >= 0 else -step
    if tilt < TILT_DEGREES:
        return step, normal * signed, gaps, 0.0
    # Gantry tilt: the stack is sheared; the affine follows the slices' real positions.
    slice_vec = through * (signed / span) if span else through / (n - 1)
    warnings.append(f"gantry tilt of {tilt:.2f} degrees: the volume is sheared; the affine follows the "
                    "slice positions (ITK and SimpleITK ignore the shear)")
    return step, slice_vec, gaps, tilt


def _repeat_key(s: SliceHeader) -> tuple:
    return (s.temporal if s.temporal is not None else 0.0, s.echo if s.echo is not None else 0.0,
            s.acquisition_time, s.instance if s.instance is not None else 0, s.path, s.frame or 0)
