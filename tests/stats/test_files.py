"""write_stats / read_stats: the stats file on disk, written atomically and read back exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import PHOTOS
from tensortool import InputError, OutputError, dataset_stats, load_images, merge_stats, read_stats, write_stats


def test_the_file_holds_the_numbers_and_reads_back(tmp_path):
    result = dataset_stats(PHOTOS)
    returned = write_stats(result, tmp_path / "s.json", unbiased=True)
    on_disk = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    assert on_disk == returned and on_disk["ddof"] == 1
    # Against numpy float64 over every pixel, with ddof=1.
    images = load_images(PHOTOS, dtype="float64")["images"].numpy()
    values = np.moveaxis(images, 1, 0).reshape(3, -1)
    assert np.allclose(on_disk["mean"], values.mean(1), rtol=1e-12)
    assert np.allclose(on_disk["std"], values.std(1, ddof=1), rtol=1e-9)
    again = read_stats(tmp_path / "s.json")
    assert again.to_json(unbiased=True) | {"warnings": []} == on_disk | {"warnings": []}


def test_written_parts_merge_to_the_single_run(tmp_path):
    parts = [write_stats(dataset_stats(PHOTOS, shard=(i, 2)), tmp_path / f"{i}.json") and tmp_path / f"{i}.json"
             for i in range(2)]
    whole = dataset_stats(PHOTOS).to_json()
    merged = merge_stats(parts).to_json()
    assert merged["mean"] == whole["mean"] and merged["state"]["integer"] == whole["state"]["integer"]


def test_refusals(tmp_path):
    result = dataset_stats(PHOTOS, shard=(0, 4))
    with pytest.raises(OutputError, match="JSON"):
        write_stats(result, tmp_path / "s.pt")
    (tmp_path / "s.json").write_text("{}")
    with pytest.raises(OutputError, match="already exists"):
        write_stats(result, tmp_path / "s.json")
    assert (tmp_path / "s.json").read_text() == "{}"
    write_stats(result, tmp_path / "s.json", force=True)
    assert json.loads((tmp_path / "s.json").read_text())["shard"] == [0, 4]
    with pytest.raises(OutputError, match="one of the inputs"):
        write_stats(result, tmp_path / "s.json", force=True, inputs=[tmp_path / "s.json"])
    with pytest.raises(InputError, match="no such file"):
        read_stats(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InputError, match="not a readable stats JSON"):
        read_stats(tmp_path / "bad.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json", "s.json"]  # no temporary left
