"""Dataset statistics: per-channel mean and std, streaming, exact and mergeable.

Image files are read with load-image's own reader (same modes, resize, crop), and each image
adds exact integer sums per channel, grouped by bit depth; tensor files add float64 moments
(Chan et al.). Memory is a few images per worker, whatever the dataset size. Every result
carries its state, so shards computed anywhere merge exactly into the single-run result.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch

from .._version import __version__
from ..bundle import channel_dim as channel_dim_of
from ..engine import Engine, engine_of
from ..errors import InputError, OptionError, UsageError, q
from ..moments import IntegerSums, Moments, PixelSums
from ..sources.image.load import DEFAULT_MAX_PIXELS, ImageOptions, Progress, iter_images
from ..sources.image.files import find_images, names_of
from ..tensorfile import read_bundle

TENSOR_SUFFIXES = (".pt", ".pth", ".safetensors", ".npy", ".npz")
FORMAT = "tensortool-stats/1"


@dataclass
class DatasetStats:
    """The mergeable state of a dataset's per-channel statistics, and what it describes.

    ``integer`` maps bit depth (8, 16) to exact sums of image pixels; ``floating`` holds the
    moments of tensor-file values. ``scale`` is "unit" (pixels divided by 2**bits - 1),
    "raw", or None (tensor values as stored).
    """

    channels: int
    images: int = 0
    integer: dict[int, IntegerSums] = field(default_factory=dict)
    floating: Moments | None = None
    scale: str | None = "unit"
    inputs: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    shards: list[list[int]] = field(default_factory=list)  # [[index, count], ...] merged in
    skipped: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    kind: str = "images"  # what a sample is: images, volumes, or table (rows; channels are columns)

    def moments(self) -> Moments:
        total = Moments.empty(self.channels)
        for bits in sorted(self.integer):
            total = total.merge(self.integer[bits].moments(2**bits - 1 if self.scale == "unit" else 1))
        if self.floating is not None:
            total = total.merge(self.floating)
        return total

    def to_json(self, *, unbiased: bool = False) -> dict[str, Any]:
        """The stats file: mean/std/scale that ``load_images(normalize=...)`` reads, provenance,
        and the exact state that ``merge_stats`` combines."""
        m = self.moments()
        return {
            "mean": m.mean.tolist(), "std": m.std(1 if unbiased else 0).tolist(), "scale": self.scale,
            "ddof": 1 if unbiased else 0, "min": m.min.tolist(), "max": m.max.tolist(),
            "kind": self.kind, "count": self.images, "values_per_channel": int(m.count[0].item()) if self.channels else 0,
            "inputs": self.inputs, "options": self.options,
            "shard": self.shards[0] if len(self.shards) == 1 else None,
            "skipped": self.skipped, "warnings": self.warnings, "tensortool_version": __version__,
            "state": {"format": FORMAT, "channels": self.channels, "images": self.images,
                      "integer": {str(b): s.to_json() for b, s in sorted(self.integer.items())},
                      "floating": self.floating.to_json() if self.floating is not None else None,
                      "shards": self.shards},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], path: str | Path) -> "DatasetStats":
        state = data.get("state") if isinstance(data, dict) else None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise InputError("not a tensortool stats file with a mergeable state (no 'state')", path,
                             hint="merge the files written by `tensortool stats -o`")
        try:
            return cls(int(state["channels"]), int(state["images"]),
                       {int(b): IntegerSums.from_json(s) for b, s in state["integer"].items()},
                       Moments.from_json(state["floating"]) if state["floating"] else None,
                       data.get("scale"), list(data.get("inputs", [])), dict(data.get("options", {})),
                       [list(map(int, s)) for s in state.get("shards", [])], list(data.get("skipped", [])),
                       [], str(data.get("kind", "images")))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"damaged stats state: {exc}", path) from None

    def normalize_line(self) -> str:
        """The ready-to-paste torchvision transform."""
        m = self.moments()
        fmt = lambda values: "[" + ", ".join(f"{v:.6g}" for v in values.tolist()) + "]"  # noqa: E731
        return f"transforms.Normalize(mean={fmt(m.mean)}, std={fmt(m.std())})"


def parse_shard(text: str) -> tuple[int, int]:
    """'I/N' with 0 <= I < N (0-based, like a SLURM array task id running 0..N-1)."""
    try:
        index, count = (int(v) for v in text.split("/"))
    except ValueError:
        raise UsageError(f"{{shard}} {q(text)}: expected I/N, e.g. 0/8", param="shard") from None
    if count < 1 or not 0 <= index < count:
        raise UsageError(f"{{shard}} {q(text)}: need 0 <= I < N", param="shard")
    return index, count


def _is_tensor_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() in TENSOR_SUFFIXES


def dataset_stats(paths: Sequence[str | Path] | str | Path, *, mode: str = "rgb",
                  resize: Sequence[int] | None = None, center_crop: Sequence[int] | None = None,
                  raw: bool = False, workers: int | None = None, skip_bad: bool = False,
                  shard: tuple[int, int] | str | None = None, key: str | None = None,
                  channel_dim: int | None = None, max_pixels: int = DEFAULT_MAX_PIXELS,
                  progress: Progress | None = None, engine: str | Engine | None = None) -> DatasetStats:
    """Per-channel statistics of images (as load-image would read them) or of tensor files.

    ``max_pixels``: an image with more pixels is refused from its header (0: no limit).
    ``engine``: None or "local" reads here with threads; "ray" (or a ``RayEngine``) splits the
    images into tasks on a Ray cluster, with the identical result.

    >>> s = dataset_stats("samples/images")  # doctest: +SKIP
    >>> s.to_json()["mean"], s.normalize_line()  # doctest: +SKIP
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if isinstance(shard, str):
        shard = parse_shard(shard)
    kinds = {_is_tensor_file(p) for p in paths}
    if kinds == {True}:
        if resize or center_crop or mode != "rgb" or raw:
            raise OptionError("{mode}, {resize}, {center_crop} and {raw} apply to images, not tensor files",
                              param="mode" if mode != "rgb" else "resize" if resize else "center_crop"
                              if center_crop else "raw")
        if shard:
            raise OptionError("{shard} applies to image folders; give each job its own tensor files", param="shard")
        if engine is not None and engine != "local":
            raise OptionError("{engine} applies to images; tensor files are read here", param="engine")
        return _tensor_stats(paths, key=key, channel_dim=channel_dim, progress=progress)
    if True in kinds:
        raise OptionError("give either image files and folders or tensor files, not both")
    if key is not None or channel_dim is not None:
        raise OptionError("{key} and {channel_dim} apply to tensor files, not images",
                          param="key" if key is not None else "channel_dim")
    return _image_stats(paths, ImageOptions(mode, tuple(resize) if resize else None,
                                            tuple(center_crop) if center_crop else None, max_pixels),
                        raw=raw, workers=workers, skip_bad=skip_bad, shard=shard, progress=progress,
                        engine=engine_of(engine))


