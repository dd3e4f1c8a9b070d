"""Planes into series: group by SeriesInstanceUID, spacing and orientation; mark localizers; choose one.

Grouping follows what dcm2niix and GDCM do: SeriesInstanceUID first, then PixelSpacing and
ImageOrientationPatient (with a tolerance), so that a localizer or an orientation change inside
one UID becomes its own group and is never stacked into a volume.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from ...errors import InputError, OptionError, q
from .geometry import DUPLICATE_MM, _distances
from .headers import SliceHeader

ORIENTATION_TOLERANCE = 1e-2  # max abs difference of direction cosines (about 0.6 degrees)
SPACING_TOLERANCE = 1e-3  # relative, for PixelSpacing


@dataclass
class Series:
    """A group of slices that can form one volume (or a localizer group that never does)."""

    index: int
    uid: str
    slices: list[SliceHeader]
    localizer: str | None = None  # why it is a localizer, or None for a volume candidate
    odd_files: list[str] = field(default_factory=list)  # slices whose Rows/Columns differ

    @property
    def first(self) -> SliceHeader:
        return self.slices[0]

    @property
    def size(self) -> tuple[int, int]:
        return Counter((s.rows, s.columns) for s in self.slices).most_common(1)[0][0]

    def orientation_label(self) -> str:
        return orientation_label(self.first.orientation)

    def row(self) -> dict[str, Any]:
        """One row of ``list_dicom_series``: no patient identifiers."""
        s = self.first
        spacing = s.pixel_spacing
        z = None
        if self.localizer is None and len(self.slices) > 1 and all(x.position and x.orientation for x in self.slices):
            steps = np.diff(np.sort(_distances(self.slices)))
            steps = steps[steps > DUPLICATE_MM]
            z = round(float(np.median(steps)), 3) if steps.size else None
        return {
            "index": self.index, "modality": s.modality, "description": s.description,
            "series_number": s.series_number, "slices": len(self.slices),
            "rows": self.size[0], "columns": self.size[1], "samples": s.samples,
            "orientation": self.orientation_label(),
            "spacing_mm": [z, *(round(v, 3) for v in spacing)] if spacing else None,
            "kind": "localizer" if self.localizer else ("mixed sizes" if self.odd_files else "volume"),
            "note": self.localizer or (f"Rows/Columns differ in {len(self.odd_files)} file(s)" if self.odd_files
                                       else ""),
            "series_uid": self.uid,
        }


class SeriesChoiceError(OptionError):
    """Several volume candidates and no choice: carries them so the CLI can list them."""

    def __init__(self, message: str, series: list[Series], hint: str | None = None, *, param: str | None = None):
        super().__init__(message, hint=hint, param=param,
                         allowed=[s.index for s in series if s.localizer is None] if param else None)
        self.series = series


def _close(a: tuple[float, ...] | None, b: tuple[float, ...] | None, tol: float, relative: bool = False) -> bool:
    if a is None or b is None:
        return a is b
    x, y = np.asarray(a), np.asarray(b)
    limit = tol * np.maximum(np.abs(x), np.abs(y)) if relative else tol
    return bool(np.all(np.abs(x - y) <= limit))


def group_series(planes: Iterable[SliceHeader]) -> list[Series]:
    """Group planes into series; mark localizers; number them in a stable order.

    Within one SeriesInstanceUID, planes go to the same group when their PixelSpacing and
    ImageOrientationPatient agree within a tolerance. ImageType LOCALIZER, or an orientation
    other than that of the UID's largest group, makes a group a localizer. Rows/Columns that
    differ inside a group are recorded (loading it is an error naming the odd files).
    """
    by_uid: dict[str, list[SliceHeader]] = {}
    for p in planes:
        by_uid.setdefault(p.series_uid, []).append(p)
    series: list[Series] = []
    for uid, members in by_uid.items():
        groups: list[list[SliceHeader]] = []
        scouts = [p for p in members if "LOCALIZER" in p.image_type]
        for p in members:
            if "LOCALIZER" in p.image_type:
                continue
            for g in groups:
                if (_close(g[0].orientation, p.orientation, ORIENTATION_TOLERANCE)
                        and _close(g[0].pixel_spacing, p.pixel_spacing, SPACING_TOLERANCE, relative=True)):
                    g.append(p)
                    break
            else:
                groups.append([p])
        groups.sort(key=len, reverse=True)
        orientations = [g for g in groups if not _close(g[0].orientation, groups[0][0].orientation,
                                                        ORIENTATION_TOLERANCE)]
        no_majority = bool(orientations) and len(orientations[0]) == len(groups[0])
        for k, g in enumerate(groups):
            s = Series(0, uid, g)
            if no_majority and any(x is g for x in orientations) or no_majority and k == 0:
                s.localizer = "several orientations, none in the majority (a multi-plane pilot)"
            elif any(x is g for x in orientations):
                s.localizer = f"orientation differs from the other {len(groups[0])} slice(s) of its series"
            sizes = Counter((x.rows, x.columns) for x in g)
            if len(sizes) > 1:
                main = sizes.most_common(1)[0][0]
                s.odd_files = sorted({x.path for x in g if (x.rows, x.columns) != main})
            series.append(s)
        if scouts:
            series.append(Series(0, uid, scouts, localizer="ImageType LOCALIZER"))
    # Groups of one UID stay together, ordered by the UID's lowest SeriesNumber; volumes before localizers.
    number: dict[str, int] = {}
    for s in series:
        n = min((x.series_number for x in s.slices if x.series_number is not None), default=1 << 30)
        number[s.uid] = min(number.get(s.uid, n), n)
    series.sort(key=lambda s: (s.first.study_uid, number[s.uid], s.uid, s.localizer is not None, -len(s.slices)))
    for k, s in enumerate(series):
        s.index = k
        s.slices.sort(key=lambda x: (x.path, x.frame or 0))
    return series


def orientation_label(orientation: tuple[float, ...] | None) -> str:
    """axial / coronal / sagittal when the slice normal is within 10 degrees of an axis; else oblique."""
    if orientation is None:
        return "unknown"
    normal = np.cross(orientation[:3], orientation[3:])
    axis = int(np.argmax(np.abs(normal)))
    if abs(normal[axis]) < np.cos(np.radians(10)):
        return "oblique"
    return ("sagittal", "coronal", "axial")[axis]


def choose_series(series: list[Series], choice: str | int | None) -> Series:
    """The series a user asked for (index or SeriesInstanceUID), or the only volume candidate."""
    candidates = [s for s in series if s.localizer is None]
    if choice is not None:
        text = str(choice)
        for s in series:
            if text == str(s.index) or text == s.uid:
                matches = [x for x in series if x.uid == s.uid and x.localizer is None] if text == s.uid else [s]
                if len(matches) > 1:
                    raise SeriesChoiceError(f"SeriesInstanceUID {text} holds {len(matches)} volume groups",
                                            series, hint="choose one by its index", param="series")
                chosen = matches[0] if matches else s
                if chosen.localizer:
                    raise OptionError(f"series {chosen.index} is a localizer ({chosen.localizer}); "
                                      "it is not stacked into a volume", param="series")
                return chosen
        raise SeriesChoiceError(f"no series {q(text)}", series, param="series",
                                hint="give {series} an index or a SeriesInstanceUID of a series found")
    if not candidates:
        raise InputError("no image series found (only localizers or no images)")
    if len(candidates) > 1:
        raise SeriesChoiceError(f"{len(candidates)} series could be loaded as volumes", series,
                                hint="choose one with {series=INDEX} or {series=UID}, or load them all "
                                     "with {all_series=True}", param="series")
    return candidates[0]

