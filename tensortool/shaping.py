"""Tensor-to-tensor shaping: layouts, dtype and scaling, per-channel normalization, one-hot."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import OptionError, UsageError, q
from .shaping_constants import DTYPE_NAMES, LAYOUTS  # noqa: F401  (LAYOUTS re-exported)

DTYPES: dict[str, torch.dtype] = {name: getattr(torch, name) for name in DTYPE_NAMES}
# torchvision's ImageNet constants (torchvision.transforms._presets and the model cards).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Normalization:
    """Per-channel (x - mean) / std, as torchvision.transforms.Normalize applies it."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    source: str
    scale: str | None = None  # "unit" ([0,1] values) or "raw" (0..255 / 0..65535); None: not stated

    def for_channels(self, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and std as float tensors of length ``channels`` (one value broadcasts)."""
        if len(self.mean) not in (1, channels):
            raise OptionError(
                f"{{normalize}} has {len(self.mean)} values per statistic but the images have "
                f"{channels} channel(s)", hint="give one value, or one per channel", param="normalize")
        mean = torch.tensor(self.mean, dtype=torch.float64).expand(channels)
        std = torch.tensor(self.std, dtype=torch.float64).expand(channels)
        return mean, std

    def as_meta(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std), "source": self.source, "scale": self.scale}


def _floats(text: str, what: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise UsageError(f"{{normalize}}: {what} {q(text)} is not a comma-separated list of numbers",
                         param="normalize") from None
    if not all(math.isfinite(v) for v in values):
        raise UsageError(f"{{normalize}}: {what} {q(text)} must be finite numbers", param="normalize")
    return values


def parse_normalization(spec: str) -> Normalization:
    """Read ``imagenet``, a stats JSON file (keys ``mean`` and ``std``), or ``MEAN/STD``.

    >>> parse_normalization("0.5,0.5,0.5/0.25,0.25,0.25").std
    (0.25, 0.25, 0.25)
    """
    if spec.lower() == "imagenet":
        return Normalization(IMAGENET_MEAN, IMAGENET_STD, "imagenet", "unit")
    scale = None
    if spec.lower().endswith(".json") or Path(spec).is_file():
        mean, std, scale = _read_stats_json(Path(spec))
        source = spec
    elif "/" in spec:
        mean_text, _, std_text = spec.partition("/")
        mean, std = _floats(mean_text, "mean"), _floats(std_text, "std")
        source = spec
    else:
        raise UsageError(f"{{normalize}} {q(spec)}: expected 'imagenet', a stats .json file, or MEAN/STD "
                         "such as 0.485,0.456,0.406/0.229,0.224,0.225", param="normalize")
    error = OptionError if scale is not None or source.lower().endswith(".json") else UsageError  # file: data
    if len(mean) != len(std):
        raise error(f"{{normalize}}: {len(mean)} mean value(s) but {len(std)} std value(s)", param="normalize")
    if any(s <= 0 for s in std):
        raise error("{normalize}: every std must be > 0", param="normalize")
    return Normalization(tuple(mean), tuple(std), source, scale)


def _read_stats_json(path: Path) -> tuple[tuple[float, ...], tuple[float, ...], str | None]:
    from .errors import InputError

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("no such stats file", path) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not a readable stats JSON file: {exc}", path) from None
    try:
        mean = tuple(float(v) for v in data["mean"])
        std = tuple(float(v) for v in data["std"])
    except (KeyError, TypeError, ValueError):
        raise InputError("stats JSON needs lists of numbers under 'mean' and 'std'", path) from None
    if not mean or not all(math.isfinite(v) for v in mean + std):
        raise InputError("stats JSON 'mean'/'std' must be non-empty lists of finite numbers", path)
    scale = data.get("scale")
    if scale not in (None, "unit", "raw"):
        raise InputError(f"stats JSON 'scale' must be \"unit\" or \"raw\", not {q(scale)}", path)
    return mean, std, scale


def to_layout(chw: torch.Tensor, layout: str) -> torch.Tensor:
    """A view of a C×H×W (or N×C×H×W) tensor in ``layout``'s axis order."""
    if layout in ("nhwc", "hwc"):
        return chw.movedim(-3, -1)
    return chw


def from_layout(x: torch.Tensor, layout: str) -> torch.Tensor:
    """The inverse of :func:`to_layout`: a view in C×H×W (or N×C×H×W) order."""
    if layout in ("nhwc", "hwc"):
        return x.movedim(-1, -3)
    return x


def convert_into(out: torch.Tensor, chw: torch.Tensor, *, layout: str, scale: bool,
                 normalization: tuple[torch.Tensor, torch.Tensor] | None) -> None:
    """Write one decoded image (C×H×W, uint8 or uint16) into ``out`` (one batch slot).

    Floats: x / (2**bits - 1) when ``scale``, then (x - mean) / std, computed in float32
    (float64 for a float64 output) and cast once, the same arithmetic as
    ``img.float() / 255`` followed by ``transforms.Normalize``. uint8 output keeps raw
    8-bit values; with ``scale`` a 16-bit image becomes round(x / 257).
    """
    src = to_layout(chw, layout)
    if out.dtype == torch.uint8:
        if chw.dtype == torch.uint8:
            out.copy_(src)
        else:
            out.copy_(torch.round(src.to(torch.float32) / 257.0))
        return
    work = torch.float64 if out.dtype == torch.float64 else torch.float32
    full = 255 if chw.dtype == torch.uint8 else 65535
    direct = out.dtype == work and normalization is None
    x = out if direct else torch.empty(src.shape, dtype=work)
    if scale and work == torch.float32:
        # One pass, bit-identical to src.float() / full (tests check); 3x faster than copy + div.
        # Not for float64: there torch divides in float32 and then widens.
        torch.div(src, full, out=x)
    else:
        x.copy_(src)
        if scale:
            x.div_(full)
    if normalization is not None:
        mean, std = normalization
        shape = (-1, 1, 1) if layout in ("nchw", "chw") else (1, 1, -1)
        x.sub_(mean.to(work).view(shape)).div_(std.to(work).view(shape))
    if not direct:
        out.copy_(x)


def one_hot(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """float32 N×K one-hot rows for int64 class indices."""
    return torch.nn.functional.one_hot(labels, num_classes).to(torch.float32)


def scale_columns(x: torch.Tensor, center: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """(x - center) / scale per column of an N×F table, in place; a zero scale counts as 1
    (a constant column becomes 0 under z-score and min-max), as scikit-learn's scalers do."""
    safe = torch.where(scale == 0, torch.ones_like(scale), scale)
    return x.sub_(center.to(x.dtype)).div_(safe.to(x.dtype))
