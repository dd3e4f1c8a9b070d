"""The DICOM tree export (load-dicom --each-series) resuming into a folder whose manifest.json is
crafted: one result or one error, names from the manifest never used as paths outside the folder,
and no file outside the folder, or in it but not recorded by the manifest, changed or removed."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from tests.dicom_writer import write_export_tree
from tests.fuzz import contract
from tests.fuzz.contract import FUZZ, SAMPLES, check, mutate, mutations
from tensortool import TensortoolError
from tensortool.cli.app import app
from tensortool.sharded.dataset import open_shards
from tensortool.sharded.manifest import MANIFEST_NAME
from tensortool.sources.dicom.export import ExportResult, convert_dicom_tree

runner = CliRunner()
pytestmark = [pytest.mark.filterwarnings("ignore"), pytest.mark.usefixtures("app_built_once")]



@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """The samples' CT series and a small export tree (two volumes, a localizer, a series that
    fails), exported once: (inputs, folder, its manifest)."""
    root = tmp_path_factory.mktemp("export")
    write_export_tree(root / "tree", series=2, depth=3, rows=8, cols=6)
    inputs = [str(SAMPLES / "dicom"), str(root / "tree")]
    convert_dicom_tree(inputs, root / "out", workers=1)
    return inputs, root / "out", json.loads((root / "out" / MANIFEST_NAME).read_text())


def guarded_copy(base: Path, clean_folder: Path) -> contract.Place:
    return contract.Place(base, clean_folder, {"data/CT_0001_x.safetensors": b"ct"})


def _record_of(path: Path, name: str, index: int) -> dict:
    data = path.read_bytes()
    return {"name": name, "index": index, "count": 1, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "skipped": [], "meta": {}}


NAMES = ["../next.safetensors", "../../above.safetensors", "../CT_0001_x.safetensors", "notes.safetensors",
         "manifest.json", ".", "..", "", "sub/x.safetensors", "x\0.safetensors", "/etc/passwd", "a\nb.safetensors"]
VALUES = [None, True, 0, -1, 1, 2, 3, 999, 2**63, 10**30, 1.5, float("nan"), float("inf"), "", "x", "{force}",
          "converted", "failed", "skipped", [], {}, [1, 2], [-1, 2], ["a\nb"], {"a": 1}, "a\nb", "\x1b[2J",
          [[[[[]]]]]] + NAMES
SERIES_KEYS = ["index", "series_uid", "modality", "series_number", "status", "file", "shape", "dtype", "spacing_mm",
               "files", "warnings", "error", "reason"]
ROOT_KEYS = ["series", "unreadable_files", "not_dicom_files", "warnings", "complete", "planned_shards", "count",
             "options", "shards", "kind"]
VALUE = st.sampled_from(VALUES).map(copy.deepcopy)  # a fresh copy: a drawn list or object is edited later
SPECIAL = [b"\x00", b"\xff", b"]", b"}", b'"', b",", b"NaN", b"-", b"1e999", b"../", b"[" * 40, b"9" * 30]


@st.composite
def hostile_manifest(draw, doc: dict, place: contract.Place) -> bytes:
    doc = copy.deepcopy(doc)
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["series", "series", "series", "entry", "root", "shard", "outside", "drop"]))
        series = doc.get("series") if isinstance(doc.get("series"), list) else None
        shards = doc.get("shards") if isinstance(doc.get("shards"), list) else None
        if action == "series" and series:
            entry = draw(st.sampled_from(series))
            if isinstance(entry, dict):
                key = draw(st.sampled_from(SERIES_KEYS))
                entry[key] = draw(st.sampled_from(NAMES) if key == "file" else VALUE)
        elif action == "entry" and series:  # a whole entry replaced, or one more
            at = draw(st.integers(0, len(series)))
            series[at:at + draw(st.integers(0, 1))] = [draw(VALUE)]
        elif action == "root":
            doc[draw(st.sampled_from(ROOT_KEYS))] = draw(VALUE)
        elif action == "shard" and shards and isinstance(shards[0], dict):
            record = draw(st.sampled_from(shards))
            if isinstance(record, dict):
                key = draw(st.sampled_from(["name", "index", "count", "bytes", "sha256", "meta", "skipped"]))
                record[key] = draw(st.sampled_from(NAMES) if key == "name" else VALUE)
        elif action == "outside" and shards:  # a record that matches a file outside the folder
            target = draw(st.sampled_from(sorted(p for p in place.guarded if p.parent != place.folder)))
            name = draw(st.sampled_from([str(target), "../" + target.name, "../../" + target.name]))
            at = draw(st.integers(0, len(shards) - 1))
            index = shards[at].get("index", 0) if isinstance(shards[at], dict) else 0
            shards[at] = _record_of(target, name, index)
            for entry in series or []:  # and its series entry naming it
                if isinstance(entry, dict) and entry.get("index") == index:
                    entry["file"] = name
        elif action == "drop" and shards:
            del shards[draw(st.integers(0, len(shards) - 1))]
    text = json.dumps(doc, indent=1).encode()
    if draw(st.integers(0, 3)) == 0:
        text = mutate(text, draw(st.lists(mutations(SPECIAL), min_size=1, max_size=3)))
    return text


@FUZZ
@given(data=st.data())
def test_fuzz_hostile_export_manifest(data, clean, tmp_path_factory):
    inputs, clean_folder, doc = clean
    place = guarded_copy(tmp_path_factory.mktemp("place"), clean_folder)
    (place.folder / MANIFEST_NAME).write_bytes(data.draw(hostile_manifest(doc, place)))
    result = check(lambda: convert_dicom_tree(inputs, place.folder, workers=1))
    place.untouched()
    if isinstance(result, ExportResult):
        assert sorted(e["status"] for e in result.series) == ["converted"] * 3 + ["failed", "skipped"]
        assert result.converted + result.resumed == 3
        for entry in result.series:
            if entry["status"] == "converted":
                assert "/" not in entry["file"] and (place.folder / entry["file"]).is_file()
                assert entry["shape"][:2] == [1, 1] and all(isinstance(w, str) for w in entry["warnings"])
                assert entry["modality"] in ("CT", "MR") and entry["series_number"] in (1, 2)
    done = runner.invoke(app, ["load-dicom", *inputs, "--each-series", "-o", str(place.folder), "--workers", "1"])
    assert done.exit_code == 1, done.output  # the tree's broken series fails, every time
    assert "internal error" not in done.output and "Traceback" not in done.output, done.output
    place.untouched()
    forced = check(lambda: convert_dicom_tree(inputs, place.folder, workers=1, force=True))
    place.untouched()
    if not isinstance(forced, TensortoolError):
        assert forced.resumed == 0 and forced.converted == 3
        assert len(open_shards(place.folder, verify=True)) == 3
