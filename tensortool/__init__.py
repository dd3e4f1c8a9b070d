"""tensortool: real data into correctly shaped PyTorch tensors.

>>> import tensortool
>>> batch = tensortool.load_images("samples/images", resize=[224], center_crop=[224, 224])  # doctest: +SKIP
>>> tensortool.write_bundle(batch, "batch.safetensors")  # doctest: +SKIP
"""

__version__ = "0.1.0"

from .bundle import Bundle, summarize, tensor_summary  # noqa: E402
from .errors import InputError, OptionError, OutputError, TensortoolError  # noqa: E402
from .preview import write_preview  # noqa: E402
from .shaping import Normalization, parse_normalization  # noqa: E402
from .sources.image import ImageOptions, load_images, read_image  # noqa: E402
from .tensorfile import read_bundle, write_bundle  # noqa: E402

__all__ = [
    "Bundle", "ImageOptions", "InputError", "Normalization", "OptionError", "OutputError",
    "TensortoolError", "__version__", "load_images", "parse_normalization", "read_bundle",
    "read_image", "summarize", "tensor_summary", "write_bundle", "write_preview",
]
