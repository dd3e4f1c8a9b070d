"""`stats` on a local Ray cluster: the same JSON as the local run, after a killed worker too;
progress, a worker's error naming the file, and the install line when Ray is missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from tests.conftest import PHOTOS, ROOT, smooth_rgb, write_png16
from tests.engine.test_engines import KillOnce
from tensortool import InputError, OptionError, dataset_stats
from tensortool.cli.app import app
from tensortool.cli.ray_option import with_ray_address
from tensortool.engine import RayEngine, TaskProgress
from tensortool.stats import distributed

runner = CliRunner()


@pytest.fixture
def small_tasks(monkeypatch):
    monkeypatch.setattr(distributed, "FILES_PER_TASK", 3)  # several tasks from a small folder


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """8- and 16-bit gray images (two bit depths to merge) and a file that is not an image."""
    root = tmp_path_factory.mktemp("mixed")
    rng = np.random.default_rng(3)
    for i in range(7):
        Image.fromarray(smooth_rgb(9 + i, 11, i)[..., 0]).save(root / f"a{i}.png")
        write_png16(root / f"b{i}.png", rng.integers(0, 65536, (5, 6 + i), dtype=np.uint16))
    (root / "c_bad.png").write_bytes(b"not a png")
    return root


def test_the_stats_json_equals_the_local_run(ray_cluster, small_tasks, mixed):
    local = dataset_stats(PHOTOS, resize=[40]).to_json()
    assert dataset_stats(PHOTOS, resize=[40], engine="ray").to_json() == local
    local = dataset_stats(mixed, mode="gray", skip_bad=True).to_json()
    assert dataset_stats(mixed, mode="gray", skip_bad=True, engine="ray").to_json() == local
    values = np.concatenate([np.asarray(Image.open(f), dtype=np.float64).ravel() / (255 if f.name[0] == "a" else 65535)
                             for f in sorted(mixed.glob("[ab]*.png"))])  # Pillow + numpy, independently
    assert np.allclose(local["mean"], [values.mean()], rtol=1e-12) and np.allclose(local["std"], [values.std()])


def test_a_killed_worker_gives_the_same_json(ray_cluster, small_tasks, tmp_path):
    local = dataset_stats(PHOTOS).to_json()
    engine = KillOnce(tmp_path / "killed")
    assert dataset_stats(PHOTOS, engine=engine).to_json() == local
    assert (tmp_path / "killed").exists()


def test_progress_counts_tasks_and_files(ray_cluster, small_tasks):
    seen: list[TaskProgress] = []
    files: list[tuple[int, int]] = []
    dataset_stats(PHOTOS, engine=RayEngine(progress=seen.append), progress=lambda d, t: files.append((d, t)))
    assert [p.done for p in seen] == [1, 2, 3] and {p.total for p in seen} == {3}
    assert seen[-1].items_done == 9 and seen[-1].items_per_second > 0 and files[-1] == (9, 9)


def test_a_bad_file_on_a_worker_is_one_line_naming_it(ray_cluster, small_tasks, mixed, tmp_path):
    with pytest.raises(InputError) as info:
        dataset_stats(mixed, mode="gray", engine="ray")
    assert info.value.path == str(mixed / "c_bad.png")
    result = runner.invoke(app, ["stats", str(mixed), "--mode", "gray", "--ray", "-o", str(tmp_path / "s.json")])
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1 and "c_bad.png" in lines[0]
    assert not (tmp_path / "s.json").exists()


def test_channel_counts_that_differ_across_tasks(ray_cluster, small_tasks, tmp_path):
    for i in range(4):
        Image.fromarray(smooth_rgb(5, 5, i)).save(tmp_path / f"a{i}.png")
    Image.fromarray(smooth_rgb(5, 5, 9)[..., 0]).save(tmp_path / "b.png")
    with pytest.raises(OptionError) as local:
        dataset_stats(tmp_path, mode="unchanged")
    with pytest.raises(OptionError) as on_ray:
        dataset_stats(tmp_path, mode="unchanged", engine="ray")
    assert str(on_ray.value) == str(local.value)


def test_cli_ray_json_equals_the_local_json(ray_cluster, small_tasks, tmp_path):
    result = runner.invoke(app, ["stats", str(PHOTOS), "--ray", "-o", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.stderr
    assert runner.invoke(app, ["stats", str(PHOTOS), "-o", str(tmp_path / "l.json")]).exit_code == 0
    ray_doc, local_doc = (json.loads((tmp_path / f"{n}.json").read_text()) for n in "rl")
    assert ray_doc == local_doc


def test_cli_connects_to_a_running_cluster(ray_cluster, tmp_path):
    """The entry point in a new process, given the session cluster's address."""
    address = ray_cluster.get_runtime_context().gcs_address
    done = subprocess.run([sys.executable, "-m", "tensortool", "stats", str(PHOTOS), "--ray", address, "--json"],
                          capture_output=True, text=True, cwd=ROOT, timeout=150, env={**os.environ, "NO_COLOR": "1"})
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["state"] == dataset_stats(PHOTOS).to_json()["state"]


def test_without_ray_the_option_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    result = runner.invoke(app, ["stats", str(PHOTOS), "--ray"])
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: the Ray engine needs Ray, which is not installed " \
                                    "(pip install 'tensortool[ray]')"
    with pytest.raises(Exception, match=r"pip install 'tensortool\[ray\]'"):
        dataset_stats(PHOTOS, engine="ray")


def test_the_ray_option_takes_an_optional_address():
    assert with_ray_address(["a", "--ray"]) == ["a", "--ray", "local"]
    assert with_ray_address(["--ray", "--json", "a"]) == ["--ray", "local", "--json", "a"]
    assert with_ray_address(["--ray", "ray://head:10001", "a"]) == ["--ray", "ray://head:10001", "a"]
    assert with_ray_address(["--ray", "10.0.0.1:6379"]) == ["--ray", "10.0.0.1:6379"]
    assert with_ray_address(["--", "--ray"]) == ["--", "--ray"]
    result = runner.invoke(app, ["stats", str(PHOTOS), "--ray=images/"])
    assert result.exit_code == 2 and "not a Ray address" in result.stderr


def test_tensor_files_are_refused_on_ray(tmp_path):
    import torch

    torch.save({"x": torch.ones(2, 3)}, tmp_path / "t.pt")
    with pytest.raises(OptionError, match="engine"):
        dataset_stats(tmp_path / "t.pt", engine="ray")


def test_tar_shard_inputs_on_ray(ray_cluster, small_tasks, tmp_path):
    import tarfile

    with tarfile.open(tmp_path / "photos.tar", "w") as tar:
        for path in sorted(PHOTOS.rglob("*.jpg")):
            tar.add(path, arcname=path.name)
    local = dataset_stats(tmp_path / "photos.tar").to_json()
    assert dataset_stats(tmp_path / "photos.tar", engine="ray").to_json() == local and local["count"] == 9


def test_the_task_bar_shows_tasks_and_files_per_second(monkeypatch):
    import io

    from rich.console import Console

    from tensortool.cli import output, ray_option

    out = io.StringIO()
    monkeypatch.setattr(output, "stderr", Console(file=out, force_terminal=True, width=100))
    monkeypatch.setattr(ray_option, "SHOW_AFTER_S", 0.0)
    with ray_option._task_progress(quiet=False) as show:
        show(TaskProgress(3, 16, 384, 2000, 0.5))
    assert "tasks" in out.getvalue() and "3/16" in out.getvalue() and "768 files/s" in out.getvalue()
    with ray_option._task_progress(quiet=True) as show:
        assert show is None
