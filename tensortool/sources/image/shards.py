"""load-image into a folder of .safetensors shards: planned as pure tasks, written one at a time.

``plan_image_shards`` finds the files and cuts them into :class:`ImageShardTask` s; ``write_image_shard``
decodes one task into one shard file (the same task always gives the same bytes, wherever it
runs); ``write_image_shards`` runs the missing ones in order and keeps the manifest. Memory is
one shard, whatever the size of the dataset.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from ...engine import Engine, engine_of
from ...engine.shards import write_shards_on
from ...errors import InputError, OptionError, q
from ...sharded.manifest import Manifest, ShardRecord
from ...sharded.writer import ShardFolder, is_intact, write_tensors
from ...shaping import DTYPES, one_hot as make_one_hot
from .decode import DEFAULT_MAX_PIXELS
from .files import PathList, find_images, names_of
from .tar import TarMember
from .load import ImageOptions, Progress, load_images, read_image

DEFAULT_SHARD_BYTES = 256 * 10**6


@dataclass(frozen=True)
class ImageShardTask:
    """One shard to write: its files (and labels) and the options that decide its bytes."""

    folder: str
    index: int
    files: tuple[Any, ...]  # paths, or tar members
    labels: tuple[int, ...] | None
    sample_shape: tuple[int, ...]
    options: dict[str, Any] = field(default_factory=dict)  # load_images' keyword arguments
    class_names: tuple[str, ...] | None = None
    one_hot: bool = False

    @property
    def name(self) -> str:
        return f"shard-{self.index:05d}.safetensors"


@dataclass
class ImageShardPlan:
    """Every shard task of a run, the options the manifest keeps, and what the whole holds."""

    tasks: list[ImageShardTask]
    options: dict[str, Any]
    info: dict[str, Any]


def _sample_shape(files: Sequence[Any], options: ImageOptions, layout: str, skip_bad: bool) -> tuple[int, ...]:
    """The shape of one image in the batch, from the first file that decodes."""
    for path in files:
        try:
            c, h, w = read_image(path, options).shape
        except InputError:
            if not skip_bad:
                raise
            continue
        return (h, w, c) if layout == "nhwc" else (c, h, w)
    raise InputError(f"none of the {len(files)} file(s) could be read", files[0] if files else None)


def plan_image_shards(paths: Sequence[str | Path] | str | Path, folder: str | Path, *, mode: str = "rgb",
                      layout: str = "nchw", dtype: str = "float32", scale: bool | None = None,
                      normalize: str | None = None, resize: Sequence[int] | None = None,
                      center_crop: Sequence[int] | None = None, one_hot: bool = False,
                      skip_bad: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS,
                      shard_bytes: int = DEFAULT_SHARD_BYTES, images_per_shard: int | None = None,
                      shuffle: int | None = None, decoder: str = "auto") -> ImageShardPlan:
    """Find the images and cut them into shard tasks (``images_per_shard`` each, or as many as
    fit in ``shard_bytes``); ``shuffle`` (a seed) permutes the files first, deterministically."""
    paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if layout not in ("nchw", "nhwc"):
        raise OptionError("{layout=%s} holds a single image; shards hold batches" % layout,
                          param="layout", allowed=("nchw", "nhwc"), hint="use {layout=nchw} or {layout=nhwc}")
    if dtype not in DTYPES:
        raise OptionError(f"unknown dtype {q(dtype)}", param="dtype", allowed=tuple(DTYPES))
    for name, value in (("shard_bytes", shard_bytes), ("images_per_shard", images_per_shard)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise OptionError(f"{{{name}}} must be a whole number of at least 1, not {q(value)}", param=name)
    found = find_images(paths)
    if one_hot and found.labels is None:
        raise OptionError("{one_hot} needs class labels: pass one folder whose sub-folders are the classes",
                          param="one_hot")
    image_options = ImageOptions(mode, tuple(resize) if resize else None, tuple(center_crop) if center_crop else None,
                                 max_pixels)
    sample = _sample_shape(found.files, image_options, layout, skip_bad)
    per_image = int(np.prod(sample)) * DTYPES[dtype].itemsize + (8 if found.labels is not None else 0)
    per_shard = images_per_shard or max(1, shard_bytes // per_image)
    order = np.arange(len(found.files)) if shuffle is None else np.random.default_rng(shuffle).permutation(len(found.files))
    names = names_of(found.files)  # strings (or tar members), not a million Path objects
    files = [names[i] for i in order]
    labels = None if found.labels is None else [found.labels[i] for i in order]
    options = {"mode": mode, "layout": layout, "dtype": dtype, "scale": scale, "normalize": normalize,
               "resize": list(resize) if resize else None, "center_crop": list(center_crop) if center_crop else None,
               "skip_bad": skip_bad, "max_pixels": max_pixels, "decoder": decoder}
    class_names = tuple(found.class_names) if found.class_names else None
    tasks = [ImageShardTask(str(folder), k, tuple(files[at:at + per_shard]),
                            None if labels is None else tuple(labels[at:at + per_shard]), sample, options, class_names, one_hot)
             for k, at in enumerate(range(0, len(files), per_shard))]
    listing = hashlib.sha256("\n".join(map(str, files)).encode("utf-8", "surrogateescape")).hexdigest()
    # skip_bad is left out: the shards a failed run finished hold no bad file, so a run that
    # goes on skipping them writes what a skipping run would have. The decoders give the same
    # pixels, so the decoder does not decide the bytes either.
    kept = {**{k: v for k, v in options.items() if k not in ("skip_bad", "decoder")}, "one_hot": one_hot, "images_per_shard": per_shard, "shuffle": shuffle,
            "inputs": [str(p) for p in paths], "files": len(files), "files_sha256": listing}
    info = {"layout": layout, "dtype": dtype, "mode": mode, "sample_shape": list(sample),
            "class_names": found.class_names, "skip_bad": skip_bad,
            "warnings": list(found.warnings)}
    return ImageShardPlan(tasks, kept, info)


def write_image_shard(task: ImageShardTask, progress: Progress | None = None,
                      workers: int | None = None) -> ShardRecord:
    """Decode one task's images and write its shard file atomically; the same task always gives
    the same bytes. Holds ``images`` (and ``labels``, ``labels_onehot``) and the per-shard meta."""
    found = list(task.files) if isinstance(task.files[0], TarMember) else PathList(list(task.files))
    bundle = load_images(found, workers=workers, progress=progress, **task.options)
    images = bundle["images"]
    if tuple(images.shape[1:]) != task.sample_shape:
        raise InputError(f"this image is {tuple(images.shape[1:])} in the batch, but the first image of the "
                         f"dataset is {task.sample_shape}", bundle.meta["files"][0],
                         hint="pass {resize} and/or {center_crop} to make them one size")
    tensors = {"images": images}
    meta = {**bundle.meta, "shard": task.index}
    if task.labels is not None:
        kept = set(bundle.meta["files"])
        labels = torch.tensor([lab for f, lab in zip(task.files, task.labels) if str(f) in kept], dtype=torch.int64)
        tensors["labels"] = labels
        meta["class_names"] = list(task.class_names or ())
        if task.one_hot:
            tensors["labels_onehot"] = make_one_hot(labels, len(task.class_names or ()))
    size, sha = write_tensors(Path(task.folder) / task.name, tensors, meta)
    return ShardRecord(task.name, task.index, len(images), size, sha, list(bundle.meta.get("skipped", [])))


def summary_info(plan: ImageShardPlan, manifest: Manifest) -> dict[str, Any]:
    """What the manifest says of the whole once every shard is finished."""
    count = manifest.count
    warnings = list(plan.info["warnings"])
    if manifest.skipped:
        warnings.append(f"skipped {len(manifest.skipped)} unreadable file(s)")
    return {**plan.info, "shape": [count, *plan.info["sample_shape"]], "warnings": warnings}


def _planned_and_intact(tasks: list[ImageShardTask], folder: Path, record: Any) -> bool:
    """A finished shard is kept on resume only where the plan has it (the manifest may have been
    edited: a record the plan does not make would join the dataset) and its file is intact."""
    task = tasks[record.index] if 0 <= record.index < len(tasks) else None
    return task is not None and record.name == task.name and is_intact(folder, record)


def write_image_shards(paths: Sequence[str | Path] | str | Path, folder: str | Path, *, force: bool = False,
                       resume: bool = False, workers: int | None = None, progress: Progress | None = None,
                       on_plan: Callable[[ImageShardPlan, ShardFolder], None] | None = None,
                       engine: str | Engine | None = None, **options: Any) -> Manifest:
    """Load images into a folder of .safetensors shards plus ``manifest.json``.

    Takes :func:`load_images`' options (``mode``, ``layout``, ``dtype``, ``resize``...) and
    :func:`plan_image_shards`' (``shard_bytes``, ``images_per_shard``, ``shuffle``). Run again
    with the same options, it checks the finished shards and writes only the rest; other options
    are refused, ``force`` starts afresh. ``engine="ray"`` (or a ``RayEngine``) writes the shards
    as tasks on a Ray cluster, one shard per task, byte for byte the same. Returns the manifest.

    >>> m = write_image_shards("train/", "shards/", resize=[224], center_crop=[224], dtype="uint8")  # doctest: +SKIP
    >>> m.count, len(m.shards)  # doctest: +SKIP
    (50000, 30)
    """
    plan = plan_image_shards(paths, folder, **options)
    shards = ShardFolder(folder, kind="images", options=plan.options, force=force, resume=resume,
                         planned=len(plan.tasks), verify=partial(_planned_and_intact, plan.tasks))
    if on_plan is not None:
        on_plan(plan, shards)
    total = sum(len(t.files) for t in plan.tasks)
    done = sum(len(t.files) for t in plan.tasks if shards.done(t.name))
    runner = engine_of(engine)
    if runner is not None:
        todo = [t for t in plan.tasks if not shards.done(t.name)]
        write_shards_on(runner, partial(write_image_shard, workers=1), todo, add=shards.add,
                        sizes=[len(t.files) for t in todo], labels=[str(Path(t.folder) / t.name) for t in todo],
                        progress=progress, done=done, total=total)
        return shards.finish(summary_info(plan, shards.manifest))
    for task in plan.tasks:
        if shards.done(task.name):
            continue
        step = None if progress is None else (lambda d, _t, base=done: progress(base + d, total))
        shards.add(write_image_shard(task, step, workers))
        done += len(task.files)
    return shards.finish(summary_info(plan, shards.manifest))
