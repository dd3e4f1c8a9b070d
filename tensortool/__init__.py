"""tensortool: real data into correctly shaped PyTorch tensors.

>>> import tensortool
>>> batch = tensortool.load_images("samples/images", resize=[224], center_crop=[224, 224])  # doctest: +SKIP
>>> tensortool.write_bundle(batch, "batch.safetensors")  # doctest: +SKIP
"""

from ._version import __version__
from .bench import BenchResult, CaseResult, Timing, TransferResult, run_bench
from .bundle import Bundle, summarize, tensor_summary
from .checkpoint import CheckpointInfo, ConvertResult, convert_checkpoint, inspect_checkpoint
from .errors import InputError, OptionError, OutputError, TensortoolError, UsageError
from .preview import write_preview
from .shaping import Normalization, parse_normalization
from .sources.dicom import WINDOW_PRESETS, SeriesChoiceError, list_dicom_series, load_dicom
from .sources.image import ImageOptions, load_images, read_image
from .sources.table import load_csv
from .sources.table_state import read_state, write_state
from .sources.text import load_text, read_vocab, write_vocab
from .stats import DatasetStats, dataset_stats, merge_stats
from .tensorfile import read_bundle, write_bundle
from .volume_preview import write_volume_preview

__all__ = [
    "CheckpointInfo", "ConvertResult", "convert_checkpoint", "inspect_checkpoint",
    "Bundle", "DatasetStats", "ImageOptions", "InputError", "Normalization", "OptionError", "OutputError",
    "TensortoolError", "UsageError", "__version__", "dataset_stats", "load_images", "merge_stats", "parse_normalization", "read_bundle",
    "read_image", "summarize", "tensor_summary", "write_bundle", "write_preview",
    "load_csv", "load_text", "read_state", "write_state", "read_vocab", "write_vocab",
    "WINDOW_PRESETS", "SeriesChoiceError", "list_dicom_series", "load_dicom", "write_volume_preview",
    "BenchResult", "CaseResult", "Timing", "TransferResult", "run_bench",
]
