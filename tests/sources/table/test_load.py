"""load_csv against pandas + scikit-learn (independent references)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler

from tests.conftest import SAMPLES
from tensortool import InputError, OptionError, load_csv, read_state, write_state

WINE = SAMPLES / "tables" / "winequality-sample.csv"
BIKE = SAMPLES / "tables" / "bike-hourly.csv"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def people(tmp_path: Path, rows: int = 40, seed: int = 0, name: str = "people.csv", countries=("FR", "NA", "DE")) -> Path:
    """A table with numeric, text and integer class columns ('NA' is Namibia's code)."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"age": rng.integers(18, 90, rows), "height": rng.normal(170, 10, rows).round(2),
                       "country": rng.choice(countries, rows), "label": rng.integers(1, 4, rows)})
    df.to_csv(tmp_path / name, index=False)
    return tmp_path / name


def test_wine_shape_semicolon_header():
    b = load_csv(WINE, target="quality")
    ref = pd.read_csv(WINE, sep=";")
    assert b.meta["delimiter"] == ";" and b.meta["header"] is True
    assert b["features"].shape == (len(ref), 11) and b["features"].dtype == torch.float32
    assert b.meta["columns"] == list(ref.columns[:-1])
    assert torch.equal(b["features"], torch.from_numpy(ref.drop(columns="quality").to_numpy(np.float32)))
    classes = sorted(ref["quality"].unique())
    assert b.meta["target_classes"] == classes and b.meta["target_kind"] == "class"
    assert b["target"].tolist() == [classes.index(q) for q in ref["quality"]]


def test_target_one_hot_matches_sklearn():
    b = load_csv(WINE, target="quality", one_hot=True)
    ref = OneHotEncoder(sparse_output=False).fit_transform(pd.read_csv(WINE, sep=";")[["quality"]])
    assert torch.equal(b["target_onehot"], torch.from_numpy(ref.astype(np.float32)))


@pytest.mark.parametrize("unbiased", [False, True])
def test_zscore_matches_standard_scaler(unbiased):
    b = load_csv(WINE, target="quality", normalize="zscore", unbiased=unbiased, dtype="float64")
    x = pd.read_csv(WINE, sep=";").drop(columns="quality").to_numpy(np.float64)
    if unbiased:  # StandardScaler has ddof=0 only; the ddof=1 reference is pandas' std
        ref = (x - x.mean(0)) / pd.DataFrame(x).std(ddof=1).to_numpy()
    else:
        ref = StandardScaler().fit_transform(x)
    np.testing.assert_allclose(b["features"].numpy(), ref, rtol=1e-10, atol=1e-12)
    assert b.meta["normalize"]["ddof"] == (1 if unbiased else 0)


def test_minmax_matches_sklearn_float32():
    b = load_csv(WINE, drop=["quality"], normalize="minmax")
    x = pd.read_csv(WINE, sep=";").drop(columns="quality").to_numpy(np.float64)
    np.testing.assert_allclose(b["features"].numpy(), MinMaxScaler().fit_transform(x), atol=1e-6)


def test_categorical_one_hot_matches_sklearn_and_na_is_a_value(tmp_path):
    path = people(tmp_path)
    b = load_csv(path, target="label", categorical=["country"])
    ref = pd.read_csv(path, keep_default_na=False)  # "NA" (Namibia) is a country, not a missing value
    enc = OneHotEncoder(sparse_output=False).fit(ref[["country"]])
    expected = np.hstack([ref[["age", "height"]].to_numpy(np.float64), enc.transform(ref[["country"]])])
    assert b.meta["columns"] == ["age", "height"] + [f"country={c}" for c in enc.categories_[0]]
    assert "country=NA" in b.meta["columns"]
    assert torch.equal(b["features"], torch.from_numpy(expected.astype(np.float32)))
    assert torch.equal(load_csv(path, target="label", categorical=["auto"])["features"], b["features"])


def test_text_column_without_categorical_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match=r"column 'country' is not numeric \(e.g. '(FR|NA|DE)'\).*categorical='country'"):
        load_csv(people(tmp_path), target="label")


