"""load-image into shards: against Pillow and torchvision's ImageFolder, resumes, bad input."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from safetensors import safe_open

from tensortool.errors import InputError, OptionError
from tensortool.sharded.manifest import read_manifest
from tensortool.sources.image.shards import plan_image_shards, write_image_shards

from .helpers import folder_bytes, make_tree, read_folder, reference


def test_shards_hold_the_images_labels_and_meta(tmp_path):
    root = make_tree(tmp_path / "tree")
    files, images, labels = reference(root)
    manifest = write_image_shards(root, tmp_path / "out", dtype="uint8", images_per_shard=4)
    got_images, got_labels = read_folder(tmp_path / "out")
    assert torch.equal(got_images, images) and torch.equal(got_labels, labels)
    doc = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert doc["count"] == 15 and [s["count"] for s in doc["shards"]] == [4, 4, 4, 3]
    assert doc["shape"] == [15, 3, 16, 20] and doc["dtype"] == "uint8" and doc["layout"] == "nchw"
    assert doc["class_names"] == ["ant", "bee", "cow"] and doc["skipped"] == []
    assert doc["tensortool_version"] and doc["options"]["images_per_shard"] == 4
    with safe_open(str(tmp_path / "out" / "shard-00001.safetensors"), "pt") as fh:
        meta = json.loads(fh.metadata()["tensortool"])
    assert meta["shard"] == 1 and meta["files"] == files[4:8] and meta["class_names"] == ["ant", "bee", "cow"]
    assert manifest.count == 15


def test_one_hot_labels(tmp_path):
    from safetensors.torch import load_file

    root = make_tree(tmp_path / "tree", per_class=2)
    write_image_shards(root, tmp_path / "out", dtype="uint8", images_per_shard=4, one_hot=True)
    part = load_file(str(tmp_path / "out" / "shard-00001.safetensors"))
    assert torch.equal(part["labels_onehot"], torch.nn.functional.one_hot(reference(root)[2][4:], 3).float())


def test_shard_size_in_bytes(tmp_path):
    root = make_tree(tmp_path / "tree", per_class=2)
    per_image = 3 * 16 * 20 * 4 + 8  # float32 pixels and an int64 label
    write_image_shards(root, tmp_path / "out", shard_bytes=2 * per_image + 1)
    assert [s["count"] for s in json.loads((tmp_path / "out" / "manifest.json").read_text())["shards"]] == [2, 2, 2]
    images, _ = read_folder(tmp_path / "out")
    assert torch.equal(images, reference(root)[1].float() / 255)


def test_shuffle_is_a_seeded_permutation(tmp_path):
    root = make_tree(tmp_path / "tree")
    _, images, labels = reference(root)
    write_image_shards(root, tmp_path / "out", dtype="uint8", images_per_shard=6, shuffle=7)
    order = np.random.default_rng(7).permutation(15)
    got_images, got_labels = read_folder(tmp_path / "out")
    assert torch.equal(got_images, images[order]) and torch.equal(got_labels, labels[order])
    write_image_shards(root, tmp_path / "again", dtype="uint8", images_per_shard=6, shuffle=7)
    assert folder_bytes(tmp_path / "out") == folder_bytes(tmp_path / "again")


def test_same_run_again_resumes_and_other_options_refused(tmp_path):
    root = make_tree(tmp_path / "tree")
    write_image_shards(root, tmp_path / "out", dtype="uint8", images_per_shard=4)
    before = folder_bytes(tmp_path / "out")
    os.remove(tmp_path / "out" / "shard-00002.safetensors")
    write_image_shards(root, tmp_path / "out", dtype="uint8", images_per_shard=4, resume=True)
    assert folder_bytes(tmp_path / "out") == before
    with pytest.raises(OptionError, match="resize: null then, \\[8\\] now"):
        write_image_shards(root, tmp_path / "out", dtype="uint8", images_per_shard=4, resize=[8])


def test_corrupt_file_keeps_finished_shards_then_resumes(tmp_path):
    root = make_tree(tmp_path / "tree")
    write_image_shards(root, tmp_path / "clean", dtype="uint8", images_per_shard=4)
    good = (root / "cow" / "001.png").read_bytes()
    (root / "cow" / "001.png").write_bytes(good[:60])
    with pytest.raises(InputError) as info:
        write_image_shards(root, tmp_path / "out", dtype="uint8", images_per_shard=4)
    assert info.value.path.endswith("cow/001.png")
    names = sorted(os.listdir(tmp_path / "out"))
    assert names == ["manifest.json", "shard-00000.safetensors", "shard-00001.safetensors"]  # no partial shard
    assert len(read_manifest(tmp_path / "out").shards) == 2
    (root / "cow" / "001.png").write_bytes(good)
    write_image_shards(root, tmp_path / "out", dtype="uint8", images_per_shard=4)
    assert folder_bytes(tmp_path / "out") == folder_bytes(tmp_path / "clean")


def test_failed_run_goes_on_with_skip_bad(tmp_path):
    root = make_tree(tmp_path / "tree")
    (root / "cow" / "001.png").write_bytes(b"broken")
    write_image_shards(root, tmp_path / "clean", dtype="uint8", images_per_shard=4, skip_bad=True)
    with pytest.raises(InputError):
        write_image_shards(root, tmp_path / "out", dtype="uint8", images_per_shard=4)
    write_image_shards(root, tmp_path / "out", dtype="uint8", images_per_shard=4, skip_bad=True)
    assert folder_bytes(tmp_path / "out") == folder_bytes(tmp_path / "clean")


def test_skip_bad_lists_the_file_and_reason(tmp_path):
    root = make_tree(tmp_path / "tree")
    (root / "bee" / "002.png").write_bytes(b"not an image at all")
    manifest = write_image_shards(root, tmp_path / "out", dtype="uint8", images_per_shard=4, skip_bad=True)
    doc = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert doc["count"] == 14 and manifest.count == 14
    assert [s["file"] for s in doc["skipped"]] == [str(root / "bee" / "002.png")] and doc["skipped"][0]["error"]
    _, images, labels = reference(make_tree(tmp_path / "ref"))  # same pixels, none broken
    keep = [i for i in range(15) if i != 7]
    got_images, got_labels = read_folder(tmp_path / "out")
    assert torch.equal(got_images, images[keep]) and torch.equal(got_labels, labels[keep])


def test_plan_refuses_single_image_layouts_and_mixed_sizes(tmp_path):
    root = make_tree(tmp_path / "tree")
    with pytest.raises(OptionError, match="shards hold batches"):
        plan_image_shards(root, tmp_path / "out", layout="chw")
    make_tree(root, per_class=1, classes=("dog",), size=(10, 10))
    with pytest.raises(InputError, match="first image of the dataset"):
        write_image_shards(root, tmp_path / "out", dtype="uint8", images_per_shard=5)


_SLOW = """
import sys, time
import tensortool.sources.image.shards as shards
real = shards.write_image_shard
def slow(*args, **kwargs):
    record = real(*args, **kwargs)
    time.sleep(0.3)
    return record
