"""load-image -o DIR/ and info DIR through the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import torch
from typer.testing import CliRunner

from tensortool.cli.app import app

from .helpers import make_tree, read_folder, reference

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_load_image_into_a_folder_and_info(tmp_path):
    root = make_tree(tmp_path / "tree")
    result = run("load-image", root, "-o", f"{tmp_path / 'out'}/", "--dtype", "uint8", "--shard-images", "4",
                 "--shuffle", "1", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["count"] == 15 and len(doc["shards"]) == 4 and doc["options"]["shuffle"] == 1
    images, labels = read_folder(tmp_path / "out")
    _, ref_images, ref_labels = reference(root)
    import numpy as np
    order = np.random.default_rng(1).permutation(15)
    assert torch.equal(images, ref_images[order]) and torch.equal(labels, ref_labels[order])
    info = run("info", tmp_path / "out", "--json")
    assert info.exit_code == 0 and json.loads(info.stdout)["shards"] == doc["shards"]
    text = run("info", tmp_path / "out")
    assert "15 in 4 shard(s)" in text.stdout and "complete" in text.stdout


def test_shard_size_and_refusals(tmp_path):
    root = make_tree(tmp_path / "tree")
    ok = run("load-image", root, "-o", tmp_path / "out", "--dtype", "uint8", "--shard-size", "5KB")
    assert ok.exit_code == 0, ok.output
    assert [s["count"] for s in json.loads((tmp_path / "out" / "manifest.json").read_text())["shards"]] == [5, 5, 5]
    other = run("load-image", root, "-o", tmp_path / "out", "--dtype", "float32", "--shard-size", "5KB")
    assert other.exit_code == 1 and "other options (dtype" in other.output
    forced = run("load-image", root, "-o", tmp_path / "out", "--shard-size", "5KB", "--force")
    assert forced.exit_code == 0, forced.output
    assert run("load-image", root, "-o", tmp_path / "x.pt", "--shuffle", "0").exit_code == 2
    assert run("load-image", root, "-o", tmp_path / "y/", "--shard-size", "5").exit_code == 2
    resume = run("load-image", root, "-o", tmp_path / "z/", "--resume")
    assert resume.exit_code == 1 and "no manifest.json to resume" in resume.output


def test_entry_point(tmp_path):
    root = make_tree(tmp_path / "tree", per_class=1)
    done = subprocess.run([sys.executable, "-m", "tensortool", "load-image", str(root), "-o", f"{tmp_path}/out/",
                           "-q"], capture_output=True, text=True)
    assert done.returncode == 0 and "3 in 1 shard(s)" in done.stdout, done.stderr


def test_full_disk_one_line_error_then_resume(tmp_path):
    import resource

    root = make_tree(tmp_path / "tree", per_class=8, size=(8, 8))
    out = f"{tmp_path}/out/"
    command = [sys.executable, "-m", "tensortool", "load-image", str(root), "-o", out, "--dtype", "uint8",
               "--shard-images", "3", "-q"]
    from tensortool.sources.image.shards import write_image_shards

    write_image_shards(root, tmp_path / "clean", dtype="uint8", images_per_shard=3)
    # RLIMIT_FSIZE limits each file: every shard fits, the manifest outgrows it part way.
    limit = max(p.stat().st_size for p in (tmp_path / "clean").glob("shard-*")) + 1
    assert (tmp_path / "clean" / "manifest.json").stat().st_size > limit
    done = subprocess.run(command, capture_output=True, text=True,
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
    assert done.returncode == 1 and "File too large" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    again = subprocess.run(command, capture_output=True, text=True)
    assert again.returncode == 0 and "24 in 8 shard(s)" in again.stdout, again.stderr
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == \
        {p.name: p.read_bytes() for p in (tmp_path / "clean").iterdir()}
