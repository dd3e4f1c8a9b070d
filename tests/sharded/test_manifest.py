"""read_manifest against manifests no writer of ours gives: each a one-line InputError naming the
file and the key, never another exception, and never a name that leads out of the folder."""

from __future__ import annotations

import json
import os

import pytest

from tensortool.errors import InputError
from tensortool.sharded.manifest import MANIFEST_NAME, changed_options, read_manifest


def _doc(**shard) -> dict:
    record = {"name": "s-0.safetensors", "index": 0, "count": 1, "bytes": 10, "sha256": "0" * 64, **shard}
    return {"format": "tensortool-shards/1", "kind": "test", "complete": True, "options": {}, "shards": [record]}


@pytest.mark.parametrize("shard, key, message", [
    ({"name": "../outside.safetensors"}, "shards[0].name", "not a plain .safetensors file name in the folder"),
    ({"name": "/etc/passwd"}, "shards[0].name", "not a plain"),
    ({"name": "sub\\x.safetensors"}, "shards[0].name", "not a plain"),
    ({"name": "manifest.json"}, "shards[0].name", "not a plain"),
    ({"name": "."}, "shards[0].name", "not a plain"),
    ({"name": ".s-0.safetensors.123.abcdefgh.tmp"}, "shards[0].name", "not a plain"),
    ({"name": "x\0.safetensors"}, "shards[0].name", "not a plain"),
    ({"name": "x" * 300 + ".safetensors"}, "shards[0].name", "not a plain"),
    ({"name": 7}, "shards[0].name", "not a plain"),
    ({"index": float("inf")}, "shards[0].index", "not a whole number"),  # int(inf) was an OverflowError
    ({"count": -5}, "shards[0].count", "not a whole number"),  # len() of the dataset was a ValueError
    ({"count": 2**63}, "shards[0].count", "not a whole number"),
    ({"bytes": 1.5}, "shards[0].bytes", "not a whole number"),
    ({"sha256": None}, "shards[0].sha256", "not a string"),
    ({"skipped": [1, 2]}, "shards[0].skipped", "not a list of"),  # the CLI printed item['file']
    ({"meta": [1]}, "shards[0].meta", "not a JSON object"),
])
def test_a_crafted_record_is_one_error_naming_its_key(tmp_path, shard, key, message):
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(_doc(**shard)))
    with pytest.raises(InputError, match=message) as info:
        read_manifest(tmp_path)
    assert info.value.key == key and info.value.path == str(tmp_path / MANIFEST_NAME)
    assert "\n" not in str(info.value) and len(str(info.value)) < 300


def test_duplicate_names_and_a_total_past_len_are_refused(tmp_path):
    doc = _doc()
    doc["shards"].append(dict(doc["shards"][0], index=1))
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(doc))
    with pytest.raises(InputError, match='the shard "s-0.safetensors" is listed twice'):
        read_manifest(tmp_path)
    doc["shards"][1].update(name="s-1.safetensors")
    doc["shards"][0]["count"] = doc["shards"][1]["count"] = 2**62
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(doc))
    with pytest.raises(InputError, match="add up to more than 2\\*\\*63-1"):
        read_manifest(tmp_path)


def test_wrong_types_at_the_top_are_refused(tmp_path):
    for key, value in (("kind", ["a"]), ("options", [["a", 1]]), ("shards", {"a": 1}), ("complete", "false"),
                       ("planned_shards", -1)):
        doc = _doc()
        doc[key] = value
        (tmp_path / MANIFEST_NAME).write_text(json.dumps(doc))
        with pytest.raises(InputError, match="damaged shard manifest"):
            read_manifest(tmp_path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_under_the_manifest_name_is_refused_without_waiting(tmp_path):
    os.mkfifo(tmp_path / MANIFEST_NAME)  # opening it for reading would wait for a writer forever
    with pytest.raises(InputError, match="not a regular file"):
        read_manifest(tmp_path)


def test_option_changes_are_shown_on_one_line():
    changes = changed_options({"a\nb": "x\ny", "kind": "{force}" * 50}, {"kind": 1})
    assert all("\n" not in c and "{" not in c and len(c) < 300 for c in changes), changes
