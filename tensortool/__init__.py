"""tensortool: real data into correctly shaped PyTorch tensors.

>>> import tensortool
>>> batch = tensortool.load_images("samples/images", resize=[224], center_crop=[224, 224])  # doctest: +SKIP
>>> tensortool.write_bundle(batch, "batch.safetensors")  # doctest: +SKIP
"""

from typing import TYPE_CHECKING

from ._version import __version__

# The public names load on first use: `import tensortool` (and the CLI's start-up, which installs
# its signal handlers first) does not wait for torch.
_EXPORTS = {
    ".bench.run": ("BenchResult", "CaseResult", "Timing", "TransferResult", "run_bench"),
    ".bundle": ("Bundle", "summarize", "tensor_summary"),
    ".checkpoint": ("CheckpointInfo", "ConvertResult", "convert_checkpoint", "inspect_checkpoint"),
    ".engine": ("EngineError", "LocalEngine", "RayEngine", "TaskProgress"),
    ".errors": ("InputError", "OptionError", "OutputError", "TensortoolError", "UsageError"),
    ".sources.image.preview": ("write_preview",),
    ".sources.image.shards": ("ImageShardTask", "plan_image_shards", "write_image_shard", "write_image_shards"),
    ".sharded.dataset": ("ShardDataset", "open_shards"),
    ".sharded.manifest": ("Manifest", "ShardRecord", "read_manifest"),
    ".sharded.writer": ("ShardFolder",),
    ".shaping": ("Normalization", "parse_normalization"),
    ".sources.dicom.load": ("WINDOW_PRESETS", "SeriesChoiceError", "load_dicom"),
    ".sources.dicom.listing": ("list_dicom_series",),
    ".sources.image.load": ("ImageOptions", "load_images", "read_image"),
    ".sources.table.load": ("load_csv",),
    ".sources.table.state": ("read_state", "write_state"),
    ".sources.text.load": ("load_text", "read_vocab", "write_vocab"),
    ".stats.dataset": ("DatasetStats", "dataset_stats"),
    ".stats.files": ("merge_stats", "read_stats", "write_stats"),
    ".tensorfile": ("read_bundle", "write_bundle"),
    ".sources.dicom.preview": ("write_volume_preview",),
    ".sources.dicom.export": ("ExportResult", "convert_dicom_tree"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items() for name in names}

if TYPE_CHECKING:
    from .bench.run import BenchResult, CaseResult, Timing, TransferResult, run_bench
    from .bundle import Bundle, summarize, tensor_summary
    from .checkpoint import CheckpointInfo, ConvertResult, convert_checkpoint, inspect_checkpoint
    from .engine import EngineError, LocalEngine, RayEngine, TaskProgress
    from .errors import InputError, OptionError, OutputError, TensortoolError, UsageError
    from .sources.image.preview import write_preview
    from .sources.image.shards import ImageShardTask, plan_image_shards, write_image_shard, write_image_shards
    from .sharded.dataset import ShardDataset, open_shards
    from .sharded.manifest import Manifest, ShardRecord, read_manifest
    from .sharded.writer import ShardFolder
    from .shaping import Normalization, parse_normalization
    from .sources.dicom.load import WINDOW_PRESETS, SeriesChoiceError, list_dicom_series, load_dicom
    from .sources.image.load import ImageOptions, load_images, read_image
    from .sources.table.load import load_csv
    from .sources.table.state import read_state, write_state
    from .sources.text.load import load_text, read_vocab, write_vocab
    from .stats.dataset import DatasetStats, dataset_stats
    from .stats.files import merge_stats, read_stats, write_stats
    from .tensorfile import read_bundle, write_bundle
    from .sources.dicom.preview import write_volume_preview
    from .sources.dicom.export import ExportResult, convert_dicom_tree


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'tensortool' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_MODULE_OF})


__all__ = [
    "CheckpointInfo", "ConvertResult", "convert_checkpoint", "inspect_checkpoint",
    "Bundle", "DatasetStats", "ImageOptions", "InputError", "Normalization", "OptionError", "OutputError",
    "TensortoolError", "UsageError", "__version__", "dataset_stats", "load_images", "merge_stats", "parse_normalization", "read_bundle",
    "read_stats", "write_stats",
    "read_image", "summarize", "tensor_summary", "write_bundle", "write_preview",
    "load_csv", "load_text", "read_state", "write_state", "read_vocab", "write_vocab",
    "WINDOW_PRESETS", "SeriesChoiceError", "list_dicom_series", "load_dicom", "write_volume_preview",
    "ExportResult", "convert_dicom_tree",
    "BenchResult", "CaseResult", "Timing", "TransferResult", "run_bench",
    "EngineError", "LocalEngine", "RayEngine", "TaskProgress",
    "ImageShardTask", "plan_image_shards", "write_image_shard", "write_image_shards",
    "ShardDataset", "open_shards", "Manifest", "ShardRecord", "read_manifest", "ShardFolder",
]
