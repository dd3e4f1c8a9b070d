"""The generic shard folder: atomic files, the manifest, resume checks, refusals."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys

import pytest
import torch

from tensortool.errors import InputError, OptionError, OutputError
from tensortool.sharded.manifest import MANIFEST_NAME, ShardRecord, read_manifest
from tensortool.sharded.writer import ShardFolder, write_file, write_tensors


def _record(folder, index, values):
    name = f"s-{index}.safetensors"
    size, sha = write_tensors(folder / name, {"x": torch.tensor(values)}, {"i": index})
    return ShardRecord(name, index, len(values), size, sha)


def test_new_folder_records_and_finishes(tmp_path):
    out = tmp_path / "out"
    folder = ShardFolder(out, kind="test", options={"a": 1}, planned=2)
    assert read_manifest(out).shards == [] and not read_manifest(out).complete
    folder.add(_record(out, 1, [3.0]))
    folder.add(_record(out, 0, [1.0, 2.0]))
    manifest = folder.finish({"note": "x"})
    data = json.loads((out / MANIFEST_NAME).read_text())
    assert data["complete"] and data["count"] == 3 and data["note"] == "x" and data["planned_shards"] == 2
    assert [s["name"] for s in data["shards"]] == ["s-0.safetensors", "s-1.safetensors"]
    for s in data["shards"]:
        blob = (out / s["name"]).read_bytes()
        assert len(blob) == s["bytes"] and hashlib.sha256(blob).hexdigest() == s["sha256"]
    assert manifest.count == 3


def test_reopen_keeps_intact_and_forgets_damaged(tmp_path):
    out = tmp_path / "out"
    folder = ShardFolder(out, kind="test", options={"a": [1, 2]})
    folder.add(_record(out, 0, [1.0]))
    folder.add(_record(out, 1, [2.0]))
    path = out / "s-1.safetensors"
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 1
    path.write_bytes(bytes(blob))
    again = ShardFolder(out, kind="test", options={"a": (1, 2)})  # a tuple reads back as the list
    assert again.done("s-0.safetensors") is not None and again.done("s-1.safetensors") is None
    assert [r.name for r in read_manifest(out).shards] == ["s-0.safetensors"]


def test_other_options_refused_and_force_starts_afresh(tmp_path):
    out = tmp_path / "out"
    ShardFolder(out, kind="test", options={"size": 1}).add(_record(out, 0, [1.0]))
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OptionError, match=r"other options \(size: 1 then, 2 now\)") as info:
        ShardFolder(out, kind="test", options={"size": 2})
    assert "{force}" in info.value.hint
    ShardFolder(out, kind="test", options={"size": 2}, force=True)
    assert sorted(os.listdir(out)) == [MANIFEST_NAME, "notes.txt"]  # only its own files removed


def test_foreign_folder_and_resume_without_manifest_refused(tmp_path):
    (tmp_path / "other.txt").write_text("x")
    with pytest.raises(OutputError, match="not empty"):
        ShardFolder(tmp_path, kind="test", options={})
    with pytest.raises(OptionError, match="no manifest.json to resume"):
        ShardFolder(tmp_path / "new", kind="test", options={}, resume=True)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        ShardFolder(tmp_path / "bad", kind="test", options={})


def test_failed_write_leaves_nothing(tmp_path):
    def broken(fh):
        fh.write(b"partial")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_file(tmp_path / "a.bin", broken)
    assert os.listdir(tmp_path) == []


def test_full_disk_is_a_clear_error(tmp_path):
    code = ("import sys, torch\nfrom tensortool.sharded.writer import write_tensors\n"
            "from tensortool.errors import OutputError\n"
            "try:\n    write_tensors(sys.argv[1], {'x': torch.zeros(100000)}, {})\n"
            "except OutputError as e:\n    print(e)\n")
    limit = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))  # noqa: E731
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "a.safetensors")], capture_output=True,
                          text=True, preexec_fn=limit, cwd=os.getcwd())
    assert "File too large" in done.stdout and "run the same command again" in done.stdout, done.stderr
    assert os.listdir(tmp_path) == []


def test_open_shards_of_another_kind_gives_rows_as_dicts(tmp_path):
    from tensortool.sharded.dataset import open_shards

    out = tmp_path / "out"
    folder = ShardFolder(out, kind="test", options={}, planned=2)
    folder.add(_record(out, 0, [[1.0, 2.0], [3.0, 4.0]]))
    folder.add(_record(out, 1, [[5.0, 6.0]]))
    folder.finish({})
    ds = open_shards(out)
    assert len(ds) == 3 and torch.equal(ds[2]["x"], torch.tensor([5.0, 6.0])) and ds[1]["x"][0] == 3.0


def test_force_removes_only_the_files_the_manifest_recorded(tmp_path):
    # A crafted manifest naming files outside the folder, or files in it that it did not write.
    out = tmp_path / "data" / "out"
    ShardFolder(out, kind="test", options={}).add(_record(out, 0, [1.0]))
    above, beside, mine = tmp_path / "above.safetensors", tmp_path / "data" / "next.safetensors", out / "mine.safetensors"
    for path in (above, beside, mine):
        path.write_bytes(b"keep")
    sha = hashlib.sha256(b"keep").hexdigest()
    doc = json.loads((out / MANIFEST_NAME).read_text())
    doc["shards"].append({"name": "mine.safetensors", "index": 1, "count": 1, "bytes": 4, "sha256": "0" * 64})
    (out / MANIFEST_NAME).write_text(json.dumps(doc))
    ShardFolder(out, kind="test", options={}, force=True)
    assert mine.read_bytes() == b"keep" and not (out / "s-0.safetensors").exists()
    for name in ("../next.safetensors", "../../above.safetensors", str(above)):
        doc["shards"] = [{"name": name, "index": 0, "count": 1, "bytes": 4, "sha256": sha}]
        (out / MANIFEST_NAME).write_text(json.dumps(doc))
        with pytest.raises(InputError, match="not a plain .safetensors file name"):
            ShardFolder(out, kind="test", options={}, force=True)
    assert above.read_bytes() == beside.read_bytes() == mine.read_bytes() == b"keep"


def test_a_crafted_kind_is_shown_on_one_line(tmp_path):
    ShardFolder(tmp_path, kind="test", options={})
    doc = json.loads((tmp_path / MANIFEST_NAME).read_text())
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(dict(doc, kind="x\ny")))
    with pytest.raises(OptionError, match=r'kind: "x\\ny" then, "test" now') as info:
        ShardFolder(tmp_path, kind="test", options={})
    assert "\n" not in str(info.value)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_under_a_shard_name_is_not_intact_and_not_read(tmp_path):
    from tensortool.sharded.writer import is_intact

    os.mkfifo(tmp_path / "s-0.safetensors")  # hashing it would wait for a writer forever
    assert not is_intact(tmp_path, ShardRecord("s-0.safetensors", 0, 1, 0, hashlib.sha256().hexdigest()))
