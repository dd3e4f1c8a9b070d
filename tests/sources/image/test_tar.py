"""WebDataset-style tar inputs against the same images as plain files."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
import torch

from tensortool import dataset_stats, load_images
from tensortool.errors import InputError
from tensortool.sources.image.tar import expand_braces
from tests.sharded.helpers import make_tree, read_folder, reference


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def write_tars(root, out, *, per_tar: int, label: str = "cls", compress: str = "") -> list:
    """The tree's images as WebDataset shards: key.png plus key.cls (index) or key.json (name)."""
    files, _, labels = reference(root)
    names = sorted(p.name for p in root.iterdir())
    tars = []
    for start in range(0, len(files), per_tar):
        path = out / f"data-{start // per_tar:03d}.tar{'.gz' if compress else ''}"
        with tarfile.open(path, f"w:{compress}") as tf:
            for i in range(start, min(start + per_tar, len(files))):
                key = f"sample{i:04d}"
                _add(tf, f"{key}.png", open(files[i], "rb").read())
                if label == "cls":
                    _add(tf, f"{key}.cls", f"{int(labels[i])}\n".encode())
                elif label == "json":
                    _add(tf, f"{key}.json", json.dumps({"label": names[labels[i]], "w": 1}).encode())
        tars.append(path)
    return tars


def test_tars_read_as_the_same_images_with_cls_labels(tmp_path):
    root = make_tree(tmp_path / "tree")
    _, images, labels = reference(root)
    tars = write_tars(root, tmp_path, per_tar=4)
    got = load_images(str(tmp_path / "data-{000..003}.tar"), dtype="uint8")
    assert torch.equal(got["images"], images) and torch.equal(got["labels"], labels)
    assert got.meta["class_names"] == ["0", "1", "2"]
    assert got.meta["files"][5] == f"{tars[1]}:sample0005.png"
    plain = load_images(root, dtype="uint8")
    assert torch.equal(plain["images"], got["images"])


def test_json_class_names_and_one_hot(tmp_path):
    root = make_tree(tmp_path / "tree")
    _, _, labels = reference(root)
    tars = write_tars(root, tmp_path, per_tar=15, label="json")
    got = load_images(tars, dtype="uint8", one_hot=True)
    assert got.meta["class_names"] == ["ant", "bee", "cow"] and torch.equal(got["labels"], labels)
    assert torch.equal(got["labels_onehot"], torch.nn.functional.one_hot(labels, 3).float())


def test_no_labels_without_class_members(tmp_path):
    root = make_tree(tmp_path / "tree", per_class=2)
    tars = write_tars(root, tmp_path, per_tar=6, label="none")
    got = load_images(tars, dtype="uint8")
    assert "labels" not in got.tensors and torch.equal(got["images"], reference(root)[1])


def test_stats_of_tars_equal_stats_of_files(tmp_path):
    root = make_tree(tmp_path / "tree")
    write_tars(root, tmp_path, per_tar=4)
    from_tars = dataset_stats([str(tmp_path / "data-{000..003}.tar")]).to_json()
    from_files = dataset_stats([root]).to_json()
    assert from_tars["mean"] == from_files["mean"] and from_tars["std"] == from_files["std"]
    assert from_tars["count"] == 15


def test_sharded_output_from_tars(tmp_path):
    from tensortool.sources.image.shards import write_image_shards

    root = make_tree(tmp_path / "tree")
    _, images, labels = reference(root)
    tars = write_tars(root, tmp_path, per_tar=4)
    write_image_shards(tars, tmp_path / "out", dtype="uint8", images_per_shard=6)
    got_images, got_labels = read_folder(tmp_path / "out")
    assert torch.equal(got_images, images) and torch.equal(got_labels, labels)


def test_bad_tars(tmp_path):
    root = make_tree(tmp_path / "tree", per_class=1)
    (gz,) = write_tars(root, tmp_path, per_tar=3, compress="gz")
    with pytest.raises(InputError, match="compressed tar cannot be read in place"):
        load_images(gz)
    plain = tmp_path / "gz.tar"
    plain.write_bytes(gz.read_bytes())
    with pytest.raises(InputError, match="compressed or not a tar") as info:
        load_images(plain)
    assert info.value.path == str(plain)
    with pytest.raises(InputError, match="no such file"):
        load_images(str(tmp_path / "none-{0..1}.tar"))
    with pytest.raises(InputError, match="cannot be mixed"):
        load_images([plain, root])
    broken = tmp_path / "broken.tar"
    with tarfile.open(broken, "w") as tf:
        _add(tf, "a.png", b"\x89PNG\r\n\x1a\nnot really")
        _add(tf, "a.cls", b"0")
        _add(tf, "b.png", (root / "ant" / "000.png").read_bytes())
        _add(tf, "b.cls", b"0")
    with pytest.raises(InputError) as info:
        load_images(broken)
    assert info.value.path == f"{broken}:a.png"
    skipped = load_images(broken, skip_bad=True)
    assert skipped.meta["skipped"][0]["file"] == f"{broken}:a.png"


def test_missing_class_refused(tmp_path):
    root = make_tree(tmp_path / "tree", per_class=1)
    path = tmp_path / "mixed.tar"
    with tarfile.open(path, "w") as tf:
        _add(tf, "a.png", (root / "ant" / "000.png").read_bytes())
        _add(tf, "a.cls", b"1")
        _add(tf, "b.png", (root / "bee" / "000.png").read_bytes())
    with pytest.raises(InputError, match="has no class") as info:
        load_images(path)
    assert info.value.path == f"{path}:b.png"


def test_brace_expansion():
    assert expand_braces("d-{000000..000002}.tar") == ["d-000000.tar", "d-000001.tar", "d-000002.tar"]
    assert expand_braces("{a,b}/{1..2}") == ["a/1", "a/2", "b/1", "b/2"]
    assert expand_braces("{3..1}") == ["3", "2", "1"] and expand_braces("x{y}") == ["x{y}"]


def test_cli_load_image_and_stats_take_brace_patterns(tmp_path):
    from typer.testing import CliRunner

    from tensortool.cli.app import app

    root = make_tree(tmp_path / "tree")
    write_tars(root, tmp_path, per_tar=4)
    pattern = str(tmp_path / "data-{000..003}.tar")
    loaded = CliRunner().invoke(app, ["load-image", pattern, "--dtype", "uint8", "--json"])
    assert loaded.exit_code == 0, loaded.output
    assert json.loads(loaded.stdout)["tensors"]["images"]["shape"] == [15, 3, 16, 20]
    stats = CliRunner().invoke(app, ["stats", pattern, "--json"])
    assert stats.exit_code == 0 and json.loads(stats.stdout)["count"] == 15
