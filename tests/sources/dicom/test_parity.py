"""load_dicom against pydicom on every file of pydicom's own test set: where
``dcmread(f).pixel_array`` decodes, load_dicom returns the same values after the modality LUT
(rescale slope/intercept), PALETTE COLOR through its palette (``apply_color_lut``), YBR as RGB
(what ``pixel_array`` returns by default)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest

from tensortool import InputError, load_dicom

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"  # shipped in the wheel; no download
ALL = sorted(p.name for p in TEST_FILES.rglob("*.dcm"))


def reference(path: Path) -> tuple[np.ndarray, pydicom.Dataset] | None:
    """pydicom's decode (F×H×W[×3]) after the modality LUT / palette, or None when pydicom cannot decode."""
    from pydicom.pixels import apply_color_lut, apply_modality_lut

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(path)
            arr = ds.pixel_array
        except Exception:  # noqa: BLE001 - pydicom's own failures mean: not comparable
            return None
        if ds.get("PhotometricInterpretation") == "PALETTE COLOR":
            arr = apply_color_lut(arr, ds)
        elif ds.get("SamplesPerPixel", 1) == 1 and "RescaleSlope" in ds:
            arr = apply_modality_lut(arr, ds)
        elif "DoseGridScaling" in ds:  # RT dose: tensortool rescales to DoseUnits (Gy) too
            arr = arr * float(ds.DoseGridScaling)
    frames = int(ds.get("NumberOfFrames") or 1)
    return (arr if frames > 1 else arr[None]), ds


def as_frames(bundle) -> np.ndarray:
    """(1, C, D, H, W) → D×H×W[×C], as pydicom lays frames out."""
    v = bundle["volume"][0].numpy()
    return v[0] if v.shape[0] == 1 else np.moveaxis(v, 0, -1)


DECODED = [n for n in ALL if reference(next(TEST_FILES.rglob(n))) is not None]


def test_most_of_the_set_is_decodable_by_pydicom():
    # the rest (no pixel data, no file meta, truncated, undecodable by every plugin) is skipped below
    assert len(DECODED) >= 55, (len(DECODED), len(ALL))


@pytest.mark.parametrize("name", sorted(set(ALL) - set(DECODED)))
def test_what_pydicom_cannot_decode_is_one_input_error(name):
    with pytest.raises(InputError) as info:
        load_dicom(next(TEST_FILES.rglob(name)), workers=1)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", DECODED)
def test_equals_pydicom(name):
    path = next(TEST_FILES.rglob(name))
    ref, ds = reference(path)
    b = load_dicom(path, workers=1)
    got = as_frames(b)
    files = b.meta["files"]
    if len(files) > 1:  # frames come out in slice-position order; put pydicom's in the same order
        ref = ref[[int(f.rsplit("#", 1)[1]) for f in files]]
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref.astype(np.float64), rtol=1e-6, atol=1e-6 * max(1.0, float(np.abs(ref).max())))


def test_palette_color_comes_back_as_rgb():
    from pydicom.pixels import apply_color_lut

    path = TEST_FILES / "examples_palette.dcm"
    ds = pydicom.dcmread(path)
    b = load_dicom(path)
    assert b["volume"].shape == (1, 3, 1, *ds.pixel_array.shape) and b.meta["samples_per_pixel"] == 3
    np.testing.assert_array_equal(as_frames(b)[0], apply_color_lut(ds.pixel_array, ds))


@pytest.mark.parametrize("name", ["SC_rgb_dcmtk_+eb+cy+np.dcm", "SC_rgb_jpeg_dcmtk.dcm", "examples_ybr_color.dcm",
                                  "SC_ybr_full_422_uncompressed.dcm", "GDCMJ2K_TextGBR.dcm"])
