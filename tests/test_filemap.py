"""FileMap finds a mapped tensor's bytes in its file; checked by reading the file independently."""

from __future__ import annotations

import os
import sys

import pytest
import torch
from safetensors.torch import save_file

from tensortool.filemap import FileMap, copy_range
from tensortool.checkpoint.source import open_checkpoint

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/maps is Linux's")


@pytest.mark.parametrize("fmt", ["pth", "safetensors"])
def test_locate_points_at_the_tensor_bytes(tmp_path, fmt):
    state = {"a": torch.randn(300, 7), "b": torch.arange(1000, dtype=torch.int16), "c": torch.randn(5).to(torch.bfloat16)}
    path = tmp_path / f"s.{fmt}"
    torch.save(state, path) if fmt == "pth" else save_file(state, path)
    opened = open_checkpoint(path)
    with FileMap(opened.files) as files:
        for name, t in opened.obj.items():
            where = files.locate(t)
            assert where is not None and where[0] == path
            nbytes = t.numel() * t.element_size()
            with open(path, "rb") as fh:
                fh.seek(where[1])
                raw = fh.read(nbytes)
            assert raw == state[name].contiguous().view(torch.uint8).numpy().tobytes()
        assert files.locate(torch.ones(3)) is None  # ordinary memory
        assert files.locate(opened.obj["a"].t()) is None  # not contiguous


def test_copy_range_appends(tmp_path):
    (tmp_path / "src").write_bytes(bytes(range(256)) * 10)
    with open(tmp_path / "dst", "wb") as out:
        out.write(b"head")
        out.flush()
        fd = os.open(tmp_path / "src", os.O_RDONLY)
        copy_range(fd, out.fileno(), 10, 500)
        os.close(fd)
    assert (tmp_path / "dst").read_bytes() == b"head" + (bytes(range(256)) * 10)[10:510]
