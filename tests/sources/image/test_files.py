"""File discovery holds names as strings: same order and names as torchvision's ImageFolder."""

from __future__ import annotations

import os
from pathlib import Path

from tensortool.sources.image.files import PathList, find_images, names_of
from tests.sharded.helpers import make_tree


def test_tree_order_matches_imagefolder_and_items_are_paths(tmp_path):
    from torchvision.datasets import ImageFolder

    root = make_tree(tmp_path / "tree", per_class=3)
    (root / "bee" / "sub").mkdir()
    (root / "bee" / "sub" / "x.PNG").write_bytes((root / "bee" / "000.png").read_bytes())
    found = find_images([root])
    expected = ImageFolder(str(root)).samples
    assert [str(p) for p in found.files] == [p for p, _ in expected]
    assert found.labels == [c for _, c in expected]
    assert isinstance(found.files, PathList) and isinstance(found.files[0], Path)
    assert list(names_of(found.files)) == [p for p, _ in expected]
    assert list(found.files[1::4]) == [Path(p) for p, _ in expected[1::4]]


def test_relative_folder_names_read_as_paths_name_them(tmp_path, monkeypatch):
    make_tree(tmp_path / "tree", per_class=1)
    monkeypatch.chdir(tmp_path / "tree" / "ant")
    assert names_of(find_images(["."]).files) == ["000.png"]
    monkeypatch.chdir(tmp_path)
    assert names_of(find_images(["./tree/ant/"]).files) == [os.path.join("tree", "ant", "000.png")]
