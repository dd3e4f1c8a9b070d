"""`tensortool stats` and `stats merge` through CliRunner."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from tests.conftest import PHOTOS
from tensortool import dataset_stats
from tensortool.cli.app import app

runner = CliRunner()


def test_summary_and_normalize_line():
    result = runner.invoke(app, ["stats", str(PHOTOS)])
    assert result.exit_code == 0
    assert "transforms.Normalize(mean=[" in result.stdout and "ddof=0" in result.stdout


def test_output_json_and_merge(tmp_path):
    for i in range(2):
        assert runner.invoke(app, ["stats", str(PHOTOS), "--shard", f"{i}/2", "-o", str(tmp_path / f"{i}.json")]).exit_code == 0
    result = runner.invoke(app, ["stats", "merge", str(tmp_path / "0.json"), str(tmp_path / "1.json"),
                                 "-o", str(tmp_path / "all.json"), "--json"])
    assert result.exit_code == 0
    merged = json.loads((tmp_path / "all.json").read_text())
    assert merged["mean"] == dataset_stats(PHOTOS).to_json()["mean"] and json.loads(result.stdout)["count"] == 9


def test_options_reach_the_library():
    doc = json.loads(runner.invoke(app, ["stats", str(PHOTOS), "--raw", "--unbiased", "--mode", "gray",
                                         "--resize", "20", "--center-crop", "16", "--json"]).stdout)
    ref = dataset_stats(PHOTOS, raw=True, mode="gray", resize=[20], center_crop=[16, 16]).to_json(unbiased=True)
    assert doc["std"] == ref["std"] and doc["scale"] == "raw" and doc["ddof"] == 1


def test_errors_exit_1(tmp_path):
    result = runner.invoke(app, ["stats", str(PHOTOS), "-o", str(tmp_path / "s.pt")])
    assert result.exit_code == 1 and "JSON" in result.stderr
    (tmp_path / "s.json").write_text("{}")
    result = runner.invoke(app, ["stats", str(PHOTOS), "-o", str(tmp_path / "s.json")])
    assert result.exit_code == 1 and "already exists" in result.stderr
    result = runner.invoke(app, ["stats", "merge", str(tmp_path / "s.json"), str(tmp_path / "s.json")])
    assert result.exit_code == 1 and "s.json" in result.stderr


def test_merge_is_a_sub_command_listed_in_the_help():
    result = runner.invoke(app, ["stats", "--help"])
    assert result.exit_code == 0
    assert "merge" in result.stdout.split("Commands:")[1] and "--shard" in result.stdout
    result = runner.invoke(app, ["stats", "merge", "--help"])
    assert result.exit_code == 0 and "Usage: " in result.stdout and "stats merge [OPTIONS]" in result.stdout
    assert "--shard" not in result.stdout


def test_options_before_the_paths_and_the_usage_line():
    doc = json.loads(runner.invoke(app, ["stats", "--mode", "gray", "--json", str(PHOTOS)]).stdout)
    assert doc["options"]["mode"] == "gray" and len(doc["mean"]) == 1
    result = runner.invoke(app, ["stats", str(PHOTOS), "--shard", "x"])
    assert result.exit_code == 2 and "Usage: " in result.output and "stats [OPTIONS]" in result.output


def test_merge_writes_what_the_library_writes(tmp_path):
    from tensortool import merge_stats, write_stats

    for i in range(2):
        write_stats(dataset_stats(PHOTOS, shard=(i, 2)), tmp_path / f"{i}.json")
    parts = [str(tmp_path / "0.json"), str(tmp_path / "1.json")]
    result = runner.invoke(app, ["stats", "merge", *parts, "--unbiased", "-o", str(tmp_path / "cli.json")])
    assert result.exit_code == 0, result.output
    write_stats(merge_stats(parts), tmp_path / "lib.json", unbiased=True)
    cli, lib = (json.loads((tmp_path / n).read_text()) for n in ("cli.json", "lib.json"))
    assert cli == lib and cli["ddof"] == 1
    result = runner.invoke(app, ["stats", "merge", *parts, "-o", parts[0], "--force"])
    assert result.exit_code == 1 and "one of the inputs" in result.stderr
