"""load_csv on the files packages ship: compressed, whitespace-delimited, with a preamble or comments.

References are numpy's loadtxt/genfromtxt and pandas, which read the same files independently.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sklearn
import torch

from tensortool import InputError, load_csv

SKLEARN_DATA = Path(sklearn.__file__).parent / "datasets" / "data"


def _mpl_sample(name: str) -> Path:
    matplotlib = pytest.importorskip("matplotlib")
    return Path(matplotlib.get_data_path()) / "sample_data" / name


# Every CSV scikit-learn ships, with the options that read it and numpy's reading of it.
SKLEARN_FILES = {
    "iris.csv": ({"skip_rows": 1, "target": -1}, {"delimiter": ",", "skiprows": 1}),
    "wine_data.csv": ({"skip_rows": 1, "target": -1}, {"delimiter": ",", "skiprows": 1}),
    "breast_cancer.csv": ({"skip_rows": 1, "target": -1}, {"delimiter": ",", "skiprows": 1}),
    "digits.csv.gz": ({"target": -1}, {"delimiter": ","}),
    "diabetes_data_raw.csv.gz": ({}, {}),
    "diabetes_target.csv.gz": ({}, {"ndmin": 2}),
    "linnerud_exercise.csv": ({}, {"skiprows": 1}),
    "linnerud_physiological.csv": ({}, {"skiprows": 1}),
}


def test_every_sklearn_csv_is_listed():
    shipped = {p.name for p in SKLEARN_DATA.iterdir() if ".csv" in p.name}
    assert shipped <= set(SKLEARN_FILES), shipped - set(SKLEARN_FILES)


@pytest.mark.parametrize("name", sorted(SKLEARN_FILES))
def test_sklearn_dataset_csv_matches_numpy(name):
    path = SKLEARN_DATA / name
    if not path.exists():
        pytest.skip(f"{name} not shipped by this scikit-learn")
    options, numpy_options = SKLEARN_FILES[name]
    ref = np.loadtxt(path, **numpy_options)  # loadtxt opens .gz itself
    b = load_csv(path, dtype="float64", **options)
    if "target" in options:
        assert torch.equal(b["features"], torch.from_numpy(ref[:, :-1]))
        labels = ref[:, -1]
        assert b.meta["target_classes"] == sorted({int(v) for v in labels})
        assert all(isinstance(c, int) for c in b.meta["target_classes"])
        assert torch.equal(b["target"], torch.from_numpy(np.unique(labels, return_inverse=True)[1].reshape(-1)))
    else:
        assert torch.equal(b["features"], torch.from_numpy(ref))


def test_sklearn_loaders_agree():
    """The same numbers sklearn's own loaders return."""
    from sklearn.datasets import load_diabetes, load_iris, load_linnerud

    iris = load_iris()
    b = load_csv(SKLEARN_DATA / "iris.csv", skip_rows=1, target=4, dtype="float64")
    assert np.array_equal(b["features"].numpy(), iris.data) and np.array_equal(b["target"].numpy(), iris.target)
    raw = load_csv(SKLEARN_DATA / "diabetes_data_raw.csv.gz", dtype="float64")
    assert np.array_equal(raw["features"].numpy(), load_diabetes(scaled=False).data)
    lin = load_csv(SKLEARN_DATA / "linnerud_exercise.csv", dtype="float64")
    assert lin.meta["columns"] == load_linnerud().feature_names
    assert np.array_equal(lin["features"].numpy(), load_linnerud().data)


def test_matplotlib_stocks_with_comment():
    path = _mpl_sample("Stocks.csv")
    if not path.exists():
        pytest.skip("no Stocks.csv in this matplotlib")
    b = load_csv(path, comment="#", drop=["Date"], missing="zero", dtype="float64")
    ref = pd.read_csv(path, comment="#").drop(columns="Date").fillna(0)
    assert b.meta["columns"] == list(ref.columns)
    assert torch.equal(b["features"], torch.from_numpy(ref.to_numpy(np.float64)))
    # An error still names the line of the file itself (the comment line counts).
    with pytest.raises(InputError, match=r"Stocks\.csv: line 3, column 'AMZN': missing value"):
        load_csv(path, comment="#", drop=["Date"])


def test_matplotlib_whitespace_file():
    path = _mpl_sample("data_x_x2_x3.csv")
    if not path.exists():
        pytest.skip("no data_x_x2_x3.csv in this matplotlib")
    b = load_csv(path, dtype="float64")
    assert b.meta["delimiter"] == " "
    assert torch.equal(b["features"], torch.from_numpy(np.loadtxt(path)))


TABLE = "a,b,label\n1.5,2,0\n3,4.25,1\n5,6,2\n7,8,1\n"