shards.write_image_shard = slow
shards.write_image_shards(sys.argv[1], sys.argv[2], dtype="uint8", images_per_shard=2, shuffle=3)
"""


def test_kill_9_in_the_middle_then_resume_gives_the_same_bytes(tmp_path):
    root = make_tree(tmp_path / "tree", per_class=6)
    write_image_shards(root, tmp_path / "clean", dtype="uint8", images_per_shard=2, shuffle=3)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-c", _SLOW, str(root), str(out)], cwd=os.getcwd())
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if len(read_manifest(out).shards) >= 3:
                break
        except Exception:
            pass
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    manifest = read_manifest(out)
    assert 3 <= len(manifest.shards) < 9 and not manifest.complete
    write_image_shards(root, out, dtype="uint8", images_per_shard=2, shuffle=3)
    assert folder_bytes(out) == folder_bytes(tmp_path / "clean")


_FULL = """
import sys
from tensortool.errors import OutputError
from tensortool.sources.image.shards import write_image_shards
try:
    write_image_shards(sys.argv[1], sys.argv[2], dtype="uint8", images_per_shard=3)
except OutputError as exc:
    print(exc)
"""


def test_full_disk_then_resume(tmp_path):
    root = make_tree(tmp_path / "tree", per_class=8, size=(8, 8))
    write_image_shards(root, tmp_path / "clean", dtype="uint8", images_per_shard=3)
    # RLIMIT_FSIZE limits each file: every shard fits, the manifest outgrows it part way.
    limit = max(p.stat().st_size for p in (tmp_path / "clean").glob("shard-*")) + 1
    assert (tmp_path / "clean" / "manifest.json").stat().st_size > limit
    done = subprocess.run([sys.executable, "-c", _FULL, str(root), str(tmp_path / "out")], capture_output=True,
                          text=True, cwd=os.getcwd(),
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
    assert "File too large" in done.stdout, done.stdout + done.stderr
    manifest = read_manifest(tmp_path / "out")
    assert 0 < len(manifest.shards) < 8 and not manifest.complete
    assert not [n for n in os.listdir(tmp_path / "out") if n.endswith(".tmp")]
    write_image_shards(root, tmp_path / "out", dtype="uint8", images_per_shard=3)
    assert folder_bytes(tmp_path / "out") == folder_bytes(tmp_path / "clean")


def test_tasks_pickle_and_a_driver_gets_the_same_folder(tmp_path):
    import pickle

    from tensortool.sharded.writer import ShardFolder
    from tensortool.sources.image.shards import summary_info, write_image_shard

    root = make_tree(tmp_path / "tree")
    write_image_shards(root, tmp_path / "clean", dtype="uint8", images_per_shard=4, shuffle=5)
    plan = plan_image_shards(root, tmp_path / "out", dtype="uint8", images_per_shard=4, shuffle=5)
    folder = ShardFolder(tmp_path / "out", kind="images", options=plan.options, planned=len(plan.tasks))
    for task in reversed(plan.tasks):  # any order, anywhere
        folder.add(write_image_shard(pickle.loads(pickle.dumps(task))))
    folder.finish(summary_info(plan, folder.manifest))
    assert folder_bytes(tmp_path / "out") == folder_bytes(tmp_path / "clean")


def test_resume_keeps_only_the_shards_the_plan_makes(tmp_path):
    # A record the plan does not make (an edited manifest naming an intact file of its own) does not
    # join the dataset: the resumed folder is the one an uninterrupted run writes.
    root = make_tree(tmp_path / "tree", per_class=2)
    write_image_shards(root, tmp_path / "clean", dtype="uint8", images_per_shard=4)
    out = tmp_path / "out"
    write_image_shards(root, out, dtype="uint8", images_per_shard=4)
    doc = json.loads((out / "manifest.json").read_text())
    extra = dict(doc["shards"][0], name="shard-00009.safetensors", index=9)
    (out / extra["name"]).write_bytes((out / doc["shards"][0]["name"]).read_bytes())
    doc["shards"].append(extra)
    doc["complete"] = False
    (out / "manifest.json").write_text(json.dumps(doc))
    manifest = write_image_shards(root, out, dtype="uint8", images_per_shard=4)
    assert [s.name for s in manifest.shards] == [s["name"] for s in
                                                 json.loads((tmp_path / "clean" / "manifest.json").read_text())["shards"]]
    assert manifest.count == 6
    from tensortool import open_shards

    assert len(open_shards(out)) == 6