def _image_stats(paths: Sequence[str | Path], options: ImageOptions, *, raw: bool, workers: int | None,
                 skip_bad: bool, shard: tuple[int, int] | None, progress: Progress | None,
                 engine: Engine | None) -> DatasetStats:
    files = all_files = find_images(paths).files
    if shard:
        files = all_files[shard[0]::shard[1]]  # every N-th file of the sorted list
        if not files:
            raise InputError(f"shard {shard[0]}/{shard[1]} holds no files ({len(all_files)} in all)", paths[0])
    if engine is None:
        sums = image_sums(files, options, workers=workers, skip_bad=skip_bad, progress=progress)
    else:
        from .distributed import engine_image_sums

        sums = engine_image_sums(files, options, skip_bad=skip_bad, engine=engine, progress=progress)
    by_depth, first, skipped = sums.by_depth, sums.first, sums.skipped
    if not by_depth:
        raise InputError(f"none of the {len(files)} file(s) could be read", files[0])
    channels = next(iter(first))
    result = DatasetStats(
        channels, len(files) - len(skipped), by_depth, None,
        "raw" if raw else "unit", [str(p) for p in paths],
        {"mode": options.mode, "resize": list(options.resize) if options.resize else None,
         "center_crop": list(options.center_crop) if options.center_crop else None,
         "skip_bad": skip_bad},
        [list(shard)] if shard else [], skipped)
    if skipped:
        result.warnings.append(f"skipped {len(skipped)} unreadable file(s)")
    return result