@pytest.mark.parametrize("kind", ["gz", "bz2", "xz", "zip"])
def test_compressed_files(tmp_path, kind):
    data = TABLE.encode()
    path = tmp_path / f"t.csv.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("inner/t.csv", data)
    else:
        path.write_bytes({"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}[kind](data))
    b = load_csv(path, target="label")
    ref = pd.read_csv(path)  # pandas opens all four by their suffix
    assert torch.equal(b["features"], torch.from_numpy(ref[["a", "b"]].to_numpy(np.float32)))
    assert b.meta["target_classes"] == [0, 1, 2]
    assert b.meta["source"] == str(path)


def test_compression_found_by_content_not_name(tmp_path):
    path = tmp_path / "plain-name.csv"
    path.write_bytes(gzip.compress(TABLE.encode()))
    assert load_csv(path)["features"].shape == (4, 3)


def test_zip_with_several_tables_is_refused_naming_them(tmp_path):
    path = tmp_path / "two.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("train.csv", TABLE)
        z.writestr("test.csv", TABLE)
    with pytest.raises(InputError, match=r"two\.zip: the zip archive holds 2 files.*train\.csv, test\.csv"):
        load_csv(path)


def test_zip_takes_the_single_table_beside_a_readme(tmp_path):
    path = tmp_path / "one.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("README", "about")
        z.writestr("data.csv", TABLE)
    assert load_csv(path)["features"].shape == (4, 3)


def test_decompressed_size_is_bounded(tmp_path):
    path = tmp_path / "bomb.csv.gz"
    path.write_bytes(gzip.compress(b"1,2\n" * 300_000))  # 1.2 MB of text from a few kB
    with pytest.raises(InputError, match=r"bomb\.csv\.gz: decompresses to more than 1,000,000 bytes"):
        load_csv(path, max_bytes=1_000_000)
    assert load_csv(path, max_bytes=2_000_000)["features"].shape == (300_000, 2)


@pytest.mark.parametrize("kind", ["gz", "bz2", "xz", "zip"])
def test_corrupt_compressed_file_is_one_input_error(tmp_path, kind):
    good = tmp_path / f"good.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(good, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("t.csv", TABLE * 50)
    else:
        good.write_bytes({"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}[kind]((TABLE * 50).encode()))
    data = bytearray(good.read_bytes())
    bad = tmp_path / f"bad.{kind}"
    bad.write_bytes(bytes(data[: len(data) // 2]))  # truncated
    with pytest.raises(InputError, match=r"bad\." + kind):
        load_csv(bad)
    assert not [p for p in os.listdir(tmp_path) if p.startswith("tensortool-")]


def test_whitespace_delimited_is_sniffed_and_given(tmp_path):
    path = tmp_path / "ws.txt"
    path.write_text("w  x\ty z\n 1   2 3\t4\n5 6  7 8\n")
    b = load_csv(path, dtype="float64")
    assert b.meta["delimiter"] == " " and b.meta["columns"] == ["w", "x", "y", "z"]
    ref = np.loadtxt(path, skiprows=1)
    assert torch.equal(b["features"], torch.from_numpy(ref))
    assert torch.equal(load_csv(path, delimiter=" ", dtype="float64")["features"], torch.from_numpy(ref))


def test_whitespace_hint_when_not_detected(tmp_path):
    """A file whose lines differ in field count is not sniffed as whitespace; the hint says how."""
    path = tmp_path / "ragged.txt"
    path.write_text("a b\n1 2\n3 4 5\n")
    with pytest.raises(InputError, match=r"delimiter=' '"):
        load_csv(path)


def test_skip_rows_and_comment_count_in_line_numbers(tmp_path):
    path = tmp_path / "pre.csv"
    path.write_text("produced by a logger\nversion 3\na,b\n1,2\n# a note\n3,x\n")
    with pytest.raises(InputError, match=r"pre\.csv: line 6, column 'b': not a number: 'x'"):
        load_csv(path, skip_rows=2, comment="#")
    b = load_csv(path, skip_rows=2, comment="#", skip_bad=True)
    assert b["features"].tolist() == [[1.0, 2.0]]


def test_comment_lines_anywhere(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("# header note\na,b\n1,2\n  # indented note\n3,4\n")
    ref = np.genfromtxt(path, delimiter=",", comments="#", skip_header=2)
    assert torch.equal(load_csv(path, comment="#", dtype="float64")["features"], torch.from_numpy(ref))


def test_integer_labels_read_as_text_are_numbers(tmp_path):
    """A row --skip-bad leaves out made pyarrow read the target as text; the labels are still 0/1/2."""
    path = tmp_path / "t.csv"
    path.write_text("150,4,setosa,versicolor,virginica\n5.1,3.5,1.4,0.2,0\n4.9,3,1.4,0.2,1\n4.7,3.2,1.3,0.2,2\n")
    b = load_csv(path, target=4, skip_bad=True)
    assert b.meta["target_classes"] == [0, 1, 2]
    assert b["target"].tolist() == [0, 1, 2]
    assert b.meta["target_kind_reason"].startswith("auto: integer values")


@pytest.mark.parametrize("text, options", [("x,y\n", {}), ("# note\nx,y\n", {"comment": "#"}),
                                           ("junk\n,0.5n\n", {"skip_rows": 1})])
def test_header_only_file_is_an_input_error(tmp_path, text, options):
    """Found by fuzz/fuzz_csv_open.py: a header and no rows crashed the fast path (IndexError)."""
    path = tmp_path / "h.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=r"h\.csv: "):
        load_csv(path, **options)
