"""DICOM reading under the hostile-input contract: crafted files of each kind that used to hang or
escape as another exception, then property tests over mutated real files (the raw header walker,
one file, and a series folder with one mutated file)."""

from __future__ import annotations

import shutil
import struct
import warnings
from pathlib import Path
from typing import Callable

import pydicom
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.tag import Tag

from tests.fuzz.contract import FUZZ, SAMPLES, check, seeds
from tensortool import InputError, list_dicom_series, load_dicom
from tensortool.bundle import Bundle
from tensortool.sources.dicom.preview import write_volume_preview
from tensortool.sources.dicom import raw as dicom_raw, scan as dicom_series

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
CT = sorted((SAMPLES / "dicom" / "ct").glob("*.dcm"))

pytestmark = pytest.mark.filterwarnings("ignore")


def _save(ds: Dataset, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.save_as(path, enforce_file_format=False)
    return path


def _read(path: Path) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path)


def _ct(tmp: Path, **values) -> Path:
    ds = _read(CT[0])
    for k, v in values.items():
        setattr(ds, k, v)
    return _save(ds, tmp / "x.dcm")


def _patched(src: Path, tmp: Path, old: bytes, new: bytes) -> Path:
    data = src.read_bytes()
    assert old in data
    out = tmp / "x.dcm"
    out.write_bytes(data.replace(old, new, 1))
    return out


def _value(src: Path, tmp: Path, keyword: str, text: bytes) -> Path:
    """``src`` with the IS/DS element ``keyword`` holding ``text``, which pydicom will not write itself."""
    ds = _read(src)
    setattr(ds, keyword, "1" * len(text))
    path = _save(ds, tmp / "x.dcm")
    tag = Tag(keyword)
    data = path.read_bytes()
    at = data.find(struct.pack("<HH", tag.group, tag.element), 132)
    assert at > 0
    path.write_bytes(data[:at + 8] + text + data[at + 8 + len(text):])
    return path


def _j2k_zero_box(tmp: Path) -> Path:
    # A JP2 header whose second box has length 0: pydicom's j2k parameter parser never leaves it.
    ds = _read(PYDICOM_FILES / "MR_small_jp2klossless.dcm")
    frame = b"\x00\x00\x00\x0cjP  \r\n\x87\n" + b"\x00\x00\x00\x00ftyp" + b"\x00" * 32
    ds.PixelData = encapsulate([frame])
    return _save(ds, tmp / "x.dcm")


def _j2k_zero_box_short_signature(tmp: Path) -> Path:
    # pydicom takes 8 bytes of the 12-byte JP2 signature for a JP2 header.
    ds = _read(PYDICOM_FILES / "MR_small_jp2klossless.dcm")
    ds.PixelData = encapsulate([b"\x00\x00\x00\x0cjP  \r\nPL" + b"\x00\x00\x00\x00appl" + b"\x00" * 32])
    return _save(ds, tmp / "x.dcm")


def _j2k_zero_box_defined_length(tmp: Path) -> Path:
    # Encapsulated pixel data given a (wrong) defined length: pydicom still parses its fragments.
    data = _j2k_zero_box(tmp).read_bytes()
    at = data.find(b"\xe0\x7f\x10\x00")
    assert at > 0 and data[at + 8:at + 12] == b"\xff\xff\xff\xff"
    (tmp / "x.dcm").write_bytes(data[:at + 8] + b"\xff\x41\xff\xff" + data[at + 12:])
    return tmp / "x.dcm"


def _rle_frames(tmp: Path) -> Path:
    ds = _read(PYDICOM_FILES / "SC_rgb_rle_2frame.dcm")
    ds.NumberOfFrames = 2_000_000_000
    return _save(ds, tmp / "x.dcm")


def _nested(tmp: Path, depth: int = 3000) -> Path:
    # Undefined-length sequences nested deeper than any recursive reader can follow.
    item = b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
    seq = b"\x08\x00\x15\x11SQ\x00\x00\xff\xff\xff\xff"  # (0008,1115) explicit VR, undefined length
    body = (seq + item) * depth
    ds = _read(CT[0])
    data = CT[0].read_bytes()
    at = data.find(b"\x08\x00\x16\x00")  # (0008,0016) SOPClassUID: an early top-level element
    assert at > 132 and ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    out = tmp / "x.dcm"
    out.write_bytes(data[:at] + body + data[at:])
    return out


def _rle_panic(tmp: Path) -> Path:
    # One byte of an RLE segment changed: the Rust decoder panics on it.
    data = bytearray((PYDICOM_FILES / "MR_small_RLE.dcm").read_bytes())
    data[3104] = 158
    out = tmp / "x.dcm"
    out.write_bytes(bytes(data))
    return out


