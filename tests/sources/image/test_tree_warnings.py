"""A folder that looks like an ImageFolder tree but is not one says why its labels are missing."""

from __future__ import annotations

import shutil

from typer.testing import CliRunner

from tensortool import load_images
from tensortool.cli.app import app
from tensortool.sources.image.files import find_images


def test_image_beside_class_folders_warns_and_names_it(tree):
    shutil.copy(tree / "a_cat" / "00.jpg", tree / "stray.jpg")
    found = find_images([tree])
    assert found.labels is None
    bundle = load_images(tree)
    assert "labels" not in bundle.tensors and "class_names" not in bundle.meta
    [message] = [w for w in bundle.meta["warnings"] if "ImageFolder" in w]
    assert str(tree / "stray.jpg") in message and "a_cat" in message


def test_cli_prints_the_tree_warning(tree):
    shutil.copy(tree / "b_dog" / "00.png", tree / "z.png")
    result = CliRunner().invoke(app, ["load-image", str(tree), "-q"])
    assert result.exit_code == 0, result.output
    assert "warning:" in result.stderr and str(tree / "z.png") in result.stderr


def test_plain_folder_and_real_tree_do_not_warn(tree, flat):
    assert not load_images(tree).meta["warnings"]
    assert not load_images(flat).meta["warnings"]
    (flat / "sub").mkdir()  # an empty sub-folder: no class holds an image, nothing is lost
    assert not load_images(flat).meta["warnings"]


def test_one_hot_refusal_says_which_file_breaks_the_tree(tree):
    import pytest

    from tensortool.errors import OptionError

    shutil.copy(tree / "a_cat" / "00.jpg", tree / "stray.jpg")
    with pytest.raises(OptionError, match="stray.jpg"):
        load_images(tree, one_hot=True)
