"""`tensortool load-image`: images, folders and ImageFolder trees into a batch tensor."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import typer

from ..shaping_constants import DTYPE_NAMES, LAYOUTS
from ..sources.image.constants import DECODERS, DEFAULT_MAX_PIXELS
from .loading import SideFile, load_and_emit
from .options import CenterCrop, MaxPixels, Mode, Resize, SkipBad, Workers, image_sizes, output_options
from .ray_option import Ray
from .shards import FolderOutput, Resume, ShardImages, ShardSize, Shuffle, is_folder, write_shards

ContactSheet = Annotated[Optional[Path], typer.Option(
    dir_okay=False, help="Also write a PNG contact sheet of the batch (first 64 images).")]


@output_options("output", "force", "json_", "quiet", output=FolderOutput)
def load_image(
    paths: Annotated[list[str], typer.Argument(
        help="Image files, folders (searched recursively) or glob patterns. One folder of class "
             "sub-folders is read as an ImageFolder tree and also yields labels.", show_default=False)],
    mode: Mode = "rgb",
    layout: Annotated[Literal[LAYOUTS], typer.Option(
        help="Axis order; chw/hwc only for a single image.")] = "nchw",
    dtype: Annotated[Literal[DTYPE_NAMES], typer.Option(
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
    decoder: Annotated[Literal[DECODERS], typer.Option(
        help="Image decoder: auto picks TorchCodec if it imports, else torchvision (Pillow always "
             "serves other formats). Also set by TENSORTOOL_DECODER.")] = "auto",
    preview: ContactSheet = None,
    shard_size: ShardSize = None,
    shard_images: ShardImages = None,
    shuffle: Shuffle = None,
    resume: Resume = False,
    ray: Ray = None,
    **shared: Any,
) -> None:
    """Load images into one tensor (N×C×H×W float32 in [0,1] by default)."""
    from ..shaping import DTYPES
    from ..sources.image.load import load_images
    from ..sources.image.preview import write_preview

    resize_size, crop_size = image_sizes(resize, center_crop)
    if is_folder(shared["output"], shard_size=shard_size, shard_images=shard_images, shuffle=shuffle, resume=resume,
                 ray=ray, preview=preview):
        return write_shards(paths, shared["output"], mode=mode, layout=layout, dtype=dtype, scale=scale,
                            normalize=normalize, resize=resize_size, center_crop=crop_size, one_hot=one_hot,
                            workers=workers, skip_bad=skip_bad, max_pixels=max_pixels, decoder=decoder,
                            shard_size=shard_size, shard_images=shard_images, shuffle=shuffle, resume=resume,
                            force=shared["force"], ray=ray, json_=shared["json_"], quiet=shared["quiet"])
    load_and_emit(lambda on_progress: load_images(
        paths, mode=mode, layout=layout, dtype=dtype, scale=scale, normalize=normalize, resize=resize_size,
        center_crop=crop_size, one_hot=one_hot, workers=workers, skip_bad=skip_bad, max_pixels=max_pixels,
        decoder=decoder, progress=on_progress, before_decoding=check_npy(shared["output"])),
        inputs=paths, dtypes=[DTYPES[dtype]],
        side_files=[SideFile(preview, write_preview)], progress_label="decoding", capture_decoders=True,
        sources_of=lambda bundle: bundle.meta["files"], **shared)


def check_npy(output: str | Path | None):
    """With a .npy output, the tensors a load makes are checked against it before decoding."""
    from ..tensorfile import check_npy_tensors

    return None if output is None else lambda names: check_npy_tensors(output, names)
