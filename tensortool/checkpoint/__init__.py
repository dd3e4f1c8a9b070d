"""Checkpoints: inspect them and convert between .pth, .safetensors and sharded safetensors, safely."""

from .convert import ConvertResult, convert_checkpoint
from .inspect import CheckpointInfo, TensorInfo, inspect_checkpoint

__all__ = ["CheckpointInfo", "ConvertResult", "TensorInfo", "convert_checkpoint", "inspect_checkpoint"]