@dataclass
class ImageSums:
    """Exact pixel sums of some of the images, by bit depth: what one task returns. Merged in file
    order, parts give the sums, first files and skipped list of the whole, bit for bit."""

    by_depth: dict[int, IntegerSums] = field(default_factory=dict)
    first: dict[int, Path] = field(default_factory=dict)  # channel count -> first file seen with it
    skipped: list[dict[str, str]] = field(default_factory=list)

    def merge(self, later: "ImageSums") -> "ImageSums":
        """These sums and those of files that come after them."""
        first = dict(self.first)
        for channels, path in later.first.items():  # one at a time, as the local run meets them
            first.setdefault(channels, path)
            _check_channels(first)
        return ImageSums(merge_depths(self.by_depth, later.by_depth), first, self.skipped + later.skipped)


def merge_depths(a: dict[int, IntegerSums], b: dict[int, IntegerSums]) -> dict[int, IntegerSums]:
    """The exact merge of two sets of per-bit-depth sums (integers: any order, same bits)."""
    merged = dict(a)
    for bits, sums in b.items():
        merged[bits] = merged[bits].merge(sums) if bits in merged else sums
    return merged


def _check_channels(first: dict[int, Path]) -> None:
    if len(first) > 1:
        seen = "; ".join(f"{c} channel(s), e.g. {f}" for c, f in first.items())
        raise OptionError(f"the images differ in channel count: {seen}", hint="pass {mode=rgb}, gray or rgba",
                          param="mode")


def image_sums(files: Sequence[Path], options: ImageOptions, *, workers: int | None, skip_bad: bool,
               progress: Progress | None = None, check_channels: bool = True) -> ImageSums:
    """Read ``files`` on ``workers`` threads and sum their pixels exactly. Without
    ``check_channels`` (a task), differing channel counts are left for the merge to report."""
    sums = _ThreadSums(files)
    first: dict[int, Path] = {}
    skipped = []
    for i, channels, reason in iter_images(files, options, sums.add, workers=workers, skip_bad=skip_bad,
                                           progress=progress):
        if reason is not None:
            skipped.append({"file": str(files[i]), "error": reason})
            continue
        first.setdefault(channels, files[i])
        if check_channels:
            _check_channels(first)
    return ImageSums(sums.totals(), first, skipped)  # the workers have finished: iter_images is exhausted


_JPEG = (".jpg", ".jpeg", ".jpe", ".jfif")
_EVICT_PIXELS = 128 * 128  # below this the decoder's cost of finding lines in cache is small


