"""Shard folders under the hostile-input contract: a folder whose manifest.json (or a shard file) is
crafted, read by read_manifest, open_shards, shards_summary and `tensortool info DIR`, and written
into again (resume, and force) by ShardFolder and write_image_shards. Besides one result or one
error, every call must leave alone any file outside the folder, and any file in it that the
manifest did not itself record."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from tests.fuzz import contract
from tests.fuzz.contract import FUZZ, check, mutate, mutations
from tests.sharded.helpers import make_tree
from tensortool import InputError
from tensortool.cli.app import app
from tensortool.sharded.dataset import ShardDataset, open_shards, shards_summary
from tensortool.sharded.manifest import MANIFEST_NAME, read_manifest
from tensortool.sharded.writer import ShardFolder
from tensortool.sources.image.shards import write_image_shards

OPTIONS = dict(dtype="uint8", images_per_shard=2)
runner = CliRunner()
pytestmark = pytest.mark.usefixtures("app_built_once")



@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """A finished folder of three shards (six 6x5 images of two classes), its tree and manifest."""
    root = tmp_path_factory.mktemp("clean")
    tree = make_tree(root / "tree", per_class=3, classes=("ant", "bee"), size=(6, 5))
    write_image_shards(tree, root / "out", **OPTIONS)
    return tree, root / "out", json.loads((root / "out" / MANIFEST_NAME).read_text())


def guarded_copy(base: Path, clean_folder: Path) -> contract.Place:
    return contract.Place(base, clean_folder, {"data/next.txt": b"next"})


def _record_of(path: Path, name: str) -> dict:
    data = path.read_bytes()
    return {"name": name, "index": 0, "count": 1, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


# Values a crafted manifest puts in any field. The names reach files outside the folder, or in it.
NAMES = ["../next.safetensors", "../../above.safetensors", "../next.txt", "notes.safetensors", "manifest.json", ".",
         "..", "", "/", "sub/x.safetensors", "x\0.safetensors", "x" * 300 + ".safetensors", ".hidden.safetensors",
         "shard-00000.safetensors", "shard-00009.safetensors", "C:\\x.safetensors", "a\nb.safetensors"]
VALUES = [None, True, False, 0, -1, 1, 2, 3, 2**31, 2**63, 2**64, 10**30, 1.5, float("nan"), float("inf"),
          -float("inf"), "", "1", "x", "{force}", [], {}, [1, 2], {"a": 1}, "a\nb", [[[[[]]]]]] + NAMES
ROOT_KEYS = ["format", "kind", "complete", "count", "planned_shards", "bytes", "options", "skipped", "shards",
             "class_names", "shape", "sample_shape", "tensortool_version", "missing"]
SHARD_KEYS = ["name", "index", "count", "bytes", "sha256", "skipped", "meta"]
VALUE = st.sampled_from(VALUES).map(copy.deepcopy)  # a fresh copy: a drawn list or object is edited later
SPECIAL = [b"\x00", b"\xff", b"]", b"}", b'"', b",", b"NaN", b"-", b"1e999", b"../", b"[" * 40, b"\\u0000", b"9" * 30]


@st.composite
def hostile_manifest(draw, clean_doc: dict, place: contract.Place) -> bytes:
    doc = copy.deepcopy(clean_doc)
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["root", "shard", "shard", "name", "outside", "duplicate", "drop", "options"]))
        shards = doc.get("shards") if isinstance(doc.get("shards"), list) else None
        if action == "root":
            doc[draw(st.sampled_from(ROOT_KEYS))] = draw(VALUE)
        elif action == "options" and isinstance(doc.get("options"), dict):
            doc["options"][draw(st.sampled_from(sorted(doc["options"]) + ["x"]))] = draw(VALUE)
        elif not shards:
            continue
        elif action in ("shard", "name"):
            record = draw(st.sampled_from(shards))
            if isinstance(record, dict):
                key = "name" if action == "name" else draw(st.sampled_from(SHARD_KEYS))
                record[key] = draw(st.sampled_from(NAMES) if key == "name" else VALUE)
        elif action == "outside":  # a record that matches a file outside the folder: "intact" by size and hash
            target = draw(st.sampled_from(sorted(p for p in place.guarded if p.parent != place.folder)))
            name = draw(st.sampled_from([str(target), "../" * (len(target.relative_to(place.base).parts) - 1)
                                         + str(target.relative_to(place.base)), target.name]))
            shards[draw(st.integers(0, len(shards) - 1))] = _record_of(target, name)
        elif action == "duplicate":
            shards.append(copy.deepcopy(draw(st.sampled_from(shards))))
        else:
            del shards[draw(st.integers(0, len(shards) - 1))]
    text = json.dumps(doc, indent=1).encode()
    if draw(st.integers(0, 3)) == 0:
        text = mutate(text, draw(st.lists(mutations(SPECIAL), min_size=1, max_size=3)))
    return text


def _read_all(folder: Path, verify: bool) -> object:
    ds = open_shards(folder, verify=verify, partial=True)
    assert isinstance(ds, ShardDataset)
    for i in sorted({0, len(ds) // 2, len(ds) - 1}) if len(ds) else ():
        ds[i]
    return ds


def _readers(place: contract.Place) -> None:
    for call in (lambda: read_manifest(place.folder), lambda: shards_summary(place.folder),
                 lambda: _read_all(place.folder, False), lambda: _read_all(place.folder, True)):
        result = check(call)
        if isinstance(result, InputError):
            assert str(place.folder) in str(result), result
    done = runner.invoke(app, ["info", str(place.folder)])
    assert done.exit_code in (0, 1), done.output
    assert "internal error" not in done.output and "Traceback" not in done.output, done.output
    if done.exit_code == 1:
        assert done.output.count("error:") == 1, done.output
    place.untouched()


def _writers(place: contract.Place, tree: Path, clean_folder: Path) -> None:
    for call in (lambda: ShardFolder(place.folder, kind="images", options=read_manifest(clean_folder).options),
                 lambda: write_image_shards(tree, place.folder, **OPTIONS),
                 lambda: write_image_shards(tree, place.folder, force=True, **OPTIONS)):
        result = check(call)
        place.untouched()
        if not isinstance(result, Exception):
            check(lambda: _read_all(place.folder, True))


@FUZZ
@given(data=st.data())
def test_fuzz_hostile_manifest(data, clean, tmp_path_factory):
    tree, clean_folder, clean_doc = clean
    place = guarded_copy(tmp_path_factory.mktemp("place"), clean_folder)
    place.write_manifest(data.draw(hostile_manifest(clean_doc, place)))
    _readers(place)
    _writers(place, tree, clean_folder)
    # A run with force that succeeds leaves exactly the shards of this run and the files it did not write.
    if isinstance(check(lambda: write_image_shards(tree, place.folder, force=True, **OPTIONS)), Exception):
        return
    names = sorted(p.name for p in place.folder.iterdir())
    assert names == sorted([MANIFEST_NAME, "notes.safetensors"] + [r["name"] for r in clean_doc["shards"]]), names
    assert len(open_shards(place.folder, verify=True)) == 6


@FUZZ
@given(which=st.integers(0, 2), steps=st.lists(mutations(SPECIAL + [b"F32", b"U8", b"I64", b'"shape":[]', b"[0]"]),
                                               min_size=1, max_size=4), head=st.booleans())
def test_fuzz_hostile_shard_file(which, steps, head, clean, tmp_path_factory):
    """A shard file crafted, and recorded in the manifest by its new size and hash (so that it is
    'intact'): reading it, and resuming into the folder."""
    tree, clean_folder, clean_doc = clean
    place = guarded_copy(tmp_path_factory.mktemp("place"), clean_folder)
    doc = copy.deepcopy(clean_doc)
    record = doc["shards"][which]
    path = place.folder / record["name"]
    blob = path.read_bytes()
    size = 8 + int.from_bytes(blob[:8], "little")
    blob = mutate(blob[:size], steps) + blob[size:] if head else mutate(blob, steps)  # header edits half the time
    path.write_bytes(blob)
    record["bytes"], record["sha256"] = len(blob), hashlib.sha256(blob).hexdigest()
    place.write_manifest(json.dumps(doc).encode())
    _readers(place)
    result = check(lambda: write_image_shards(tree, place.folder, **OPTIONS))
    place.untouched()
    assert not isinstance(result, Exception), result  # the crafted shard is kept, as its manifest says
