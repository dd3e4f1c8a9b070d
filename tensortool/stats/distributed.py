"""Image statistics as tasks on an engine: chunks of files, each summed exactly, merged in order.

Each task returns the exact integer sums of its chunk (:class:`ImageSums`); the driver merges
them in file order with the merge that ``merge_stats`` uses, so the result is the local run's,
bit for bit. A task only reads, so running it again after a lost worker changes nothing.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Sequence

from ..engine import Engine
from ..sources.image.load import ImageOptions, Progress
from .dataset import ImageSums, image_sums

# Files per task: ~40 ms of decoding for 256x256 JPEGs (seconds for large photos), against a
# per-task cost on the cluster of a few ms (scheduling, the small result sent back). 2,000 files
# make 16 tasks, so 2 CPUs stay evenly busy and a lost worker costs little to redo; 256 per task
# measured slower on 2 loaded CPUs (the last tasks ran alone). See benchmarks/bench_ray.py.
FILES_PER_TASK = 128


def chunks(files: Sequence[Path], size: int) -> list[list[Path]]:
    """Consecutive runs of ``size`` files (the last one shorter).

    >>> [len(c) for c in chunks([Path(str(i)) for i in range(5)], 2)]
    [2, 2, 1]
    """
    return [list(files[i:i + size]) for i in range(0, len(files), size)]


def _chunk_sums(files: list[Path], *, options: ImageOptions, skip_bad: bool) -> ImageSums:
    return image_sums(files, options, workers=1, skip_bad=skip_bad, check_channels=False)  # one CPU a task


def engine_image_sums(files: Sequence[Path], options: ImageOptions, *, skip_bad: bool, engine: Engine,
                      progress: Progress | None = None) -> ImageSums:
    """The pixel sums of ``files``, computed in tasks on ``engine`` and merged in file order."""
    tasks = chunks(files, FILES_PER_TASK)
    sizes = [len(t) for t in tasks]
    done = [0]

    def on_done(index: int, result: ImageSums) -> None:
        done[0] += sizes[index]
        if progress is not None:
            progress(done[0], len(files))

    parts = engine.run(partial(_chunk_sums, options=options, skip_bad=skip_bad), tasks, sizes=sizes,
                       on_done=on_done, labels=[str(t[0]) for t in tasks])
    total = ImageSums()
    for part in parts:
        total = total.merge(part)
    return total