class _ThreadSums:
    """Exact pixel sums kept per worker thread (no lock on the hot path), combined at the end.

    Integer sums make the result identical whatever thread saw which image.
    """

    def __init__(self, files: Sequence[Path]) -> None:
        # Only large JPEGs' pixels are flushed from the CPU caches once summed (see _pixelsums.c):
        # it halves what the sums cost them (38 -> 17 µs per 256x256 RGB image, one worker); for
        # PNGs it would add 1-2%.
        self._evict = [str(f).lower().endswith(_JPEG) for f in names_of(files)]
        self._lock = threading.Lock()
        self._local = threading.local()
        self._per_thread: list[dict[tuple[torch.dtype, int], PixelSums]] = []

    def add(self, index: int, image: torch.Tensor) -> int:
        """Called in a worker thread for each image; returns its channel count."""
        try:
            mine = self._local.sums
        except AttributeError:  # this thread's first image
            mine = self._local.sums = {}
            with self._lock:
                self._per_thread.append(mine)
        channels, height, width = image.shape
        sums = mine.get((image.dtype, channels))
        if sums is None:
            sums = mine[image.dtype, channels] = PixelSums(channels, 8 if image.dtype == torch.uint8 else 16)
        sums.add(image, self._evict[index] and height * width >= _EVICT_PIXELS)
        return channels

    def totals(self) -> dict[int, IntegerSums]:
        """Bit depth -> sums over every thread (one channel count, checked by the caller)."""
        by_depth: dict[int, IntegerSums] = {}
        for mine in self._per_thread:
            for sums in mine.values():
                part = sums.result()
                by_depth[sums.bits] = by_depth[sums.bits].merge(part) if sums.bits in by_depth else part
        return by_depth


def _channel_axis(t: torch.Tensor, channel_dim: int | None, layout: str | None) -> int | None:
    if channel_dim is not None:
        if not -t.dim() <= channel_dim < t.dim():
            raise OptionError(f"{{channel_dim}} {channel_dim} is out of range for a {t.dim()}-D tensor",
                              param="channel_dim")
        return channel_dim % t.dim()
    from_meta = channel_dim_of(layout, t.dim())  # e.g. nhwc or hwc written by load-image
    if from_meta is not None:
        return from_meta
    return {1: None, 2: 1, 3: 0}.get(t.dim(), 1)  # N×F columns, C×H×W, N×C×H×W, N×C×D×H×W


def _tensor_stats(paths: Sequence[str | Path], *, key: str | None, channel_dim: int | None,
                  progress: Progress | None) -> DatasetStats:
    total: Moments | None = None
    items = 0
    scales = set()
    warnings = []
    kinds = []
    for n, path in enumerate(paths):
        bundle = read_bundle(path)
        name = key or bundle.primary
        if name not in bundle.tensors:
            raise InputError(f"no tensor named {q(name)}; it holds {', '.join(bundle.tensors) or 'none'}", path,
                             hint="choose one with {key}", param="key")
        t = bundle[name]
        if t.is_complex() or t.dim() == 0 and t.numel() == 0:
            raise InputError(f"tensor {q(name)} ({t.dtype}) has no statistics", path)
        layout = bundle.meta.get("layout") if name == bundle.primary else None
        axis = _channel_axis(t, channel_dim, layout)
        part = Moments.of(t, axis)
        kinds.append(_kind(t, layout))
        if total is not None and part.count.numel() != total.count.numel():
            raise InputError(f"tensor {q(name)} has {part.count.numel()} channel(s), the earlier files "
                             f"{total.count.numel()}", path)
        total = part if total is None else total.merge(part)
        items += t.shape[0] if t.dim() >= 2 and axis != 0 else 1
        meta = bundle.meta
        scales.add("unit" if meta.get("scaled") is True else "raw" if meta.get("scaled") is False else None)
        if meta.get("normalize"):
            warnings.append(f"{path}: holds normalized values; these statistics describe them, not the pixels")
        if progress:
            progress(n + 1, len(paths))
    assert total is not None
    return DatasetStats(total.count.numel(), items, {}, total, scales.pop() if len(scales) == 1 else None,
                        [str(p) for p in paths], {"key": key, "channel_dim": channel_dim}, [], [], warnings,
                        kinds[0] if len(set(kinds)) == 1 else "tensors")


def _kind(t: torch.Tensor, layout: str | None) -> str:
    """What one sample of a tensor file is, for the words of the report."""
    if layout in ("nc", "nct", "ntc") or layout is None and t.dim() <= 2:
        return "table"
    if layout and "d" in layout or layout is None and t.dim() == 5:
        return "volumes"
    return "images"
