"""What decoders say on their own goes through tensortool's warning channel: one clean line each.

Python warnings (Pillow, pydicom) are routed by the CLI's showwarning hook, naming the file being
decoded; libpng and libjpeg-turbo write to file descriptor 2 themselves, so that is captured
around decoding (checked in a subprocess: CliRunner has no descriptor to capture)."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from tests.conftest import ROOT
from tensortool.cli.app import app
from tensortool.sources.image import decode as image_decode

runner = CliRunner()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bad_iccp_png(path: Path) -> Path:
    """A valid PNG with an ICC profile libpng rejects (it says so on stderr, then decodes)."""
    buf = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(buf, "PNG")
    data = buf.getvalue()
    path.write_bytes(data[:33] + _chunk(b"iCCP", b"junk\0\0" + zlib.compress(b"\0" * 132)) + data[33:])
    return path


def extraneous_bytes_jpeg(path: Path) -> Path:
    """A JPEG with stray bytes before its end marker: libjpeg-turbo says 'Corrupt JPEG data'."""
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buf, "JPEG")
    data = buf.getvalue()
    path.write_bytes(data[:-2] + b"\0\x11\x22" + data[-2:])
    return path


def test_python_warning_is_one_line_naming_the_file(flat, monkeypatch):
    monkeypatch.setenv("TENSORTOOL_DECODER", "torchvision")
    real = image_decode._decode_torchvision

    def noisy(*args, **kwargs):
        warnings.warn("Truncated File Read\nsecond line", UserWarning)
        return real(*args, **kwargs)

    monkeypatch.setattr(image_decode, "_decode_torchvision", noisy)
    result = runner.invoke(app, ["load-image", str(flat), "-q", "--workers", "2"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if "Truncated" in line]
    assert lines and all(line.startswith("warning: ") for line in lines)
    # Two workers: whichever file warned first is named (the same warning is shown once).
    assert any(str(flat / f"img{i}.png") in lines[0] for i in range(4)), lines
    assert "second line" not in result.stderr
    assert "warnings.warn" not in result.stderr and "UserWarning" not in result.stderr


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tensortool", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def test_native_decoder_messages_become_warning_lines(tmp_path):
    png, jpg = bad_iccp_png(tmp_path / "icc.png"), extraneous_bytes_jpeg(tmp_path / "extra.jpg")
    done = _run("load-image", str(png), str(jpg), "--json")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert all(line.startswith("warning: ") for line in lines), lines
    assert any("iCCP" in line and str(png) in line for line in lines), lines
    assert any("Corrupt JPEG data" in line and str(jpg) in line for line in lines), lines
    assert done.stdout.startswith("{")


def test_native_messages_from_threads_are_counted_once(tmp_path):
    files = [str(bad_iccp_png(tmp_path / f"{i}.png")) for i in range(6)]
    done = _run("load-image", *files, "--workers", "3", "-q")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert all(line.startswith("warning: ") for line in lines), lines
    [line] = [line for line in lines if "iCCP" in line]
    assert "6 times" in line


def test_error_line_still_reaches_stderr_after_native_messages(tmp_path):
    png = bad_iccp_png(tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    done = _run("load-image", str(png), str(tmp_path / "b.png"), "--workers", "1")
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert any(line.startswith("error: ") and "b.png" in line for line in lines), lines
    assert all(line.startswith(("warning: ", "error: ")) for line in lines), lines


def test_pydicom_warning_is_one_clean_line(tmp_path):
    from tests.dicom_writer import phantom, write_series

    path = write_series(tmp_path / "s", phantom(1, 8, 10, seed=3)).files[0]
    data = bytearray(path.read_bytes())
    explicit = b"1.2.840.10008.1.2.1\x00"  # declared implicit VR, written explicit: pydicom warns
    at = data.index(explicit)
    data[at:at + len(explicit)] = b"1.2.840.10008.1.2\x00\x00\x00"
    path.write_bytes(bytes(data))
    result = runner.invoke(app, ["load-dicom", str(path), "-q", "--json"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if "implicit VR" in line]
    assert len(lines) == 1 and lines[0].startswith("warning: Expected implicit VR")
    assert "warn_and_log" not in result.stderr and "UserWarning" not in result.stderr
