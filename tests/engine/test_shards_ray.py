"""load-image -o DIR/ on a local Ray cluster: the same shard files, byte for byte, and the same
manifest as the local run; after a killed worker too; resumes; a bad file is one line."""

from __future__ import annotations

import json
import os
import shutil
import signal
from functools import partial

import pytest
import torch
from typer.testing import CliRunner

from tests.engine.test_engines import KillOnce
from tests.sharded.helpers import folder_bytes, make_tree, read_folder, reference
from tensortool import InputError
from tensortool.cli.app import app
from tensortool.engine import RayEngine
from tensortool.sources.image.shards import write_image_shards

runner = CliRunner()


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return make_tree(tmp_path_factory.mktemp("tree"))


@pytest.fixture(scope="module")
def local_out(tree, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "out"
    write_image_shards(tree, out, dtype="uint8", images_per_shard=4, shuffle=7, one_hot=True)
    return out


def test_the_shards_are_byte_identical_to_the_local_run(ray_cluster, tree, local_out, tmp_path):
    write_image_shards(tree, tmp_path / "out", dtype="uint8", images_per_shard=4, shuffle=7, one_hot=True,
                       engine="ray")
    assert folder_bytes(tmp_path / "out") == folder_bytes(local_out)  # the manifest.json too
    images, labels = read_folder(tmp_path / "out")
    _, ref_images, ref_labels = reference(tree)  # Pillow and torchvision's ImageFolder
    assert sorted(map(tuple, images.flatten(1).tolist())) == sorted(map(tuple, ref_images.flatten(1).tolist()))
    assert torch.equal(labels.sort().values, ref_labels.sort().values)


def test_a_killed_worker_leaves_the_same_shards(ray_cluster, tree, local_out, tmp_path):
    write_image_shards(tree, tmp_path / "out", dtype="uint8", images_per_shard=4, shuffle=7, one_hot=True,
                       engine=KillOnce(tmp_path / "killed"))
    assert (tmp_path / "killed").exists()
    assert folder_bytes(tmp_path / "out") == folder_bytes(local_out)


def kill_mid_write(fn, marker: str, task):
    """The first time only: the shard's bytes start to go out, then the worker is killed."""
    if not os.path.exists(marker):
        open(marker, "w").close()
        from tensortool.sharded import writer
        from tensortool.sources.image import shards

        def half_then_die(path, tensors, meta):
            def write(fh):
                fh.write(b"\0" * 1000)
                os.kill(os.getpid(), signal.SIGKILL)
            return writer.write_file(path, write)

        shards.write_tensors = half_then_die  # this worker process dies with the change
    return fn(task)


class KillMidWrite(RayEngine):
    def __init__(self, marker):
        super().__init__()
        self.marker = str(marker)

    def run(self, fn, tasks, **kwargs):
        return super().run(partial(kill_mid_write, fn, self.marker), tasks, **kwargs)


def test_a_worker_killed_mid_write_leaves_no_partial_file(ray_cluster, tree, local_out, tmp_path):
    write_image_shards(tree, tmp_path / "out", dtype="uint8", images_per_shard=4, shuffle=7, one_hot=True,
                       engine=KillMidWrite(tmp_path / "killed"))
    assert (tmp_path / "killed").exists()
    assert folder_bytes(tmp_path / "out") == folder_bytes(local_out)  # no temporary file left either


def test_ray_resumes_what_is_missing(ray_cluster, tree, local_out, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(local_out, out)
    (out / "shard-00002.safetensors").unlink()
    (out / "shard-00001.safetensors").write_bytes(b"damaged")
    write_image_shards(tree, out, dtype="uint8", images_per_shard=4, shuffle=7, one_hot=True, engine="ray")
    assert folder_bytes(out) == folder_bytes(local_out)


def test_cli_ray_and_a_bad_file(ray_cluster, tree, tmp_path):
    local = runner.invoke(app, ["load-image", str(tree), "-o", f"{tmp_path / 'l'}/", "--shard-images", "5", "--json"])
    on_ray = runner.invoke(app, ["load-image", str(tree), "-o", f"{tmp_path / 'r'}/", "--shard-images", "5", "--ray",
                                 "--json"])
    assert local.exit_code == 0 and on_ray.exit_code == 0, on_ray.stderr
    assert folder_bytes(tmp_path / "l") == folder_bytes(tmp_path / "r")
    assert json.loads(on_ray.stdout)["shards"] == json.loads(local.stdout)["shards"]
    bad = tmp_path / "bad"
    shutil.copytree(tree, bad)
    (bad / "bee" / "002.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    result = runner.invoke(app, ["load-image", str(bad), "-o", f"{tmp_path / 'b'}/", "--shard-images", "5", "--ray"])
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1 and "002.png" in lines[0], result.stderr
    with pytest.raises(InputError) as info:
        write_image_shards(bad, tmp_path / "b2", images_per_shard=5, engine="ray")
    assert info.value.path == str(bad / "bee" / "002.png")


def test_ray_needs_a_folder_output(tree, tmp_path):
    result = runner.invoke(app, ["load-image", str(tree), "-o", str(tmp_path / "x.pt"), "--ray"])
    assert result.exit_code == 2 and "--ray needs a folder output" in result.stderr
