"""`tensortool load-image`: images, folders and ImageFolder trees into a batch tensor."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from ..sources.image.preview import write_preview
from ..shaping import DTYPES, LAYOUTS
from ..sources.image.load import load_images
from ..tensorfile import check_npy_tensors, check_output, check_tensor_output, write_bundle
from ..sources.image.decode import DEFAULT_MAX_PIXELS
from . import render
from .options import CenterCrop, Force, Json, MaxPixels, Mode, Quiet, Resize, SkipBad, Workers, sizes
from .shards import FolderOutput, Resume, ShardImages, ShardSize, Shuffle, is_folder, write_shards


def load_image(
    paths: Annotated[list[str], typer.Argument(
        help="Image files, folders (searched recursively) or glob patterns. One folder of class "
             "sub-folders is read as an ImageFolder tree and also yields labels.", show_default=False)],
    mode: Mode = "rgb",
    layout: Annotated[Literal[LAYOUTS], typer.Option(
        help="Axis order; chw/hwc only for a single image.")] = "nchw",
    dtype: Annotated[Literal[tuple(DTYPES)], typer.Option(
        help="Floats are scaled to [0,1] by bit depth; uint8 keeps raw values.")] = "float32",
    scale: Annotated[Optional[bool], typer.Option("--scale/--no-scale",
        help="Floats: divide by 255 or 65535 (default on). uint8: --scale maps 16-bit images "
             "to 0..255 (default off: 16-bit input is refused).", show_default=False)] = None,
    normalize: Annotated[Optional[str], typer.Option(
        help="'imagenet', a stats JSON file (keys mean, std), or MEAN/STD such as "
             "0.485,0.456,0.406/0.229,0.224,0.225; applied after scaling.")] = None,
    resize: Resize = None,
    center_crop: CenterCrop = None,
    one_hot: Annotated[bool, typer.Option("--one-hot",
        help="Add labels_onehot (float32 N×K) for an ImageFolder tree.")] = False,
    workers: Workers = None,
    skip_bad: SkipBad = False,
    max_pixels: MaxPixels = DEFAULT_MAX_PIXELS,
    preview: Annotated[Optional[Path], typer.Option(dir_okay=False,
        help="Also write a PNG contact sheet of the batch (first 64 images).")] = None,
    output: FolderOutput = None,
    shard_size: ShardSize = None,
    shard_images: ShardImages = None,
    shuffle: Shuffle = None,
    resume: Resume = False,
    force: Force = False,
    json_: Json = False,
    quiet: Quiet = False,
) -> None:
    """Load images into one tensor (N×C×H×W float32 in [0,1] by default)."""
    resize_size = sizes(resize, square=False, option="--resize")
    crop_size = sizes(center_crop, square=True, option="--center-crop")
    with render.guard():
        if is_folder(output, shard_size=shard_size, shard_images=shard_images, shuffle=shuffle, resume=resume,
                     preview=preview):
            return write_shards(paths, output, mode=mode, layout=layout, dtype=dtype, scale=scale,
                                normalize=normalize, resize=resize_size, center_crop=crop_size, one_hot=one_hot,
                                workers=workers, skip_bad=skip_bad, max_pixels=max_pixels, shard_size=shard_size,
                                shard_images=shard_images, shuffle=shuffle, resume=resume, force=force,
                                as_json=json_, quiet=quiet)
        if output is not None:  # fail before any decoding, not after
            check_tensor_output(output, force=force, inputs=paths, dtypes=[DTYPES[dtype]])
        if preview is not None:
            check_output(preview, force=force, inputs=paths)
        started = time.perf_counter()
        with render.native_stderr(), render.progress("decoding", quiet) as on_progress:
            bundle = load_images(paths, mode=mode, layout=layout, dtype=dtype, scale=scale,
                                 normalize=normalize, resize=resize_size, center_crop=crop_size,
                                 one_hot=one_hot, workers=workers, skip_bad=skip_bad, max_pixels=max_pixels,
                                 progress=on_progress,
                                 before_decoding=None if output is None else
                                 lambda names: check_npy_tensors(output, names))
        if output is not None:
            write_bundle(bundle, output, force=force, inputs=bundle.meta["files"])
        if preview is not None:
            write_preview(bundle, preview, force=force, inputs=bundle.meta["files"])
        render.report(bundle, output=output, seconds=time.perf_counter() - started, as_json=json_)