def _deflated_garbage(tmp: Path) -> Path:
    data = (PYDICOM_FILES / "image_dfl.dcm").read_bytes()
    ds = _read(PYDICOM_FILES / "image_dfl.dcm")
    out = tmp / "x.dcm"
    # Past the file meta the dataset is a zlib stream: make it invalid.
    meta_end = 132 + 12 + ds.file_meta.FileMetaInformationGroupLength
    out.write_bytes(data[:meta_end] + b"\xff" * 64 + data[meta_end + 64:])
    return out


def _odd_us_length(tmp: Path) -> Path:
    # Rows with a 3-byte value: pydicom refuses US values that are not a multiple of 2 bytes.
    return _patched(CT[0], tmp, b"\x28\x00\x10\x00US\x02\x00", b"\x28\x00\x10\x00US\x03\x00")


def _unknown_vr(tmp: Path) -> Path:
    return _patched(CT[0], tmp, b"\x02\x00\x10\x00UI", b"\x02\x00\x10\x00\x55\xff")


CRAFTED: dict[str, Callable[[Path], Path]] = {
    "frames 2e9": lambda t: _ct(t, NumberOfFrames=2_000_000_000),
    "frames 2e9 rle": _rle_frames,
    "frames 0": lambda t: _ct(t, NumberOfFrames=0),
    "frames -5": lambda t: _ct(t, NumberOfFrames=-5),
    "rows empty": lambda t: _ct(t, Rows=None),
    "rows 0": lambda t: _ct(t, Rows=0),
    "rows/columns 65535": lambda t: _ct(t, Rows=65535, Columns=65535),
    "bits allocated 0": lambda t: _ct(t, BitsAllocated=0),
    "bits allocated 64": lambda t: _ct(t, BitsAllocated=64),
    "bits stored 40": lambda t: _ct(t, BitsStored=40),
    "samples 65535": lambda t: _ct(t, SamplesPerPixel=65535),
    "samples 3 of grey data": lambda t: _ct(t, SamplesPerPixel=3, PlanarConfiguration=0),
    "transfer syntax not a UID": lambda t: _patched(CT[0], t, b"1.2.840.10008.1.2.1\x00", b"1.2.3.4.bad.uid.xx\x00\x00"),
    "transfer syntax garbage": lambda t: _patched(CT[0], t, b"1.2.840.10008.1.2.1\x00", b"\xff" * 20),
    "slope NaN": lambda t: _value(CT[0], t, "RescaleSlope", b"NaN"),
    "instance NaN": lambda t: _value(CT[0], t, "InstanceNumber", b"NaN"),
    "frames NaN": lambda t: _value(PYDICOM_FILES / "SC_rgb_rle_2frame.dcm", t, "NumberOfFrames", b"NaN"),
    "frames 2e3": lambda t: _value(PYDICOM_FILES / "SC_rgb_rle_2frame.dcm", t, "NumberOfFrames", b"2e3"),
    "position NaN": lambda t: _value(CT[0], t, "ImagePositionPatient", b"NaN\\0\\0 "),
    "position 1e308": lambda t: _value(CT[0], t, "ImagePositionPatient", b"1e308\\1e308\\1e308 "),
    "orientation zero": lambda t: _value(CT[0], t, "ImageOrientationPatient", b"0\\0\\0\\0\\0\\0 "),
    "slice thickness NaN": lambda t: _value(CT[0], t, "SliceThickness", b"NaN "),
    "slice thickness 0": lambda t: _ct(t, SliceThickness=0),
    "slice thickness 1e308": lambda t: _ct(t, SliceThickness="1e308"),
    "pixel spacing 0": lambda t: _ct(t, PixelSpacing=[0, 0]),
    "j2k zero-length box": _j2k_zero_box,
    "j2k zero-length box, defined length": _j2k_zero_box_defined_length,
    "j2k zero-length box, 8-byte signature": _j2k_zero_box_short_signature,
    "nested sequences": _nested,
    "rle decoder panic": _rle_panic,
    "deflate garbage": _deflated_garbage,
    "US of 3 bytes": _odd_us_length,
    "unknown VR": _unknown_vr,
}


@pytest.mark.parametrize("workers", [1, None], ids=["workers=1", "default"])
@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_crafted_file_gives_a_volume_or_an_input_error_naming_it(name, workers, tmp_path):
    path = CRAFTED[name](tmp_path)
    out = tmp_path / "out.pt"
    for call in (lambda: load_dicom(path, workers=workers), lambda: list_dicom_series(path, workers=workers)):
        result = check(call, outputs=[out])
        if isinstance(result, InputError):
            assert str(path) in str(result), result
        elif isinstance(result, Bundle):  # what load-dicom --preview draws from it
            preview = tmp_path / "preview.png"
            check(lambda: write_volume_preview(result, preview), outputs=[preview])


