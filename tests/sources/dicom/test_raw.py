"""The raw header walker (dicom_raw) against pydicom: every plane it builds must equal the one
built from pydicom's Dataset of the same file, and it must hand odd files to pydicom."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ImplicitVRLittleEndian

from tests.dicom_writer import phantom, write_series
from tensortool import InputError, load_dicom
from tensortool.sources.dicom import raw as dicom_raw, scan as dicom_series

DATA = Path(pydicom.__file__).parent / "data"


def headers(path: Path, *, fast: bool, monkeypatch) -> object:
    """read_headers with the walker on, or forced off (pydicom reads every file)."""
    with monkeypatch.context() as m:
        if not fast:
            m.setattr(dicom_series, "read_raw_header", lambda *a: None)
        try:
            return dicom_series.read_headers(path)
        except InputError as exc:
            return ("InputError", str(exc))


def took_fast_path(path: Path) -> bool:
    raw = dicom_raw.read_raw_header(str(path), dicom_series._WANTED)
    return isinstance(raw, dicom_raw.RawHeader) and dicom_series._from_raw(raw, path) is not None


@pytest.mark.filterwarnings("ignore")
def test_every_file_pydicom_ships_gives_the_same_planes(monkeypatch):
    files = sorted(p for p in DATA.rglob("*") if p.is_file())
    assert len(files) > 100
    for f in files:
        assert headers(f, fast=True, monkeypatch=monkeypatch) == headers(f, fast=False, monkeypatch=monkeypatch), f
    fast = {f.name for f in files if took_fast_path(f)}
    # explicit and implicit VR little endian take the walker; big endian, deflate, multi-frame do not
    assert {"CT_small.dcm", "MR_small.dcm", "MR_small_implicit.dcm", "JPEG2000.dcm"} <= fast
    assert not {"MR_small_bigendian.dcm", "image_dfl.dcm", "emri_small.dcm", "rtdose.dcm"} & fast


def _one_slice(tmp_path: Path, **kw) -> Path:
    return write_series(tmp_path / "s", phantom(1, 8, 10, seed=3), **kw).files[0]


@pytest.mark.parametrize("implicit", [False, True])
def test_nested_sequences_of_undefined_length_are_skipped(tmp_path, monkeypatch, implicit):
    path = _one_slice(tmp_path)
    ds = pydicom.dcmread(path)
    inner = Dataset()
    inner.CodeValue, inner.CodeMeaning = "T-D0050", "tissue"
    item = Dataset()
    item.ReferencedSOPInstanceUID = "1.2.3"
    item.AnatomicRegionSequence = Sequence([inner, inner])
    ds.ReferencedImageSequence = Sequence([item, Dataset()])
    # undefined lengths (what scanners write), mixed with defined ones, at two levels
    ds["ReferencedImageSequence"].is_undefined_length = True
    item["AnatomicRegionSequence"].is_undefined_length = True
    item.is_undefined_length_sequence_item = True
    item.AnatomicRegionSequence[0].is_undefined_length_sequence_item = True
    ds.add_new(0x00091010, "OB", b"\x00" * 70_000)  # a private block larger than the first read
    ds.add_new(0x00090010, "LO", "SYNTHETIC")
    if implicit:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
    back = pydicom.dcmread(path)
    assert back["ReferencedImageSequence"].is_undefined_length  # what the walker must skip
    assert back.ReferencedImageSequence[0]["AnatomicRegionSequence"].is_undefined_length
    raw = dicom_raw.read_raw_header(str(path), dicom_series._WANTED)
    assert isinstance(raw, dicom_raw.RawHeader) and took_fast_path(path)
    assert int.from_bytes(raw.elements[0x00280011], "little") == back.Columns == 10
    assert headers(path, fast=True, monkeypatch=monkeypatch) == headers(path, fast=False, monkeypatch=monkeypatch)
    np.testing.assert_array_equal(load_dicom(path, raw=True)["volume"][0, 0, 0].numpy(), back.pixel_array)


def _splice_before(path: Path, tag_bytes: bytes, blob: bytes) -> None:
    data = path.read_bytes()
    at = data.index(tag_bytes, 132)
    path.write_bytes(data[:at] + blob + data[at:])


def test_un_of_undefined_length_goes_to_pydicom(tmp_path, monkeypatch):
    path = _one_slice(tmp_path)
    # (0009,1001) UN, undefined length: an implicit-VR sequence, as a private tag often arrives
    blob = (b"\x09\x00\x01\x10UN\x00\x00\xff\xff\xff\xff" + b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
            + b"\x10\x00\x10\x00\x04\x00\x00\x00AB^C" + b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"
            + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")
    _splice_before(path, b"\x10\x00\x10\x00PN", blob)  # before PatientName
    assert dicom_raw.read_raw_header(str(path), dicom_series._WANTED) is None
    assert headers(path, fast=True, monkeypatch=monkeypatch) == headers(path, fast=False, monkeypatch=monkeypatch)


@pytest.mark.parametrize("description", ["Thorax é", "A\\B", "\x1b$B"])
def test_descriptions_pydicom_must_decode(tmp_path, monkeypatch, description):
    path = _one_slice(tmp_path)
    ds = pydicom.dcmread(path)
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SeriesDescription = description
    ds.save_as(path, enforce_file_format=True)
    assert not took_fast_path(path)
    assert headers(path, fast=True, monkeypatch=monkeypatch) == headers(path, fast=False, monkeypatch=monkeypatch)


def test_plain_file_takes_the_walker_and_matches_pydicom(tmp_path, monkeypatch):
    path = _one_slice(tmp_path, description="  padded desc ")
    assert took_fast_path(path)
    fast = headers(path, fast=True, monkeypatch=monkeypatch)
    assert fast == headers(path, fast=False, monkeypatch=monkeypatch)
    assert fast[0].description == "  padded desc"  # pydicom strips trailing spaces only


@pytest.mark.parametrize("cut", [60, 140, 400, 900])
def test_truncated_header_behaves_as_with_pydicom(tmp_path, monkeypatch, cut):
    path = _one_slice(tmp_path)
    path.write_bytes(path.read_bytes()[:cut])
    fast = headers(path, fast=True, monkeypatch=monkeypatch)
    assert fast == headers(path, fast=False, monkeypatch=monkeypatch)


def test_implicit_syntax_declared_but_explicit_written_goes_to_pydicom(tmp_path, monkeypatch):
    path = _one_slice(tmp_path)
    data = bytearray(path.read_bytes())
    explicit = b"1.2.840.10008.1.2.1\x00"
    at = data.index(explicit)
    data[at:at + len(explicit)] = b"1.2.840.10008.1.2\x00\x00\x00"  # same length, so offsets hold
    path.write_bytes(bytes(data))
    assert dicom_raw.read_raw_header(str(path), dicom_series._WANTED) is None
    assert headers(path, fast=True, monkeypatch=monkeypatch) == headers(path, fast=False, monkeypatch=monkeypatch)
