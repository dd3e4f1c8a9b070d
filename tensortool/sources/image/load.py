"""Images, folders and ImageFolder trees into one batch tensor.

Decoding sits behind the seam in ``image_decode``. torchvision's decoders release the GIL, so
a thread pool decodes in parallel, and each worker writes its image, already converted,
straight into its slot of the preallocated batch.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from contextlib import contextmanager
from itertools import islice
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TypeVar

import torch

from ..._version import __version__
from ...bundle import Bundle
from ...cores import usable_cores
from ...errors import InputError, OptionError, UsageError
from ...shaping import DTYPES, LAYOUTS, Normalization, convert_into, one_hot as make_one_hot, parse_normalization
from .decode import DEFAULT_MAX_PIXELS, decode_image
from .files import ImageSet, find_images

MODES = ("rgb", "gray", "rgba", "unchanged")
Progress = Callable[[int, int], None]
T = TypeVar("T")


@dataclass(frozen=True)
class ImageOptions:
    """How each image is decoded and sized before it joins a batch (shared with ``stats``).

    ``resize``: ``(n,)`` sets the shorter side to n keeping the aspect, ``(h, w)`` an exact
    size; both with torchvision's antialiased bilinear resize. ``center_crop``: ``(h, w)``.
    ``max_pixels``: refuse an image with more pixels than this (read from its header, before
    decoding; a GIF counts every frame); 0 for no limit. The default is Pillow's.
    """

    mode: str = "rgb"
    resize: tuple[int, ...] | None = None
    center_crop: tuple[int, int] | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise OptionError(f"unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if isinstance(self.max_pixels, bool) or not isinstance(self.max_pixels, int) or self.max_pixels < 0:
            raise UsageError(f"--max-pixels {self.max_pixels!r}: expected a whole number >= 0 (0: no limit)")
        for name, size, lengths in (("resize", self.resize, (1, 2)), ("center-crop", self.center_crop, (2,))):
            if size is not None and (len(size) not in lengths or any(int(s) < 1 for s in size)):
                raise OptionError(f"--{name} {size!r}: expected positive sizes (H,W{' or N' if name == 'resize' else ''})")


def _read_bytes(path: Path) -> torch.Tensor:
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            buf = torch.empty(size, dtype=torch.uint8)
            if size and fh.readinto(memoryview(buf.numpy())) != size:
                raise InputError("file changed while reading", path)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", path) from None
    if size == 0:
        raise InputError("empty file", path)
    return buf


def read_image(path: str | Path, options: ImageOptions = ImageOptions()) -> torch.Tensor:
    """One image file as C×H×W uint8 (or uint16 for 16-bit files), moded, resized, cropped.

    >>> read_image("samples/special/gray.png", ImageOptions(mode="rgb")).shape  # doctest: +SKIP
    torch.Size([3, 48, 64])
    """
    # A tar member (see tar.py) reads itself; anything else is a file path.
    data = path.read_tensor() if hasattr(path, "read_tensor") else _read_bytes(Path(path))
    img = decode_image(data, options.mode, path, options.max_pixels)
    if options.resize is not None or options.center_crop is not None:
        import torchvision.transforms.v2.functional as F  # 0.2 s to import: only when needed

        try:
            if options.resize is not None:
                img = F.resize(img, list(options.resize), antialias=True)
            if options.center_crop is not None:
                img = F.center_crop(img, list(options.center_crop))
        except (RuntimeError, ValueError) as exc:  # e.g. a 1-pixel-wide image resized by its short side
            raise InputError(f"cannot resize or crop this {img.shape[1]}x{img.shape[2]} image: "
                             f"{str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}",
                             path) from None
    return img


_decoding = threading.local()
_watchers: list[Callable[[Path, bool], None]] = []


def decoding_file() -> Path | None:
    """The file this thread is reading in :func:`iter_images`, if any: lets a warnings hook
    name the file a decoder's warning is about."""
    return getattr(_decoding, "path", None)


@contextmanager
def watch_files(callback: Callable[[Path, bool], None]) -> Iterator[None]:
    """Call ``callback(path, started)`` in the reading thread as each file of :func:`iter_images`
    starts (True) and ends (False): lets a caller tell which file a C library's output is about."""
    _watchers.append(callback)
    try:
        yield
    finally:
        _watchers.remove(callback)


