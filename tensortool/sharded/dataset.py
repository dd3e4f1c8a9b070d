"""Reading a shard folder back: a map-style torch Dataset over memory-mapped shards."""

from __future__ import annotations

import bisect
from pathlib import Path
from typing import Any

import torch

from ..errors import InputError
from ..safetensors_file import read_header
from .manifest import Manifest, read_manifest
from .writer import is_intact


class ShardDataset(torch.utils.data.Dataset):
    """Samples of a shard folder, by index, across its shards.

    Each shard is mapped into memory when first touched (in each process: the dataset pickles
    without its mappings, so ``DataLoader(num_workers>0)`` works), and a sample is a view of the
    mapping, not a copy. An item is ``images[i]``, or ``(images[i], labels[i])`` when the shards
    hold labels; shards without ``images`` give a dict of every tensor's row i. ``meta`` is the
    manifest as a dict, ``manifest`` the parsed one.

    >>> ds = open_shards("shards/")  # doctest: +SKIP
    >>> image, label = ds[12345]; ds.meta["class_names"][label]  # doctest: +SKIP
    'tench'
    """

    def __init__(self, folder: str | Path, *, verify: bool = False, partial: bool = False):
        self.folder = Path(folder)
        self.manifest: Manifest = read_manifest(self.folder)
        if not self.manifest.complete and not partial:
            raise InputError(f"the shard folder is not complete ({len(self.manifest.shards)} of "
                             f"{self.manifest.planned or '?'} shards are finished)", self.folder,
                             hint="run the same command again to finish it")
        for record in self.manifest.shards:
            path = self.folder / record.name
            if verify and not is_intact(self.folder, record):
                raise InputError("this shard does not match the size and SHA-256 in the manifest", path)
            if not path.is_file():
                raise InputError("a shard named in the manifest is missing", path)
        self.meta: dict[str, Any] = self.manifest.to_json()
        self.starts = [0]
        for record in self.manifest.shards:
            self.starts.append(self.starts[-1] + record.count)
        self._open: dict[int, dict[str, torch.Tensor]] = {}

    def __len__(self) -> int:
        return self.starts[-1]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_open": {}}  # each process maps the files itself

    def _shard(self, index: int) -> dict[str, torch.Tensor]:
        tensors = self._open.get(index)
        if tensors is None:
            from safetensors import SafetensorError, safe_open

            path = self.folder / self.manifest.shards[index].name
            read_header(path)  # tensortool's full validation first: the file may come from anywhere
            try:  # safe_open maps the file: its tensors are views of the mapping, read when touched
                with safe_open(str(path), framework="pt") as fh:
                    tensors = {name: fh.get_tensor(name) for name in fh.keys()}
            except (SafetensorError, OSError) as exc:
                raise InputError(f"cannot read this shard: {exc}", path) from None
            count = self.manifest.shards[index].count
            if any(t.dim() == 0 or len(t) != count for t in tensors.values()):  # a 0-d tensor has no rows
                raise InputError(f"this shard does not hold the {count} samples the manifest says", path)
            self._open[index] = tensors
        return tensors

    def __getitem__(self, index: int) -> Any:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} is out of range for {len(self)} samples")
        shard = bisect.bisect_right(self.starts, index) - 1
        tensors = self._shard(shard)
        offset = index - self.starts[shard]
        if "images" not in tensors:  # shards of another kind: every tensor's row
            return {name: t[offset] for name, t in tensors.items()}
        if "labels" in tensors:
            return tensors["images"][offset], tensors["labels"][offset]
        return tensors["images"][offset]


def open_shards(folder: str | Path, *, verify: bool = False, partial: bool = False) -> ShardDataset:
    """A map-style ``torch.utils.data.Dataset`` over a shard folder written by tensortool.

    ``verify`` checks every shard's SHA-256 first; ``partial`` allows a folder whose run has not
    finished (its finished shards only).

    >>> ds = open_shards("shards/")  # doctest: +SKIP
    >>> loader = torch.utils.data.DataLoader(ds, batch_size=256, shuffle=True, num_workers=4)  # doctest: +SKIP
    """
    return ShardDataset(folder, verify=verify, partial=partial)


def shards_summary(folder: str | Path) -> dict[str, Any]:
    """The manifest of a shard folder, with each file's presence checked (not its hash): what
    ``tensortool info DIR`` shows."""
    manifest = read_manifest(folder)
    doc = manifest.to_json()
    doc["missing"] = [r.name for r in manifest.shards if not (Path(folder) / r.name).is_file()]
    return doc