def test_ybr_is_converted_like_pydicom(name):
    ds = pydicom.dcmread(TEST_FILES / name)
    assert ds.PhotometricInterpretation.startswith("YBR")
    ref = ds.pixel_array  # pydicom converts YBR to RGB by default
    got = as_frames(load_dicom(TEST_FILES / name))
    np.testing.assert_array_equal(got, ref if ref.ndim == 4 else ref[None])


def palette_series(folder: Path, luts: dict[str, np.ndarray], segmented: bool = False) -> None:
    """3 slices of 8-bit indices with a 16-bit palette (Red, Green, Blue → LUT data values)."""
    from tests.dicom_writer import write_series

    stored = np.random.default_rng(3).integers(0, 256, (3, 6, 5), dtype=np.uint8)
    written = write_series(folder, stored, modality="OT", slopes=1.0, intercepts=0.0)
    for f in written.files:
        ds = pydicom.dcmread(f)
        ds.PhotometricInterpretation = "PALETTE COLOR"
        del ds.RescaleSlope, ds.RescaleIntercept
        for colour, lut in luts.items():
            setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, 16])
            ds[f"{colour}PaletteColorLookupTableDescriptor"].VR = "US"
            name = f"{'Segmented' if segmented else ''}{colour}PaletteColorLookupTableData"
            setattr(ds, name, np.asarray(lut).astype("<u2").tobytes())
        ds.save_as(f)


def test_palette_color_series_with_16_bit_palette(tmp_path):
    """A crafted palette series (8-bit indices, 16-bit palette entries): each slice through its palette."""
    ramp = np.arange(256, dtype=np.int64)
    palette_series(tmp_path / "pal", {"Red": ramp * 257, "Green": 65535 - ramp * 257, "Blue": (ramp * 97) % 65536})
    check_palette(tmp_path / "pal")


def test_segmented_palette_equals_pydicom(tmp_path):
    # discrete [0], linear up to 65535 over 255 entries; an indirect segment re-reading both
    luts = {"Red": [0, 1, 0, 1, 255, 65535], "Green": [0, 1, 65535, 1, 255, 0],
            "Blue": [0, 1, 7, 1, 127, 9000, 2, 1, 0, 0, 1, 127, 30000]}
    palette_series(tmp_path / "seg", luts, segmented=True)
    check_palette(tmp_path / "seg")


def test_segmented_palette_that_explodes_is_refused(tmp_path):
    # each linear segment expands to 65535 entries: 2000 of them would be 131 million list items
    bomb = [0, 1, 0] + [1, 65535, 65535, 1, 65535, 0] * 1000
    palette_series(tmp_path / "bomb", {"Red": bomb, "Green": bomb, "Blue": bomb}, segmented=True)
    with pytest.raises(InputError, match="expands to more than 65536 entries"):
        load_dicom(tmp_path / "bomb")
    loop = [0, 1, 0, 2, 65535, 0, 0]  # an indirect segment that re-reads itself
    palette_series(tmp_path / "loop", {"Red": loop, "Green": loop, "Blue": loop}, segmented=True)
    with pytest.raises(InputError):
        load_dicom(tmp_path / "loop")


def check_palette(folder: Path) -> None:
    from pydicom.pixels import apply_color_lut

    b = load_dicom(folder)
    assert b["volume"].shape == (1, 3, 3, 6, 5)
    for k, f in enumerate(b.meta["files"]):
        ds = pydicom.dcmread(f)
        np.testing.assert_array_equal(as_frames(b)[k], apply_color_lut(ds.pixel_array, ds))


def test_decoder_failure_shows_the_decoders_reason_and_no_install_hint():
    # JPEG-lossy.dcm: the decoders are installed, and each refuses the data for its own reason
    with pytest.raises(InputError) as info:
        load_dicom(TEST_FILES / "JPEG-lossy.dcm")
    text = str(info.value)
    assert "misplaced marker segment" in text and "pylibjpeg" in text
    assert "pip install" not in text and "no decoder" not in text
    assert "JPEG-lossy.dcm" in text and "\n" not in text