SMALL_FILE_BYTES = 3 * 1024


def default_workers(files: Sequence[Path] = ()) -> int:
    """All cores, except for datasets of tiny files (median of the first 32 under 3 KiB, e.g.
    CIFAR's 32x32 PNGs): there the per-file work is mostly Python holding the GIL, and two
    threads only convoy on it. Measured on 2 cores (µs per image, 1 vs 2 threads): 32x32 PNG
    1.8 KiB 95 vs 128; 96x96 JPEG 1.9 KiB 133 vs 181; 48x48 PNG 3.2 KiB 147 vs 142; 64x64 PNG
    5.5 KiB 182 vs 151; 256x256 JPEG 14.5 KiB about 2x faster with two."""
    cores = usable_cores()
    sizes = []
    for path in files[:32]:
        try:
            sizes.append(path.size if hasattr(path, "read_tensor") else os.stat(path).st_size)
        except OSError:
            pass
    if sizes and sorted(sizes)[len(sizes) // 2] < SMALL_FILE_BYTES:
        return 1
    return cores


def iter_images(files: Sequence[Path], options: ImageOptions, fn: Callable[[int, torch.Tensor], T], *,
                workers: int | None = None, skip_bad: bool = False,
                progress: Progress | None = None) -> Iterator[tuple[int, T | None, str | None]]:
    """Read every file, call ``fn(index, image)`` on it in a worker thread, and yield
    ``(index, result, None)`` in file order, or ``(index, None, reason)`` for a file skipped
    with ``skip_bad`` (otherwise a bad file raises InputError).

    At most a few images per worker are in flight, so memory does not grow with the number
    of files, and the consumer sees results in the same order whatever ``workers`` is.
    """
    workers = workers or default_workers(files)

    def one(i: int) -> tuple[int, T | None, InputError | None]:
        _decoding.path = files[i]
        watchers = tuple(_watchers)
        for watch in watchers:
            watch(files[i], True)
        try:
            return i, fn(i, read_image(files[i], options)), None
        except InputError as exc:
            return i, None, exc
        finally:
            _decoding.path = None
            for watch in watchers:
                watch(files[i], False)

    def settle(item: tuple[int, T | None, InputError | None]) -> tuple[int, T | None, str | None]:
        i, result, exc = item
        if exc is None:
            return i, result, None
        if not skip_bad:
            raise exc
        return i, None, exc.message

    if workers == 1:
        for i in range(len(files)):
            yield settle(one(i))
            if progress:
                progress(i + 1, len(files))
        return
    # Several files per task: one future per small file costs more than decoding it.
    chunk = max(1, min(32, len(files) // (workers * 32)))
    starts = iter(range(0, len(files), chunk))

    def task(start: int) -> list[tuple[int, T | None, InputError | None]]:
        return [one(i) for i in range(start, min(start + chunk, len(files)))]

    with ThreadPoolExecutor(workers, thread_name_prefix="tensortool-decode") as pool:
        pending: deque = deque(pool.submit(task, start) for start in islice(starts, workers * 4))
        try:
            while pending:
                items = pending.popleft().result()
                nxt = next(starts, None)
                if nxt is not None:
                    pending.append(pool.submit(task, nxt))
                for item in items:
                    yield settle(item)
                    if progress:
                        progress(item[0] + 1, len(files))
        finally:  # an error, or a consumer that stopped early: drop the queued work
            for future in pending:
                future.cancel()


# --- the batch ----------------------------------------------------------------------------

def _size_text(shape: tuple[int, ...], channels: bool = False) -> str:
    c, h, w = shape
    return f"{h}x{w} with {c} channel{'s' if c > 1 else ''}" if channels else f"{h}x{w}"


def _memory_limit() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


class _Batch:
    """The output tensor, allocated by the first image that arrives; later ones fill slots."""

    def __init__(self, files: Sequence[Path], *, layout: str, dtype: torch.dtype, scale: bool,
                 normalization: Normalization | None):
        self.files, self.layout, self.dtype, self.scale = files, layout, dtype, scale
        self.normalization = normalization
        self.lock = threading.Lock()
        self.out: torch.Tensor | None = None
        self.shape: tuple[int, ...] | None = None
        self.norm: tuple[torch.Tensor, torch.Tensor] | None = None

    def _allocate(self, shape: tuple[int, ...]) -> None:
        c, h, w = shape
        per_image = (h, w, c) if self.layout in ("nhwc", "hwc") else (c, h, w)
        needed = len(self.files) * c * h * w * torch.empty((), dtype=self.dtype).element_size()
        limit = _memory_limit()
        if limit and needed > limit:
            raise OptionError(f"this batch needs {needed / 2**30:.1f} GiB ({len(self.files)} images of "
                              f"{_size_text(shape, True)}) but the machine has {limit / 2**30:.1f} GiB",
                              hint="use --resize, fewer files, or `tensortool stats` for statistics")
        if self.normalization is not None:
            self.norm = self.normalization.for_channels(c)
        self.out = torch.empty((len(self.files), *per_image), dtype=self.dtype)
        self.shape = shape

    def place(self, i: int, img: torch.Tensor) -> tuple[tuple[int, ...], int]:
        shape, bits = tuple(img.shape), 8 if img.dtype == torch.uint8 else 16
        if bits == 16 and self.dtype == torch.uint8 and not self.scale:
            raise OptionError("16-bit image, but --dtype uint8 keeps raw 8-bit values", self.files[i],
                              hint="add --scale to map 0..65535 to 0..255, or use a float --dtype")
        with self.lock:
            if self.out is None:
                self._allocate(shape)
        if shape == self.shape:
            convert_into(self.out[i], img, layout=self.layout, scale=self.scale, normalization=self.norm)
        return shape, bits


def _size_error(files: Sequence[Path], shapes: list[tuple[int, ...] | None]) -> OptionError:
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, shape in enumerate(shapes):
        if shape is not None:
            groups.setdefault(shape, []).append(i)
    by_size = len({(s[1], s[2]) for s in groups}) > 1
    parts = [f"{_size_text(s, not by_size)} ({len(ix)} file{'s' if len(ix) > 1 else ''}, e.g. {files[ix[0]]})"
             for s, ix in sorted(groups.items(), key=lambda kv: kv[1][0])]
    if by_size:
        return OptionError("the images differ in size: " + "; ".join(parts),
                           hint="pass --resize and/or --center-crop to make them one size")
    return OptionError("the images differ in channel count: " + "; ".join(parts),
                       hint="pass --mode rgb, gray or rgba to give every image the same channels")


def load_images(paths: Sequence[str | Path] | str | Path, *, mode: str = "rgb", layout: str = "nchw",
                dtype: str = "float32", scale: bool | None = None,
                normalize: str | Normalization | None = None,
                resize: Sequence[int] | None = None, center_crop: Sequence[int] | None = None,
                one_hot: bool = False, workers: int | None = None, skip_bad: bool = False,
                max_pixels: int = DEFAULT_MAX_PIXELS, progress: Progress | None = None,
                before_decoding: Callable[[list[str]], None] | None = None) -> Bundle:
    """Load image files, folders, glob patterns or an ImageFolder tree into one tensor.

    The batch is ``images`` (N×C×H×W by default); an ImageFolder tree adds ``labels``
    (int64) and, with ``one_hot``, ``labels_onehot`` (float32 N×K). Floats are scaled to
    [0, 1] by bit depth unless ``scale=False``; uint8 keeps raw values. An image of more than
    ``max_pixels`` pixels (0: no limit) is refused from its header, before it is decoded.
    ``before_decoding`` is called with the names of the tensors the bundle will hold once the
    files are found, before any is decoded (to refuse an output that cannot hold them early).

    >>> b = load_images("samples/images", resize=[64], center_crop=[64, 64])  # doctest: +SKIP
    >>> b["images"].shape, b.meta["class_names"]  # doctest: +SKIP
    (torch.Size([9, 3, 64, 64]), ['cat', 'coffee', 'space'])
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if layout not in LAYOUTS:
        raise OptionError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    if dtype not in DTYPES:
        raise OptionError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    out_dtype = DTYPES[dtype]
    if isinstance(normalize, str):
        normalize = parse_normalization(normalize)
    if normalize is not None and out_dtype == torch.uint8:
        raise UsageError("--normalize needs a floating-point --dtype, not uint8")
    do_scale = (out_dtype != torch.uint8) if scale is None else scale
    if normalize is not None and normalize.scale == ("raw" if do_scale else "unit"):
        raise OptionError(f"the statistics in {normalize.source} describe {normalize.scale} values, but the "
                          f"images are {'scaled to [0,1]' if do_scale else 'raw (--no-scale)'}",
                          hint="drop --no-scale" if not do_scale else "add --no-scale")
    options = ImageOptions(mode, tuple(int(v) for v in resize) if resize else None,
                           tuple(int(v) for v in center_crop) if center_crop else None, max_pixels)
    if workers is not None and workers < 1:
        raise UsageError("--workers must be at least 1")

    found: ImageSet = find_images(paths)
    if one_hot and found.labels is None:
        raise OptionError("--one-hot needs class labels: pass one folder whose sub-folders are the classes",
                          hint=found.warnings[0] if found.warnings else None)
    if layout in ("chw", "hwc") and len(found.files) != 1:
        raise OptionError(f"--layout {layout} holds a single image, but {len(found.files)} were found",
                          hint="use nchw or nhwc for a batch")

    if before_decoding is not None:
        before_decoding(["images"] + (["labels"] if found.labels is not None else [])
                        + (["labels_onehot"] if one_hot else []))

    batch = _Batch(found.files, layout=layout, dtype=out_dtype, scale=do_scale, normalization=normalize)
    results: list[tuple[tuple[int, ...], int] | None] = [None] * len(found.files)
    bad: list[tuple[int, str]] = []
    for i, result, reason in iter_images(found.files, options, batch.place, workers=workers,
                                         skip_bad=skip_bad, progress=progress):
        results[i] = result
        if reason is not None:
            bad.append((i, reason))
    shapes = [r[0] if r else None for r in results]
    if len({s for s in shapes if s is not None}) > 1:
        raise _size_error(found.files, shapes)
    keep = [i for i, r in enumerate(results) if r is not None]
    if not keep:
        raise InputError(f"none of the {len(found.files)} file(s) could be read", found.files[0])
    images = batch.out
    if len(keep) < len(found.files):
        images = images.index_select(0, torch.tensor(keep))
    if layout in ("chw", "hwc"):
        images = images[0]

    tensors = {"images": images}
    meta: dict[str, Any] = {
        "layout": layout, "mode": mode, "dtype": dtype,
        "scaled": do_scale,
        "value_range": _value_range(out_dtype, do_scale, {r[1] for r in results if r}, normalize is not None),
        "bit_depths": sorted({r[1] for r in results if r}),
        "normalize": normalize.as_meta() if normalize else None,
        "resize": list(options.resize) if options.resize else None,
        "center_crop": list(options.center_crop) if options.center_crop else None,
        "count": len(keep),
        "files": [str(found.files[i]) for i in keep],
    }
    if found.labels is not None:
        labels = torch.tensor([found.labels[i] for i in keep], dtype=torch.int64)
        tensors["labels"] = labels
        meta["class_names"] = found.class_names
        if one_hot:
            tensors["labels_onehot"] = make_one_hot(labels, len(found.class_names))
    warnings = list(found.warnings)
    if found.empty_classes:
        warnings.append(f"class folder(s) with no images: {', '.join(found.empty_classes)} "
                        "(kept as class indices, so labels match torchvision's ImageFolder)")
    if bad:
        meta["skipped"] = [{"file": str(found.files[i]), "error": reason} for i, reason in bad]
        warnings.append(f"skipped {len(bad)} unreadable file(s)")
    meta["warnings"] = warnings
    meta["tensortool_version"] = __version__
    return Bundle(tensors, meta, primary="images")


def _value_range(dtype: torch.dtype, scale: bool, depths: set[int], normalized: bool) -> str:
    if dtype == torch.uint8:
        text = "0..255 (raw 8-bit values)" if not scale or depths == {8} else "0..255 (16-bit images as round(x/257))"
    elif scale:
        text = "0..1 (x/255 for 8-bit, x/65535 for 16-bit images)"
    else:
        text = {frozenset({8}): "0..255 (raw)", frozenset({16}): "0..65535 (raw)"}.get(
            frozenset(depths), "raw: 0..255 (8-bit), 0..65535 (16-bit)")
    return f"(x - mean) / std of {text}" if normalized else text
