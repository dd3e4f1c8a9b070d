"""The image size a compressed frame declares is checked against the header before decoding."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
from pydicom.encaps import generate_frames
from pydicom.pixels.utils import _get_jpg_parameters
from pydicom.uid import JPEG2000TransferSyntaxes, JPEGLSTransferSyntaxes, JPEGTransferSyntaxes

from tensortool import load_dicom
from tensortool.sources.dicom.codestream import j2k_declared, jpeg_declared

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
J2K = ["JPEG2000.dcm", "examples_jpeg2k.dcm", "693_J2KI.dcm", "GDCMJ2K_TextGBR.dcm"]
JPEG = ["SC_rgb_jpeg_dcmtk.dcm", "JPGExtended.dcm", "SC_rgb_small_odd_jpeg.dcm", "MR_small_jpeg_ls_lossless.dcm",
        "JPEGLSNearLossless_16.dcm"]


def first_frame(name: str) -> tuple[pydicom.Dataset, bytes]:
    ds = pydicom.dcmread(TEST_FILES / name)
    return ds, next(generate_frames(ds.PixelData, number_of_frames=int(ds.get("NumberOfFrames", 1) or 1)))


@pytest.mark.parametrize("name", J2K)
def test_j2k_size_matches_the_header(name):
    ds, frame = first_frame(name)
    assert ds.file_meta.TransferSyntaxUID in JPEG2000TransferSyntaxes
    assert j2k_declared(frame) == (ds.Rows, ds.Columns, ds.SamplesPerPixel)


@pytest.mark.parametrize("name", JPEG)
def test_jpeg_size_matches_pydicom_and_the_header(name):
    ds, frame = first_frame(name)
    assert ds.file_meta.TransferSyntaxUID in JPEGTransferSyntaxes + JPEGLSTransferSyntaxes
    info = _get_jpg_parameters(frame)  # pydicom's own SOF parser, an independent reference
    declared = jpeg_declared(frame, ls=ds.file_meta.TransferSyntaxUID in JPEGLSTransferSyntaxes)
    assert declared == (info["height"], info["width"], info["components"])
    assert declared == (ds.Rows, ds.Columns, ds.SamplesPerPixel)


def test_garbage_before_the_frame_header_is_skipped_as_libjpeg_does():
    _, frame = first_frame("SC_rgb_jpeg_dcmtk.dcm")
    at = frame.index(b"\xff\xc0")
    assert jpeg_declared(frame[:at] + b"\x00\x17" + frame[at:]) == jpeg_declared(frame)


def _enlarge(data: bytes, marker: bytes, offset: int, value: bytes) -> bytes:
    at = data.index(marker) + offset
    return data[:at] + value + data[at + len(value):]


# (file, marker of the size field's segment, offset of the field from the marker, new value)
HUGE = [
    ("JPEG2000.dcm", b"\xff\x4f\xff\x51", 8, (1 << 22).to_bytes(4, "big")),              # Xsiz
    ("examples_jpeg2k.dcm", b"\xff\x4f\xff\x51", 40, (1 << 14).to_bytes(2, "big")),      # Csiz
    ("SC_rgb_jpeg_dcmtk.dcm", b"\xff\xc0", 5, b"\xff\xff\xff\xff"),                       # SOF0 Y, X
    ("MR_small_jpeg_ls_lossless.dcm", b"\xff\xf7", 5, b"\xff\xff\xff\xff"),               # SOF55 Y, X
]


@pytest.mark.parametrize("name,marker,offset,value", HUGE, ids=[h[0] for h in HUGE])
def test_a_frame_declaring_more_than_the_header_is_refused_before_decoding(tmp_path, name, marker, offset, value):
    path = tmp_path / name
    path.write_bytes(_enlarge((TEST_FILES / name).read_bytes(), marker, offset, value))
    # In a child, to read its peak memory: a decoder that allocated what the frame declares
    # (2 to 17 GB) would take many seconds and gigabytes before any shape check.
    code = ("import resource, sys, time\n"
            "import pydicom.pixels, torch, tensortool.sources.dicom.load\n"  # imports before the peak is read
            "from tensortool import load_dicom, InputError\n"
            "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "t = time.perf_counter()\n"
            "try:\n    load_dicom(sys.argv[1], workers=1)\nexcept InputError as e:\n"
            "    print('refused', round(time.perf_counter() - t, 2),"
            " (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) >> 10, e)\n")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("refused"), out.stdout + out.stderr[-2000:]
    assert "declares" in out.stdout and "more than the header" in out.stdout, out.stdout
    seconds, peak_added_mib = float(out.stdout.split()[1]), int(out.stdout.split()[2])
    assert seconds < 2.0 and peak_added_mib < 512, out.stdout


def test_real_compressed_files_still_decode():
    for name in J2K[:2] + JPEG[:2]:
        volume = load_dicom(TEST_FILES / name)["volume"]
        ds = pydicom.dcmread(TEST_FILES / name)
        assert volume.shape[-2:] == (ds.Rows, ds.Columns)