def test_one_based_labels_become_indices_and_num_classes_keeps_them(tmp_path):
    path = people(tmp_path)
    labels = pd.read_csv(path)["label"].to_numpy()
    b = load_csv(path, target="label", drop=["country"], one_hot=True)
    assert b.meta["target_classes"] == [1, 2, 3] and b["target"].tolist() == (labels - 1).tolist()
    kept = load_csv(path, target="label", drop=["country"], num_classes=4, one_hot=True)
    tutorial = torch.zeros(len(labels), 4).scatter_(1, torch.from_numpy(labels.copy()).unsqueeze(1), 1.0)
    assert kept["target"].tolist() == labels.tolist() and torch.equal(kept["target_onehot"], tutorial)
    first_three = int(np.flatnonzero(labels == 3)[0]) + 2  # 1-based, after the header
    with pytest.raises(InputError, match=rf"line {first_three}: label 3 in 'label' is outside 0..2"):
        load_csv(path, target="label", drop=["country"], num_classes=3)


def test_target_kind_auto_and_given(tmp_path):
    b = load_csv(BIKE, target="cnt", drop=["timestamp"])
    assert b.meta["target_kind"] == "regression" and b["target"].dtype == torch.float32
    assert "distinct integer values" in b.meta["target_kind_reason"]
    forced = load_csv(BIKE, target="weathersit", drop=["timestamp"], target_kind="regression")
    assert forced.meta["target_kind"] == "regression"
    assert torch.equal(forced["target"], torch.from_numpy(pd.read_csv(BIKE)["weathersit"].to_numpy(np.float32)))


def test_bom_header(tmp_path):
    path = write(tmp_path / "bom.csv", "\ufeffa,b\n1,2\n3,4\n")
    b = load_csv(path)
    ref = pd.read_csv(path, encoding="utf-8-sig")
    assert b.meta["columns"] == list(ref.columns) == ["a", "b"]
    assert torch.equal(b["features"], torch.from_numpy(ref.to_numpy(np.float32)))


def test_latin1_and_sniffing(tmp_path):
    path = write(tmp_path / "l.tsv", "größe\twert\n1.5\t2\n3\t4\n", "latin-1")
    b = load_csv(path, encoding="latin-1")
    assert b.meta["delimiter"] == "\t" and b.meta["columns"] == ["größe", "wert"]
    with pytest.raises(InputError, match="not valid utf-8"):
        load_csv(path)
    piped = write(tmp_path / "p.txt", "1|2|3\n4|5|6\n")
    b = load_csv(piped)
    assert b.meta["header"] is False and b["features"].tolist() == [[1, 2, 3], [4, 5, 6]]
    assert load_csv(piped, header=True).meta["columns"] == ["1", "2", "3"]


def test_missing_default_error_names_line_column_text(tmp_path):
    path = write(tmp_path / "m.csv", "a,b\n1,2\n3,\n5,6\n")
    with pytest.raises(InputError, match=r"line 3, column 'b': missing value: ''"):
        load_csv(path)
    na = write(tmp_path / "na.csv", "a,b\n1,2\n3,4\n5,NA\n")
    with pytest.raises(InputError, match=r"line 4, column .b.: not a number: .NA. \(if .NA. means missing, add na=.NA."):
        load_csv(na)  # "NA" is not missing unless --na says so
    with pytest.raises(InputError, match=r"line 4, column 'b': missing value: 'NA'"):
        load_csv(na, na=["NA"])


@pytest.mark.parametrize("policy", ["mean", "median", "zero", "drop"])
def test_missing_policies_match_pandas(tmp_path, policy):
    rng = np.random.default_rng(3)
    x = rng.normal(5, 2, (30, 3)).round(3)
    text = "a,b,c\n" + "\n".join(",".join("NA" if (i * 3 + j) % 11 == 4 else str(v) for j, v in enumerate(row))
                                 for i, row in enumerate(x)) + "\n"
    path = write(tmp_path / "m.csv", text)
    b = load_csv(path, na=["NA"], missing=policy, normalize="zscore", dtype="float64")
    df = pd.read_csv(path, na_values=["NA"], keep_default_na=False)
    scaler = StandardScaler().fit(df.to_numpy())  # scikit-learn ignores NaN when fitting: so do we
    if policy == "drop":
        ref = StandardScaler().fit_transform(df.dropna().to_numpy())
    else:
        fill = {"mean": df.mean(), "median": df.median(), "zero": 0.0}[policy]
        ref = scaler.transform(df.fillna(fill).to_numpy())
    np.testing.assert_allclose(b["features"].numpy(), ref, rtol=1e-10, atol=1e-12)
    assert b.meta["missing"]["cells"] == int(df.isna().sum().sum())


