"""One series' pixels into a rescaled stack (T×D×H×W[×C]): read in a thread pool, each slice
rescaled straight into its slot of a preallocated array.

``stored * slope + intercept`` is computed in the working float type, so no integer type can
overflow; memory stays at the output plus a few stored slices in flight.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from typing import Any, Callable

import numpy as np
import torch

from ...errors import InputError
from .geometry import Geometry, slice_geometry
from .grouping import Series
from .headers import SliceHeader
from .pixels import _read_pixels

Progress = Callable[[int, int], None]


def allocate(s: Series, geo: Geometry, work_dtype: torch.dtype, channels: int) -> np.ndarray:
    """The empty (repeats, depth, H, W[, C]) stack, or an InputError when it does not fit in memory."""
    h, w = s.size
    depth = len(geo.slices) // geo.repeats
    # numpy's allocator asks for transparent huge pages on large arrays: the kernel then maps the
    # fresh output about 5x faster than in 4 KiB pages (torch.empty does not ask).
    shape = (geo.repeats, depth, h, w) + ((channels,) if channels == 3 else ())
    try:
        return np.empty(shape, dtype=torch.empty(0, dtype=work_dtype).numpy().dtype)
    except MemoryError:
        raise InputError(f"series {s.index}: a {'×'.join(map(str, shape))} volume does not fit in memory",
                         geo.slices[0].path) from None


def _put(frame: np.ndarray, slot: np.ndarray, hd: SliceHeader, raw: bool, path: str) -> None:
    """One plane's stored values into its slot, rescaled unless ``raw``."""
    if frame.shape != slot.shape:  # pydicom decodes what the data holds, not what we read
        raise InputError(f"pixel data is {'×'.join(map(str, frame.shape))}, the header says "
                         f"{'×'.join(map(str, slot.shape))} (Rows×Columns[×SamplesPerPixel])", path)
    if raw or (hd.slope == 1 and not hd.intercept):
        np.copyto(slot, frame, casting="unsafe")
    elif hd.slope == 1:  # one pass; the same float32 sum as multiplying by 1.0 first
        np.add(frame, np.asarray(hd.intercept, dtype=slot.dtype), out=slot, casting="unsafe")
    else:
        np.multiply(frame, np.asarray(hd.slope, dtype=slot.dtype), out=slot, casting="unsafe")
        if hd.intercept:
            slot += np.asarray(hd.intercept, dtype=slot.dtype)


def fill(target: np.ndarray, geo: Geometry, *, raw: bool, skip_bad: bool, workers: int | None,
         progress: Progress | None) -> tuple[set[str], list[dict[str, str]]]:
    """Decode every file of ``geo`` into ``target``: (paths that failed, skipped-file records).

    Each worker decodes one file and writes its planes straight into their slots.
    """
    reps = geo.repeats
    buffers = threading.local()
    slots: dict[str, list[tuple[int, SliceHeader]]] = {}
    for k, hd in enumerate(geo.slices):
        slots.setdefault(hd.path, []).append((k, hd))

    def one(path: str) -> InputError | None:
        try:
            arr = _read_pixels(path, slots[path][0][1], buffers)
            for k, hd in slots[path]:
                if hd.frame is not None and (arr.ndim < 3 or hd.frame >= arr.shape[0]):
                    raise InputError(f"frame {hd.frame} is missing from the pixel data", path)
                _put(arr[hd.frame] if hd.frame is not None else arr, target[k % reps, k // reps], hd, raw, path)
        except InputError as exc:
            return exc
        return None

    bad: set[str] = set()
    skipped: list[dict[str, str]] = []
    workers = min(workers or min(8, os.cpu_count() or 1), len(slots))
    # One worker reads in the calling thread, where a signal (Ctrl-C, a time limit) can stop it.
    with ThreadPoolExecutor(workers) if workers > 1 else nullcontext() as pool:
        for k, (path, err) in enumerate(zip(slots, pool.map(one, slots) if pool else map(one, slots))):
            if err is not None:
                if not skip_bad:
                    raise err
                bad.add(path)
                skipped.append({"file": path, "error": err.message})
            if progress:
                progress(k + 1, len(slots))
    return bad, skipped


def drop_bad(s: Series, volume: torch.Tensor, geo: Geometry, bad: set[str], *, order: str,
             split_duplicates: bool) -> tuple[torch.Tensor, Geometry]:
    """The stack without the slices of unreadable files, and the geometry worked out again (so the gap shows)."""
    reps = geo.repeats
    depth = len(geo.slices) // reps
    keep = [k for k, hd in enumerate(geo.slices) if hd.path not in bad]
    if not keep:
        raise InputError(f"every slice of series {s.index} is unreadable")
    geo = slice_geometry([geo.slices[k] for k in keep], order=order, split_duplicates=split_duplicates)
    flat = volume.reshape((reps * depth,) + tuple(volume.shape[2:]))
    # slot k lives at [k % reps, k // reps]: flat index (k % reps) * depth + k // reps
    index = torch.tensor([(k % reps) * depth + k // reps for k in keep])
    reps = geo.repeats
    depth = len(geo.slices) // reps
    volume = flat.index_select(0, index).reshape((depth, reps) + tuple(volume.shape[2:])).transpose(0, 1)
    return volume, geo


def raw_dtype(stored: set[np.dtype]) -> torch.dtype:
    """The smallest torch type holding every stored type (uint16 → int32: torch has little uint16)."""
    common = np.result_type(*stored)
    if common == np.uint16:
        return torch.int32
    if common == np.uint32:
        return torch.int64
    return torch.from_numpy(np.zeros(1, dtype=common)).dtype


def read_stack(s: Series, geo: Geometry, *, work_dtype: torch.dtype, channels: int, raw: bool, skip_bad: bool,
               order: str, split_duplicates: bool, workers: int | None,
               progress: Progress | None) -> tuple[torch.Tensor, Geometry, list[dict[str, Any]]]:
    """(stack, geometry, skipped files): the series' planes read and rescaled, bad files dropped with ``skip_bad``."""
    target = allocate(s, geo, work_dtype, channels)
    volume = torch.from_numpy(target)
    bad, skipped = fill(target, geo, raw=raw, skip_bad=skip_bad, workers=workers, progress=progress)
    if bad:  # rare: drop the bad slices
        volume, geo = drop_bad(s, volume, geo, bad, order=order, split_duplicates=split_duplicates)
    return volume, geo, skipped
