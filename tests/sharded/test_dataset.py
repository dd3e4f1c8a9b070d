"""open_shards: random access, memory-mapped, picklable, through a DataLoader with workers."""

from __future__ import annotations

import pickle

import pytest
import torch

from tensortool.errors import InputError
from tensortool.sharded.dataset import open_shards
from tensortool.sharded.writer import ShardFolder
from tensortool.sources.image.shards import write_image_shards

from .helpers import make_tree, reference


@pytest.fixture
def folder(tmp_path):
    root = make_tree(tmp_path / "tree")
    write_image_shards(root, tmp_path / "out", dtype="uint8", images_per_shard=4)
    return tmp_path / "out", reference(root)


def test_random_access_matches_the_reference(folder):
    out, (_, images, labels) = folder
    ds = open_shards(out, verify=True)
    assert len(ds) == 15 and ds.meta["class_names"] == ["ant", "bee", "cow"] and ds.meta["count"] == 15
    for i in (14, 0, 7, 4, 3, -1):
        image, label = ds[i]
        assert torch.equal(image, images[i]) and label == labels[i]
    with pytest.raises(IndexError):
        ds[15]


def test_samples_are_views_of_the_shard_not_copies(folder):
    out, _ = folder
    ds = open_shards(out)
    first, _ = ds[4]
    second, _ = ds[5]
    assert first.untyped_storage().data_ptr() == second.untyped_storage().data_ptr()  # one shard's tensor
    assert second.data_ptr() - first.data_ptr() == first.numel()


def test_dataloader_with_workers(folder):
    out, (_, images, labels) = folder
    ds = pickle.loads(pickle.dumps(open_shards(out)))
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2)
    got = list(loader)
    assert torch.equal(torch.cat([b[0] for b in got]), images)
    assert torch.equal(torch.cat([b[1] for b in got]), labels)


def test_incomplete_or_damaged_folder_refused(folder, tmp_path):
    out, _ = folder
    path = out / "shard-00002.safetensors"
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 1
    path.write_bytes(bytes(blob))
    with pytest.raises(InputError, match="SHA-256"):
        open_shards(out, verify=True)
    ShardFolder(tmp_path / "part", kind="images", options={}, planned=3)
    with pytest.raises(InputError, match="not complete"):
        open_shards(tmp_path / "part")
    assert len(open_shards(tmp_path / "part", partial=True)) == 0


def test_a_shard_whose_tensor_has_no_rows_is_an_input_error(tmp_path):
    # A 0-d tensor was let through the count check, then indexing it raised IndexError.
    from tensortool.sharded.manifest import ShardRecord
    from tensortool.sharded.writer import write_tensors

    out = tmp_path / "out"
    folder = ShardFolder(out, kind="images", options={}, planned=1)
    folder.add(ShardRecord("s.safetensors", 0, 1, *write_tensors(out / "s.safetensors", {"images": torch.tensor(3)}, {})))
    folder.finish({})
    ds = open_shards(out, verify=True)
    with pytest.raises(InputError, match="does not hold the 1 samples the manifest says"):
        ds[0]