def test_ragged_rows(tmp_path):
    path = write(tmp_path / "r.csv", "a,b,c\n1,2,3\n4,5\n6,7,8\n9,10,11,12\n13,14,15\n")
    with pytest.raises(InputError, match=r"line 3: expected 3 fields, found 2: '4,5'"):
        load_csv(path)
    b = load_csv(path, skip_bad=True)
    ref = pd.read_csv(path, on_bad_lines="skip").dropna()  # pandas skips long rows and pads short ones with NaN
    assert torch.equal(b["features"], torch.from_numpy(ref.to_numpy(np.float32)))
    assert b.meta["skipped_rows"] == 2


def test_unparsable_number_skip_bad(tmp_path):
    path = write(tmp_path / "u.csv", "a,b\n" + "".join(f"{i},{i * 2}\n" for i in range(10)) + "7,x7\n")
    with pytest.raises(InputError, match=r"line 12, column 'b': not a number: 'x7'"):
        load_csv(path)
    b = load_csv(path, skip_bad=True)
    assert b["features"].shape == (10, 2) and b.meta["skipped_rows"] == 1


def test_columns_drop_and_index_selection():
    ref = pd.read_csv(WINE, sep=";")
    b = load_csv(WINE, columns=["alcohol", "0"], target=-1)
    assert b.meta["columns"] == ["alcohol", "fixed acidity"] and b.meta["target"] == "quality"
    assert torch.equal(b["features"], torch.from_numpy(ref[["alcohol", "fixed acidity"]].to_numpy(np.float32)))
    dropped = load_csv(WINE, drop=["quality", "1", "pH"])
    assert dropped.meta["columns"] == [c for c in ref.columns if c not in ("quality", "volatile acidity", "pH")]
    with pytest.raises(OptionError, match="no such column"):
        load_csv(WINE, target="nope")


def test_saved_state_applies_training_statistics_and_categories(tmp_path):
    train, test = people(tmp_path, seed=1, name="train.csv"), people(tmp_path, rows=15, seed=2, name="test.csv")
    fitted = load_csv(train, target="label", categorical=["country"], normalize="zscore", dtype="float64")
    write_state(fitted.meta["state"], tmp_path / "state.json")
    applied = load_csv(test, state=tmp_path / "state.json")
    tr, te = pd.read_csv(train, keep_default_na=False), pd.read_csv(test, keep_default_na=False)
    scaler = StandardScaler().fit(tr[["age", "height"]])
    enc = OneHotEncoder(sparse_output=False).fit(tr[["country"]])
    expected = np.hstack([scaler.transform(te[["age", "height"]]), enc.transform(te[["country"]])])
    np.testing.assert_allclose(applied["features"].numpy(), expected, rtol=1e-10, atol=1e-12)
    assert applied.meta["columns"] == fitted.meta["columns"]
    assert read_state(tmp_path / "state.json")["features"][2]["categories"] == ["DE", "FR", "NA"]


def test_unseen_category_error_or_zero_row(tmp_path):
    train = people(tmp_path, seed=1, name="train.csv", countries=("FR", "DE"))
    test = write(tmp_path / "test.csv", "age,height,country,label\n30,170,FR,1\n40,180,IT,2\n")
    state = load_csv(train, target="label", categorical=["country"]).meta["state"]
    with pytest.raises(InputError, match=r"line 3, column 'country': category 'IT' was not seen"):
        load_csv(test, state=state)
    b = load_csv(test, state=state, unknown="ignore")
    assert b["features"][:, 2:].tolist() == [[0.0, 1.0], [0.0, 0.0]]
    with pytest.raises(OptionError, match="state fixes"):
        load_csv(test, state=state, normalize="zscore")