@pytest.mark.parametrize("name", ["frames 2e9", "frames 2e9 rle", "rows empty", "j2k zero-length box",
                                  "j2k zero-length box, 8-byte signature", "j2k zero-length box, defined length",
                                  "nested sequences", "rle decoder panic", "US of 3 bytes", "unknown VR",
                                  "transfer syntax not a UID"])
def test_the_known_bad_files_are_refused(name, tmp_path):
    path = CRAFTED[name](tmp_path)
    err = _raise_err(lambda: load_dicom(path, workers=1))
    assert str(path) in str(err)


def test_the_error_names_the_frame_count(tmp_path):
    path = CRAFTED["frames 2e9"](tmp_path)
    err = _raise_err(lambda: load_dicom(path, workers=1))
    assert "NumberOfFrames" in str(err) and "(0028,0008)" in str(err)


def test_the_error_names_the_unknown_vr_tag(tmp_path):
    err = _raise_err(lambda: load_dicom(CRAFTED["unknown VR"](tmp_path), workers=1))
    assert "(0002,0010)" in str(err)


def _raise_err(call) -> InputError:
    result = check(call)
    assert isinstance(result, InputError), result
    return result


def test_the_raw_walker_gives_up_on_deep_nesting_without_recursing(tmp_path):
    path = _nested(tmp_path, depth=100_000)
    result = check(lambda: dicom_raw.read_raw_header(str(path), dicom_series._WANTED))
    assert result is None or isinstance(result, InputError)


# ---------------------------------------------------------------- property tests

# Two CT slices of ours and pydicom's own files: each transfer syntax, multi-frame, RT dose.
_SEEDS = seeds("dicom/ct/*.dcm", limit=2) + seeds(limit=20, extra=[PYDICOM_FILES / n for n in (
    "CT_small.dcm", "MR_small_implicit.dcm", "MR_small_RLE.dcm", "JPEG2000.dcm", "SC_rgb_rle_2frame.dcm",
    "MR_small_bigendian.dcm", "image_dfl.dcm", "SC_rgb_jpeg_dcmtk.dcm", "rtdose_1frame.dcm")])
_U32 = [0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 0xFFFFFFFE, 0x80000000, 0xFFFF, 2_000_000_000]


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        head = min(len(data), 4096)
        if head < 140:  # truncated to the preamble: nothing left to mutate
            break
        op = draw(st.integers(0, 4))
        if op == 0:
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == 1:
            i = draw(st.integers(132, head - 4))
            data[i:i + 4] = struct.pack("<I", draw(st.sampled_from(_U32)))
        elif op == 2:
            i = draw(st.integers(132, head - 2))
            data[i:i + 2] = draw(st.sampled_from([b"SQ", b"UN", b"OB", b"XX", b"\xff\xff", b"US", b"IS"]))
        elif op == 3:
            i = draw(st.integers(132, head - 2))
            data[i:i + 2] = struct.pack("<H", draw(st.sampled_from([0, 1, 3, 0xFFFF, 0x8000])))
        else:
            del data[draw(st.integers(132, len(data) - 1)):]
    return bytes(data)


@FUZZ
@given(data=mutated())
def test_fuzz_raw_walker(data, tmp_path_factory):
    path = tmp_path_factory.mktemp("raw") / "x.dcm"
    path.write_bytes(data)
    result = check(lambda: dicom_raw.read_raw_header(str(path), dicom_series._WANTED))
    assert result is None or result == dicom_raw.NOT_DICOM or isinstance(result, (dicom_raw.RawHeader, InputError))


@FUZZ
@given(data=mutated())
def test_fuzz_load_one_file(data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("one")
    path = folder / "x.dcm"
    path.write_bytes(data)
    out = folder / "out.pt"
    check(lambda: list_dicom_series(path), outputs=[out])
    check(lambda: load_dicom(path, workers=1), outputs=[out])


@FUZZ
@given(data=mutated(), which=st.integers(0, 3))
def test_fuzz_load_series_with_one_mutated_file(data, which, tmp_path_factory):
    folder = tmp_path_factory.mktemp("series")
    for k, f in enumerate(CT[:4]):
        shutil.copy(f, folder / f.name)
    (folder / CT[which].name).write_bytes(data)
    out = folder.parent / f"{folder.name}.pt"
    check(lambda: load_dicom(folder), outputs=[out])
    check(lambda: load_dicom(folder, skip_bad=True, workers=1), outputs=[out])


def test_a_decoder_out_of_memory_is_an_input_error(tmp_path, monkeypatch):
    import pydicom.pixels

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(pydicom.pixels, "pixel_array", no_memory)
    path = _save(_read(PYDICOM_FILES / "SC_rgb_rle_2frame.dcm"), tmp_path / "x.dcm")
    err = _raise_err(lambda: load_dicom(path, workers=1))
    assert "memory" in str(err) and str(path) in str(err)
