"""The series under some paths, from their headers alone: what ``load-dicom --list`` shows.

Free of torch, so listing a folder does not pay for importing it.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

from ...errors import InputError
from .grouping import Series, group_series
from .scan import find_dicom_files, scan_headers

Progress = Callable[[int, int], None]


def scan_series(paths: Sequence[str | os.PathLike] | str | os.PathLike, workers: int | None, skip_bad: bool,
                progress: Progress | None = None) -> tuple[list[Series], dict[str, Any]]:
    """(series found under ``paths``, scan facts: not_dicom, skipped, files_seen); headers only."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not paths:
        raise InputError("no input given")
    files = find_dicom_files(paths)
    planes, not_dicom, bad = scan_headers(files, workers=workers, skip_bad=skip_bad, progress=progress)
    if not planes:
        where = ", ".join(map(str, paths))
        raise InputError(f"no DICOM images found ({len(files)} file(s) looked at, {not_dicom} not DICOM images)",
                         where)
    return group_series(planes), {"not_dicom": not_dicom, "skipped": bad, "files_seen": len(files)}


def list_dicom_series(paths: Sequence[str | os.PathLike] | str | os.PathLike, *, workers: int | None = None,
                      skip_bad: bool = False) -> list[dict[str, Any]]:
    """The series found under ``paths``, one dict each; no pixels read.

    Keys: index, modality, description, series_number, slices, rows, columns, samples,
    orientation (axial/coronal/sagittal/oblique), spacing_mm (z, y, x), kind, series_uid.
    No patient identifiers.

    >>> [s["slices"] for s in list_dicom_series("samples/dicom/ct")]  # doctest: +SKIP
    [16]
    """
    series, _ = scan_series(paths, workers, skip_bad)
    return [s.row() for s in series]
