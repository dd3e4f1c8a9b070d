"""tensortool: real data into correctly shaped PyTorch tensors.

>>> import tensortool
>>> batch = tensortool.load_images("samples/images", resize=[224], center_crop=[224, 224])  # doctest: +SKIP
>>> tensortool.write_bundle(batch, "batch.safetensors")  # doctest: +SKIP
"""

from ._version import __version__
from .bench import BenchResult, CaseResult, Timing, TransferResult, run_bench
from .bundle import Bundle, summarize, tensor_summary
from .errors import InputError, OptionError, OutputError, TensortoolError
from .preview import write_preview
from .shaping import Normalization, parse_normalization
from .sources.image import ImageOptions, load_images, read_image
from .stats import DatasetStats, dataset_stats, merge_stats
from .tensorfile import read_bundle, write_bundle

__all__ = [
    "Bundle", "DatasetStats", "ImageOptions", "InputError", "Normalization", "OptionError", "OutputError",
    "TensortoolError", "__version__", "dataset_stats", "load_images", "merge_stats", "parse_normalization", "read_bundle",
    "read_image", "summarize", "tensor_summary", "write_bundle", "write_preview",
    "BenchResult", "CaseResult", "Timing", "TransferResult", "run_bench",
]
