"""Images, folders and ImageFolder trees into one batch tensor.

Decoding sits behind the seam in ``decode`` (TorchCodec, torchvision or Pillow, all of which
release the GIL), so a thread pool decodes in parallel, and each worker writes its image,
already converted, straight into its slot of the batch (``batch``).
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
from ...errors import InputError, OptionError, UsageError, q
from ...shaping import DTYPES, LAYOUTS, Normalization, one_hot as make_one_hot, parse_normalization
from .backends import decoder_label, resolve_decoder
from .constants import DECODERS, MODES  # noqa: F401  (MODES: re-exported)
from .decode import DEFAULT_MAX_PIXELS, decode_image
from .batch import Batch, size_error, value_range
from .files import ImageSet, find_images

Progress = Callable[[int, int], None]
T = TypeVar("T")


@dataclass(frozen=True)
class ImageOptions:
    """How each image is decoded and sized before it joins a batch (shared with ``stats``).

    ``resize``: ``(n,)`` sets the shorter side to n keeping the aspect, ``(h, w)`` an exact
    size; both with torchvision's antialiased bilinear resize. ``center_crop``: ``(h, w)``.
    ``max_pixels``: refuse an image with more pixels than this (read from its header, before
    decoding; a GIF counts every frame); 0 for no limit. The default is Pillow's.
    ``decoder``: "auto", "torchcodec", "torchvision" or "pillow" (see ``backends``).
    """

    mode: str = "rgb"
    resize: tuple[int, ...] | None = None
    center_crop: tuple[int, int] | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    decoder: str = "auto"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise OptionError(f"unknown {{mode={self.mode}}}; choose one of {', '.join(MODES)}",
                              param="mode", allowed=MODES)
        if self.decoder not in DECODERS:
            raise UsageError(f"unknown {{decoder={self.decoder}}}; choose one of {', '.join(DECODERS)}",
                             param="decoder", allowed=DECODERS)
        if isinstance(self.max_pixels, bool) or not isinstance(self.max_pixels, int) or self.max_pixels < 0:
            raise UsageError(f"{{max_pixels={self.max_pixels}}}: expected a whole number >= 0 (0: no limit)",
                             param="max_pixels")
        for name, size, lengths in (("resize", self.resize, (1, 2)), ("center_crop", self.center_crop, (2,))):
            if size is not None and (len(size) not in lengths or any(int(s) < 1 for s in size)):
                raise OptionError(f"{{{name}}} {q(size)}: expected positive sizes (H,W{' or N' if name == 'resize' else ''})",
                                  param=name)


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
    img = decode_image(data, options.mode, path, options.max_pixels, options.decoder)
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


def _read_one(files: Sequence[Path], i: int, options: ImageOptions,
              fn: Callable[[int, torch.Tensor], T]) -> tuple[int, T | None, InputError | None]:
    """``fn(i, image)`` for file ``i``, or the InputError it raised; watchers told."""
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


def _in_pool(files: Sequence[Path], options: ImageOptions, fn: Callable[[int, torch.Tensor], T],
             workers: int) -> Iterator[tuple[int, T | None, InputError | None]]:
    """``_read_one`` for every file on ``workers`` threads, yielded in file order."""
    # Several files per task: one future per small file costs more than decoding it.
    chunk = max(1, min(32, len(files) // (workers * 32)))
    starts = iter(range(0, len(files), chunk))

    def task(start: int) -> list[tuple[int, T | None, InputError | None]]:
        return [_read_one(files, i, options, fn) for i in range(start, min(start + chunk, len(files)))]

    with ThreadPoolExecutor(workers, thread_name_prefix="tensortool-decode") as pool:
        pending: deque = deque(pool.submit(task, start) for start in islice(starts, workers * 4))
        try:
            while pending:
                items = pending.popleft().result()
                nxt = next(starts, None)
                if nxt is not None:
                    pending.append(pool.submit(task, nxt))
                yield from items
        finally:  # an error, or a consumer that stopped early: drop the queued work
            for future in pending:
                future.cancel()


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
    if workers == 1:
        items: Iterator = (_read_one(files, i, options, fn) for i in range(len(files)))
    else:
        items = _in_pool(files, options, fn, workers)
    try:
        for i, result, exc in items:
            if exc is not None and not skip_bad:
                raise exc
            yield (i, result, None) if exc is None else (i, None, exc.message)
            if progress:
                progress(i + 1, len(files))
    finally:  # an error, or a consumer that stopped early: the pool drops its queued work now
        items.close()


def _check_options(layout: str, dtype: str, scale: bool | None,
                   normalize: str | Normalization | None) -> tuple[torch.dtype, bool, Normalization | None]:
    """(output dtype, whether to scale, normalization) from the shaping options."""
    if layout not in LAYOUTS:
        raise OptionError(f"unknown {{layout={layout}}}; choose one of {', '.join(LAYOUTS)}",
                          param="layout", allowed=LAYOUTS)
    if dtype not in DTYPES:
        raise OptionError(f"unknown {{dtype={dtype}}}; choose one of {', '.join(DTYPES)}",
                          param="dtype", allowed=tuple(DTYPES))
    out_dtype = DTYPES[dtype]
    if isinstance(normalize, str):
        normalize = parse_normalization(normalize)
    if normalize is not None and out_dtype == torch.uint8:
        raise UsageError("{normalize} needs a floating-point {dtype}, not uint8", param="normalize")
    do_scale = (out_dtype != torch.uint8) if scale is None else scale
    if normalize is not None and normalize.scale == ("raw" if do_scale else "unit"):
        raise OptionError(f"the statistics in {normalize.source} describe {normalize.scale} values, but the "
                          f"images are {'scaled to [0,1]' if do_scale else 'raw ({scale=False})'}",
                          hint="drop {scale=False}" if not do_scale else "add {scale=False}", param="scale")
    return out_dtype, do_scale, normalize


def _find(paths: Sequence[str | Path] | str | Path, layout: str, one_hot: bool) -> ImageSet:
    if isinstance(paths, (str, Path)):
        paths = [paths]
    found: ImageSet = find_images(paths)
    if one_hot and found.labels is None:
        raise OptionError("{one_hot} needs class labels: pass one folder whose sub-folders are the classes",
                          hint=found.warnings[0] if found.warnings else None, param="one_hot")
    if layout in ("chw", "hwc") and len(found.files) != 1:
        raise OptionError(f"{{layout={layout}}} holds a single image, but {len(found.files)} were found",
                          hint="use nchw or nhwc for a batch", param="layout")
    return found


def load_images(paths: Sequence[str | Path] | str | Path, *, mode: str = "rgb", layout: str = "nchw",
                dtype: str = "float32", scale: bool | None = None,
                normalize: str | Normalization | None = None,
                resize: Sequence[int] | None = None, center_crop: Sequence[int] | None = None,
                one_hot: bool = False, workers: int | None = None, skip_bad: bool = False,
                max_pixels: int = DEFAULT_MAX_PIXELS, decoder: str = "auto", progress: Progress | None = None,
                before_decoding: Callable[[list[str]], None] | None = None) -> Bundle:
    """Load image files, folders, glob patterns or an ImageFolder tree into one tensor.

    The batch is ``images`` (N×C×H×W by default); an ImageFolder tree adds ``labels``
    (int64) and, with ``one_hot``, ``labels_onehot`` (float32 N×K). Floats are scaled to
    [0, 1] by bit depth unless ``scale=False``; uint8 keeps raw values. An image of more than
    ``max_pixels`` pixels (0: no limit) is refused from its header, before it is decoded.
    ``decoder`` picks the image decoder ("auto": TorchCodec if it imports, else torchvision;
    the one used is ``meta["decoder"]``). ``before_decoding`` is called with the names of the
    tensors the bundle will hold once the files are found, before any is decoded (to refuse
    an output that cannot hold them early).

    >>> b = load_images("samples/images", resize=[64], center_crop=[64, 64])  # doctest: +SKIP
    >>> b["images"].shape, b.meta["class_names"]  # doctest: +SKIP
    (torch.Size([9, 3, 64, 64]), ['cat', 'coffee', 'space'])
    """
    out_dtype, do_scale, normalize = _check_options(layout, dtype, scale, normalize)
    options = ImageOptions(mode, tuple(int(v) for v in resize) if resize else None,
                           tuple(int(v) for v in center_crop) if center_crop else None, max_pixels,
                           resolve_decoder(decoder) if decoder in DECODERS else decoder)
    if workers is not None and workers < 1:
        raise UsageError("{workers} must be at least 1", param="workers")
    found = _find(paths, layout, one_hot)
    if before_decoding is not None:
        before_decoding(["images"] + (["labels"] if found.labels is not None else [])
                        + (["labels_onehot"] if one_hot else []))

    batch = Batch(found.files, layout=layout, dtype=out_dtype, scale=do_scale, normalization=normalize)
    results: list[tuple[tuple[int, ...], int] | None] = [None] * len(found.files)
    bad: list[tuple[int, str]] = []
    for i, result, reason in iter_images(found.files, options, batch.place, workers=workers,
                                         skip_bad=skip_bad, progress=progress):
        results[i] = result
        if reason is not None:
            bad.append((i, reason))
    shapes = [r[0] if r else None for r in results]
    if len({s for s in shapes if s is not None}) > 1:
        raise size_error(found.files, shapes)
    keep = [i for i, r in enumerate(results) if r is not None]
    if not keep:
        raise InputError(f"none of the {len(found.files)} file(s) could be read", found.files[0])
    images = batch.out
    if len(keep) < len(found.files):
        images = images.index_select(0, torch.tensor(keep))
    if layout in ("chw", "hwc"):
        images = images[0]
    return _bundle(images, found, keep, results, bad, options, layout=layout, dtype=dtype,
                   scale=do_scale, normalize=normalize, one_hot=one_hot)


def _bundle(images: torch.Tensor, found: ImageSet, keep: list[int], results: list, bad: list[tuple[int, str]],
            options: ImageOptions, *, layout: str, dtype: str, scale: bool,
            normalize: Normalization | None, one_hot: bool) -> Bundle:
    """The batch, its labels and its meta."""
    depths = {r[1] for r in results if r}
    tensors = {"images": images}
    meta: dict[str, Any] = {
        "layout": layout, "mode": options.mode, "dtype": dtype,
        "scaled": scale,
        "value_range": value_range(DTYPES[dtype], scale, depths, normalize is not None),
        "bit_depths": sorted(depths),
        "normalize": normalize.as_meta() if normalize else None,
        "resize": list(options.resize) if options.resize else None,
        "center_crop": list(options.center_crop) if options.center_crop else None,
        "decoder": decoder_label(options.decoder),
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
