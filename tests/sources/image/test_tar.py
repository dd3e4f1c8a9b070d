"""WebDataset-style tar inputs against the same images as plain files."""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
import tarfile
import time

import pytest
import torch

from tensortool import dataset_stats, load_images
from tensortool.errors import InputError
from tensortool.sources.image.tar import expand_braces
from tests.conftest import SAMPLES
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


def _one_image_tar(path, *members) -> str:
    png = (SAMPLES / "special" / "gray.png").read_bytes()
    with tarfile.open(path, "w") as tf:
        _add(tf, "a.png", png)
        for name, data in members:
            _add(tf, name, data)
    return str(path)


@pytest.mark.parametrize("member, message", [
    (("a.cls", b"999999999999"), "a class number of 12 digits is out of range"),
    (("a.cls", b"9" * 5000), "a class number of 5,000 digits is out of range"),  # int() itself refuses 4300
    (("a.json", b'{"cls": 99999999999999}'), "class 99,999,999,999,999 is above the limit of 1,048,576 classes"),
    (("a.cls", b"1048576"), "class 1,048,576 is above the limit"),
])
def test_a_huge_class_number_is_refused_not_listed(tmp_path, member, message):
    # The class names of integer classes are "0".."max": the list once grew to the number's size.
    path = _one_image_tar(tmp_path / "x.tar", member)
    started = time.perf_counter()
    with pytest.raises(InputError, match=message) as info:
        load_images(path)
    assert time.perf_counter() - started < 2 and info.value.path.startswith(f"{path}:a.")
    assert load_images(_one_image_tar(tmp_path / "y.tar", ("a.cls", b"1048575")))["labels"].tolist() == [1048575]


@pytest.mark.parametrize("pattern, count", [("a-{0..999999999}.tar", "1,000,000,000"),
                                            ("{a,b}-{0..999}-{0..999}.tar", "2,000,000"),
                                            ("a-{0..1000000}.tar", "1,000,001")])
def test_a_brace_pattern_naming_too_many_files_is_refused_before_expanding(tmp_path, pattern, count):
    started = time.perf_counter()
    with pytest.raises(InputError, match=f"names {count} files, more than the limit of 1,000,000") as info:
        load_images(str(tmp_path / pattern))
    assert time.perf_counter() - started < 1 and info.value.path == str(tmp_path / pattern)
    with pytest.raises(InputError, match="more than 18 digits"):
        expand_braces("a-{0.." + "9" * 5000 + "}.tar")  # int() refuses 4300 digits
    assert len(expand_braces("{0..999}-{0..999}")) == 1_000_000


def test_a_member_size_beyond_the_file_is_an_error_not_a_crash(tmp_path):
    path = tmp_path / "x.tar"
    data = bytearray(open(_one_image_tar(path), "rb").read())
    data[124:136] = b"\x80" + b"\xff" * 11  # size 2**88 (base-256): tarfile then seeks past 2**63
    data[148:156] = b" " * 8
    data[148:156] = b"%06o\0 " % sum(data[:512])
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="a member header claims an impossible size") as info:
        load_images(path)
    assert info.value.path == str(path)
    from tensortool.sources.image.tar import TarMember

    with pytest.raises(InputError, match="the tar ends inside this member"):  # checked before allocating
        TarMember(str(path), "a.png", 512, 1 << 60).read_tensor()


def test_a_sparse_image_member_is_refused(tmp_path):
    # Its stored bytes are not the file's: read by offset they would be decoded as the image.
    path = tmp_path / "x.tar"
    png = (SAMPLES / "special" / "gray.png").read_bytes()
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tf:
        info = tarfile.TarInfo("a.png")
        info.type, info.size = tarfile.GNUTYPE_SPARSE, len(png)
        tf.addfile(info, io.BytesIO(png))
    with pytest.raises(InputError, match="a sparse member cannot be read in place") as err:
        load_images(path)
    assert err.value.path == f"{path}:a.png"


def test_a_member_name_with_a_newline_gives_a_one_line_error(tmp_path):
    path = tmp_path / "x.tar"
    with tarfile.open(path, "w") as tf:
        _add(tf, "a\nb\x1b[2J.png", b"not an image")
    with pytest.raises(InputError) as info:
        load_images(path)
    assert str(info.value) == f"{path}:a\\nb\\x1b[2J.png: not an image file (unrecognised format)"
    assert info.value.path == f"{path}:a\nb\x1b[2J.png"  # the field keeps the name as it is


def test_a_long_name_header_claiming_a_terabyte_is_an_error_not_a_memory_error(tmp_path):
    # tarfile reads a GNU long name (or a pax header) whole, of the size its header claims: with an
    # address-space limit that allocation fails, and the MemoryError escaped.
    path = tmp_path / "x.tar"
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tf:
        _add(tf, "x" * 200 + ".png", (SAMPLES / "special" / "gray.png").read_bytes())
    data = bytearray(path.read_bytes())
    assert data[156:157] == tarfile.GNUTYPE_LONGNAME
    data[124:136] = b"\x80" + b"\0" * 5 + b"\1" + b"\0" * 5  # 2**40 bytes, base-256
    data[148:156] = b" " * 8
    data[148:156] = b"%06o\0 " % sum(data[:512])
    path.write_bytes(bytes(data))
    code = ("import sys\nfrom tensortool import load_images\nfrom tensortool.errors import InputError\n"
            "try:\n    load_images(sys.argv[1])\nexcept InputError as e:\n    print(e)\n")
    limit = lambda: resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))  # noqa: E731
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                          preexec_fn=limit, cwd=os.getcwd())
    assert done.returncode == 0 and done.stdout.startswith(f"{path}: cannot read this tar"), done.stderr[-500:]