def test_bike_reshape_by_day():
    b = load_csv(BIKE, target="cnt", time_col="timestamp", period=24)
    df = pd.read_csv(BIKE)
    x = df.drop(columns=["timestamp", "cnt"]).to_numpy(np.float32)
    days = len(df) // 24
    assert b["features"].shape == (days, x.shape[1], 24) and b.meta["layout"] == "nct"
    assert torch.equal(b["features"], torch.from_numpy(x.reshape(days, 24, -1).transpose(0, 2, 1).copy()))
    assert torch.equal(b["target"], torch.from_numpy(df["cnt"].to_numpy(np.float32).reshape(days, 24)))
    npf = load_csv(BIKE, target="cnt", drop=["timestamp"], period=24, layout="npf")
    assert torch.equal(npf["features"], torch.from_numpy(x.reshape(days, 24, -1))) and npf.meta["layout"] == "ntc"


def test_period_gaps_and_padding(tmp_path):
    df = pd.read_csv(BIKE).drop(index=[5, 30]).iloc[:47]  # two missing hours, then a short tail
    path = tmp_path / "gaps.csv"
    df.to_csv(path, index=False)
    with pytest.raises(InputError, match="missing step"):
        load_csv(path, target="cnt", time_col="timestamp", period=24)
    with pytest.raises(InputError, match="do not divide into periods of 24"):
        load_csv(path, target="cnt", drop=["timestamp"], period=24)
    b = load_csv(path, target="cnt", time_col="timestamp", period=24, pad=True)
    hours = ((pd.to_datetime(df["timestamp"]) - pd.Timestamp("2011-01-01")).dt.total_seconds() // 3600).astype(int)
    grid = np.zeros((72, 9), np.float32)  # up to hour 48 → 3 days
    grid[hours] = df.drop(columns=["timestamp", "cnt"]).to_numpy(np.float32)
    assert torch.equal(b["features"], torch.from_numpy(grid.reshape(3, 24, 9).transpose(0, 2, 1).copy()))
    mask = np.zeros(72, bool)
    mask[hours] = True
    assert b["mask"].tolist() == mask.reshape(3, 24).tolist() and b.meta["padded_rows"] == 72 - len(df)


def test_padded_class_targets_are_ignore_index(tmp_path):
    path = write(tmp_path / "c.csv", "x,y\n" + "".join(f"{i},{i % 2}\n" for i in range(5)))
    b = load_csv(path, target="y", period=3, pad=True)
    assert b["target"].tolist() == [[0, 1, 0], [1, 0, -100]]


def test_quoted_fields_with_delimiters_and_newlines(tmp_path):
    path = write(tmp_path / "q.csv", 'id,note,y\n1,"a, b",0\n2,"two\nlines",1\n3,plain,0\n')
    b = load_csv(path, target="y", categorical=["note"])
    ref = pd.read_csv(path)
    enc = OneHotEncoder(sparse_output=False).fit(ref[["note"]])
    assert b.meta["columns"] == ["id"] + [f"note={c}" for c in enc.categories_[0]]
    assert torch.equal(b["features"][:, 1:], torch.from_numpy(enc.transform(ref[["note"]]).astype(np.float32)))
    assert load_csv(path, target="y", categorical=["note"], skip_bad=True).meta["skipped_rows"] == 0
    ragged = write(tmp_path / "r.csv", 'id,note,y\n1,"two\nlines",0\n2,x\n')
    with pytest.raises(InputError, match="line 4: expected 3 fields, found 2"):
        load_csv(ragged, target="y", categorical=["note"])


def test_state_with_another_dtype_and_target_check(tmp_path):
    fitted = load_csv(WINE, target="quality", normalize="zscore")
    again = load_csv(WINE, state=fitted.meta["state"], dtype="float64", target="quality")
    assert again["features"].dtype == torch.float64
    assert torch.allclose(again["features"].float(), fitted["features"], atol=1e-6)
    with pytest.raises(OptionError, match="the state's target is 'quality'"):
        load_csv(WINE, state=fitted.meta["state"], target="alcohol")
