"""convert_dicom_tree and load-dicom --each-series, against SimpleITK and pydicom reads of the same
files, the writer's own record, hashlib for the names, and a clean run for resume."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
from safetensors.numpy import load_file
from typer.testing import CliRunner

from tests.dicom_writer import write_export_tree
from tensortool import OptionError, TensortoolError, UsageError
from tensortool.cli.app import app
from tensortool.sources.dicom.export import convert_dicom_tree

ROOT = Path(__file__).resolve().parents[3]
runner = CliRunner()


def cli(*args: object):
    return runner.invoke(app, ["load-dicom", *map(str, args)])


@pytest.fixture
def tree(tmp_path: Path):
    return tmp_path / "tree", write_export_tree(tmp_path / "tree", series=3)


def sitk_volume(files: list[Path], uid: str) -> sitk.Image:
    """GDCM's order of the series' files (the localizer sharing the UID left out)."""
    reader = sitk.ImageSeriesReader()
    wanted = {str(f) for f in files}
    reader.SetFileNames([f for f in reader.GetGDCMSeriesFileNames(str(files[0].parent), uid) if f in wanted])
    reader.SetOutputPixelType(sitk.sitkFloat32)
    return reader.Execute()


def pydicom_volume(files: list[Path]) -> np.ndarray:
    """Rescaled slices in ascending z, in float64, read by pydicom alone."""
    slices = sorted((pydicom.dcmread(f) for f in files), key=lambda ds: float(ds.ImagePositionPatient[2]))
    return np.stack([ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept) for ds in slices])


def test_each_volume_matches_simpleitk_and_pydicom(tree, tmp_path):
    root, written = tree
    result = convert_dicom_tree(root, tmp_path / "out", engine="threads", workers=2)
    converted = [e for e in result.series if e["status"] == "converted"]
    assert {e["series_uid"] for e in converted} == set(written.good)
    for entry in converted:
        w = written.good[entry["series_uid"]]
        volume = load_file(tmp_path / "out" / entry["file"])["volume"][0, 0]
        ref = sitk_volume(w.files, entry["series_uid"])
        np.testing.assert_array_equal(volume, sitk.GetArrayFromImage(ref))
        np.testing.assert_array_equal(volume, pydicom_volume(w.files).astype(np.float32))
        assert entry["spacing_mm"] == pytest.approx(ref.GetSpacing()[::-1])
        assert entry["shape"] == [1, 1, *w.stored.shape] and entry["files"] == len(w.files)
        uid_hash = hashlib.sha256(entry["series_uid"].encode()).hexdigest()[:10]
        modality = pydicom.dcmread(w.files[0]).Modality
        assert entry["file"] == f"{modality}_{entry['series_number']:04d}_{uid_hash}.safetensors"
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["series"] == result.series and manifest["options"]["name_template"]
    assert manifest["tensortool_version"]


def test_localizer_skipped_and_broken_series_recorded(tree, tmp_path):
    root, written = tree
    result = convert_dicom_tree(root, tmp_path / "out", workers=1)
    skipped = [e for e in result.series if e["status"] == "skipped"]
    assert len(skipped) == 1 and "LOCALIZER" in skipped[0]["reason"]
    assert [e["series_uid"] for e in result.failed] == [written.broken.series_uid]
    assert "share a position" in result.failed[0]["error"] and not result.ok
    assert result.converted == 3
    on_disk = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert on_disk == sorted([e["file"] for e in result.series if e["status"] == "converted"] + ["manifest.json"])


def test_names_hold_no_patient_identifiers(tree, tmp_path):
    root, written = tree
    result = convert_dicom_tree(root, tmp_path / "out", workers=1)
    ds = pydicom.dcmread(next(iter(written.good.values())).files[0])
    for entry in result.series:
        if entry.get("file"):
            for value in (str(ds.PatientName), ds.PatientID, ds.StudyInstanceUID, entry["series_uid"]):
                assert value not in entry["file"]


def test_name_template(tree, tmp_path):
    root, _ = tree
    result = convert_dicom_tree(root, tmp_path / "a", name_template="{index:03d}-{modality}.safetensors", workers=1)
    assert sorted(e["file"] for e in result.series if e.get("file")) == ["000-CT.safetensors", "002-MR.safetensors",
                                                                        "003-CT.safetensors"]
    with pytest.raises(OptionError, match="same file name"):
        convert_dicom_tree(root, tmp_path / "b", name_template="{modality}.safetensors")
    for bad in ("{PatientName}.safetensors", "x/{uid_hash}.safetensors", "{uid_hash}.pt", "{uid_hash"):
        with pytest.raises(UsageError):
            convert_dicom_tree(root, tmp_path / "c", name_template=bad)
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


def test_threads_and_processes_write_the_same_bytes(tree, tmp_path):
    root, _ = tree
    convert_dicom_tree(root, tmp_path / "t", engine="threads", workers=2)
    convert_dicom_tree(root, tmp_path / "p", engine="processes", workers=2)
    convert_dicom_tree(root, tmp_path / "s", workers=1)
    assert folder_bytes(tmp_path / "t") == folder_bytes(tmp_path / "p") == folder_bytes(tmp_path / "s")


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_rerun_keeps_intact_files_and_rewrites_damaged_ones(tree, tmp_path):
    root, _ = tree
    first = convert_dicom_tree(root, tmp_path / "out", workers=1)
    clean = folder_bytes(tmp_path / "out")
    victim = tmp_path / "out" / first.series[0]["file"]
    victim.write_bytes(victim.read_bytes()[:-1] + b"\x01")
    again = convert_dicom_tree(root, tmp_path / "out", workers=1)
    assert (again.resumed, again.converted) == (2, 1)
    assert folder_bytes(tmp_path / "out") == clean


def test_changed_options_are_refused(tree, tmp_path):
    root, _ = tree
    convert_dicom_tree(root, tmp_path / "out", workers=1)
    before = folder_bytes(tmp_path / "out")
    with pytest.raises(OptionError, match="other options.*window"):
        convert_dicom_tree(root, tmp_path / "out", window="lung")
    assert folder_bytes(tmp_path / "out") == before
    r = cli(root, "--each-series", "-o", tmp_path / "out", "--dtype", "float16")
    assert r.exit_code == 1 and "other options" in r.stderr and "--force" in r.stderr
    r = cli(root, "--each-series", "-o", tmp_path / "out", "--dtype", "float16", "--force")
    assert r.exit_code == 1 and "3 series converted" in r.stdout  # the broken series still fails
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["options"]["dtype"] == "float16"


def test_cli_exit_1_with_summary_when_a_series_fails(tree, tmp_path):
    root, written = tree
    r = cli(root, "--each-series", "-o", f"{tmp_path / 'out'}/")
    assert r.exit_code == 1
    assert "3 series converted" in r.stdout and "1 skipped" in r.stdout
    assert "1 series failed" in r.stderr and "SeriesNumber 999" in r.stderr and "Traceback" not in r.output
    r = cli(root, "--each-series", "-o", tmp_path / "out", "--json")
    doc = json.loads(r.stdout)
    assert r.exit_code == 1 and doc["resumed"] == 3 and doc["converted"] == 0


def test_cli_without_failures_exits_0(tmp_path):
    write_export_tree(tmp_path / "tree", series=2, broken=False)
    r = cli(tmp_path / "tree", "--each-series", "-o", tmp_path / "out", "--name-template", "{uid_hash}.safetensors")
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "out").glob("*.safetensors"))) == 2


def test_cli_each_series_needs_a_folder(tree, tmp_path):
    root, _ = tree
    for out in ([], ["-o", tmp_path / "x.safetensors"]):
        r = cli(root, "--each-series", *out)
        assert r.exit_code == 2 and "folder output" in r.stderr
    assert not (tmp_path / "x.safetensors").exists()


@pytest.mark.parametrize("args, flag", [(["--series", "0"], "--series"), (["--preview", "x.png"], "--preview"),
                                        (["--name-template", "{uid_hash}.safetensors"], "--name-template"),
                                        (["--name-template", "{patient}.safetensors", "--each-series"],
                                         "--name-template")])
def test_cli_option_clashes_are_usage_errors(tree, tmp_path, args, flag):
    root, _ = tree
    out = ["-o", tmp_path / "out"] if "--each-series" in args else ["--each-series", "-o", tmp_path / "out"]
    if flag == "--name-template" and "--each-series" not in args:
        out = ["-o", tmp_path / "x.pt"]
    r = cli(root, *args, *out)
    assert r.exit_code == 2 and flag in r.stderr


def test_resume_after_kill_is_byte_identical(tmp_path):
    write_export_tree(tmp_path / "tree", series=10, depth=24, rows=64, cols=64)
    command = [sys.executable, "-m", "tensortool", "load-dicom", str(tmp_path / "tree"), "--each-series", "-q",
               "--workers", "2"]
    clean = subprocess.run(command + ["-o", str(tmp_path / "clean")], cwd=ROOT, capture_output=True, text=True)
    assert clean.returncode == 1 and "1 series failed" in clean.stderr  # the broken series
    manifest = tmp_path / "killed" / "manifest.json"
    killed_mid_run = False
    for _ in range(5):  # a run may finish before it is caught in the middle; try again from scratch
        proc = subprocess.Popen(command + ["-o", str(tmp_path / "killed"), "--force"], cwd=ROOT,
                                start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while proc.poll() is None:
            try:
                doc = json.loads(manifest.read_text())
            except (OSError, ValueError):
                doc = {}
            if doc.get("shards") and not doc.get("complete"):
                os.killpg(proc.pid, signal.SIGKILL)
                killed_mid_run = True
                break
            time.sleep(0.005)
        proc.wait()
        if killed_mid_run:
            break
    assert killed_mid_run
    partial = json.loads(manifest.read_text())
    assert not partial["complete"] and 1 <= len(partial["shards"]) <= 10
    time.sleep(0.5)  # workers of the killed run notice their parent is gone
    again = subprocess.run(command + ["-o", str(tmp_path / "killed")], cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 1 and f"{len(partial['shards'])} kept from an earlier run" in again.stdout
    assert folder_bytes(tmp_path / "killed") == folder_bytes(tmp_path / "clean")


def test_a_file_with_a_bad_header_is_listed_and_fails_the_run_unless_skip_bad(tmp_path):
    written = write_export_tree(tmp_path / "tree", series=2, broken=False)
    bad = tmp_path / "tree" / "study" / "odd.dcm"
    ds = pydicom.dcmread(next(iter(written.good.values())).files[0])
    ds.Rows = 60000  # more pixels than the file holds
    ds.save_as(bad)
    result = convert_dicom_tree(tmp_path / "tree", tmp_path / "a", workers=1)
    assert result.converted == 2 and [u["file"] for u in result.unreadable] == [str(bad)] and not result.ok
    assert json.loads((tmp_path / "a" / "manifest.json").read_text())["unreadable_files"][0]["file"] == str(bad)
    result = convert_dicom_tree(tmp_path / "tree", tmp_path / "b", workers=1, skip_bad=True)
    assert result.ok and result.converted == 2


def test_a_series_added_to_the_tree_is_converted_and_the_rest_match_a_clean_run(tmp_path):
    write_export_tree(tmp_path / "tree", series=2, broken=False, localizer=False, seed=1, study_uid="1.2.3",
                      first_number=5)
    first = convert_dicom_tree(tmp_path / "tree", tmp_path / "out", workers=1)
    # a series that sorts first shifts the others' index (kept in each file's metadata)
    write_export_tree(tmp_path / "tree" / "earlier", series=1, broken=False, localizer=False, seed=7,
                      study_uid="1.2.3", first_number=1)
    again = convert_dicom_tree(tmp_path / "tree", tmp_path / "out", workers=1)
    assert [e["series_number"] for e in again.series if e["status"] == "converted"] == [1, 5, 6]
    assert first.series[0]["index"] == 0 and again.series[0]["series_number"] == 1
    convert_dicom_tree(tmp_path / "tree", tmp_path / "clean", workers=1)
    assert again.ok and again.converted + again.resumed == 3
    assert folder_bytes(tmp_path / "out") == folder_bytes(tmp_path / "clean")


@pytest.mark.parametrize("entry", [None, "x", {"status": "converted", "file": ["unhashable"]},
                                   {"status": "converted", "file": "FILE"},
                                   {"status": "converted", "file": "FILE", "shape": "1x1", "warnings": [3]},
                                   {"status": "converted", "file": "FILE", "shape": [1, 1, 6, 24, 20], "dtype": "float32",
                                    "spacing_mm": None, "files": 6, "warnings": ["\x1b[2J"], "index": 77},
                                   {"status": "converted", "file": "FILE", "shape": [1, 1, 6, 24, 21], "dtype": "float32",
                                    "spacing_mm": None, "files": 6, "warnings": []}])
def test_resume_takes_only_well_formed_entries_from_the_manifest(tree, tmp_path, entry):
    # A crafted "series" entry was taken as it was: a crash in the library or in the summary.
    root, _ = tree
    out = tmp_path / "out"
    first = convert_dicom_tree(root, out, workers=1)
    doc = json.loads((out / "manifest.json").read_text())
    name = first.series[0]["file"]
    if isinstance(entry, dict):
        entry = {k: (name if v == "FILE" else v) for k, v in entry.items()}
    doc["series"][0] = entry
    (out / "manifest.json").write_text(json.dumps(doc))
    again = convert_dicom_tree(root, out, workers=1)
    assert (again.resumed, again.converted) == (2, 1)  # the series of the odd entry is converted again
    assert again.series == first.series
    r = cli(root, "--each-series", "-o", out)
    assert r.exit_code == 1 and "3 series converted (3 kept" in r.stdout and "internal error" not in r.output


def test_force_and_resume_never_touch_files_the_manifest_names_outside_the_folder(tree, tmp_path):
    root, _ = tree
    out = tmp_path / "data" / "out"
    first = convert_dicom_tree(root, out, workers=1)
    outside = tmp_path / "data" / first.series[0]["file"]
    outside.write_bytes((out / first.series[0]["file"]).read_bytes())  # the same bytes: "intact" by its record
    doc = json.loads((out / "manifest.json").read_text())
    doc["shards"][0]["name"] = doc["series"][0]["file"] = f"../{outside.name}"
    (out / "manifest.json").write_text(json.dumps(doc))
    for force in (False, True):
        with pytest.raises(TensortoolError, match="not a plain .safetensors file name in the folder"):
            convert_dicom_tree(root, out, workers=1, force=force)
    assert outside.read_bytes() == (out / first.series[0]["file"]).read_bytes()


@pytest.mark.parametrize("layout, rows", [("ncdhw", 1), ("dhw", 16)])
def test_an_export_reads_back_through_open_shards(tmp_path, layout, rows):
    # Each file's rows along its first axis are what open_shards gives: a volume, or a slice for dhw.
    import torch

    from tensortool import load_dicom, open_shards

    sample = ROOT / "samples" / "dicom" / "ct"
    convert_dicom_tree([sample], tmp_path / "out", layout=layout)
    data = open_shards(tmp_path / "out")
    reference = load_dicom(sample, layout=layout)["volume"]
    assert len(data) == rows == len(reference)
    assert all(torch.equal(data[i]["volume"], reference[i]) for i in range(rows))
