"""load_dicom against independent references: the synthetic writer's own record of what it wrote,
SimpleITK's ImageSeriesReader, and pydicom's uncompressed decode of the same real test files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
import torch

from tests.dicom_writer import phantom, write_localizer, write_multiframe, write_series
from tensortool import InputError, OptionError, SeriesChoiceError, list_dicom_series, load_dicom

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"  # shipped in the wheel; no download
DIRTESTS = TEST_FILES / "dicomdirtests"


def sitk_read(folder: Path, uid: str | None = None) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    names = reader.GetGDCMSeriesFileNames(str(folder), uid) if uid else reader.GetGDCMSeriesFileNames(str(folder))
    reader.SetFileNames(names)
    reader.SetOutputPixelType(sitk.sitkFloat32)
    return reader.Execute()


def vol(bundle, name="volume") -> np.ndarray:
    return bundle[name][0, 0].numpy()


@pytest.fixture
def ct(tmp_path: Path):
    """8 slices, shuffled file names, InstanceNumber counting down from the top."""
    return write_series(tmp_path / "ct", phantom(8, 20, 24, seed=1), instance_descending=True)


def test_matches_simpleitk_and_generator(ct, tmp_path):
    b = load_dicom(tmp_path / "ct")
    ref = sitk_read(tmp_path / "ct")
    np.testing.assert_array_equal(vol(b), sitk.GetArrayFromImage(ref))
    np.testing.assert_array_equal(vol(b), ct.hu.astype(np.float32))
    m = b.meta
    assert m["spacing_mm"] == pytest.approx(ref.GetSpacing()[::-1])
    assert m["origin_mm"] == pytest.approx(ref.GetOrigin())
    assert m["direction"] == pytest.approx(ref.GetDirection())
    assert m["value_unit"] == "HU" and m["modality"] == "CT" and m["layout"] == "ncdhw"
    assert b["volume"].shape == (1, 1, 8, 20, 24) and b["volume"].dtype == torch.float32
    # files are in ascending position order
    positions = [float(pydicom.dcmread(f, stop_before_pixels=True).ImagePositionPatient[2]) for f in m["files"]]
    assert positions == sorted(positions)


def test_affine_maps_indices_to_file_positions(ct, tmp_path):
    b = load_dicom(tmp_path / "ct")
    affine = np.array(b.meta["affine_lps"])
    for k, pos in enumerate(ct.positions):
        np.testing.assert_allclose(affine @ [k, 0, 0, 1], [*pos, 1], atol=1e-4)
    ds = pydicom.dcmread(ct.files[0], stop_before_pixels=True)
    row_dir, col_dir = np.array(ds.ImageOrientationPatient[:3], float), np.array(ds.ImageOrientationPatient[3:], float)
    dy, dx = map(float, ds.PixelSpacing)
    np.testing.assert_allclose(affine @ [0, 3, 5, 1], [*(np.array(ct.positions[0]) + 3 * dy * col_dir + 5 * dx * row_dir), 1],
                               atol=1e-4)


def test_order_instance(ct, tmp_path):
    b = load_dicom(tmp_path / "ct", order="instance")
    np.testing.assert_array_equal(vol(b), ct.hu[::-1].astype(np.float32))
    assert b.meta["order"] == "instance"


def test_per_slice_slopes_and_no_int16_overflow(tmp_path):
    stored = phantom(6, 16, 16, seed=2, high=32000)
    stored[:, :4, :4] = 32000
    w = write_series(tmp_path / "s", stored, slopes=[1, 2, 1, 2, 1, 2], intercepts=[-1024, -1000] * 3)
    b = load_dicom(tmp_path / "s")
    assert float(b["volume"].max()) == 2 * 32000 - 1000  # far beyond int16
    np.testing.assert_array_equal(vol(b), w.hu.astype(np.float32))
    np.testing.assert_array_equal(vol(b), sitk.GetArrayFromImage(sitk_read(tmp_path / "s")))
    assert b.meta["rescale"]["slopes"] == [1, 2, 1, 2, 1, 2]


def test_raw_keeps_stored_values(ct, tmp_path):
    b = load_dicom(tmp_path / "ct", raw=True)
    assert b["volume"].dtype == torch.int16 and b.meta["rescale"] is None
    np.testing.assert_array_equal(vol(b), ct.stored)
    assert load_dicom(tmp_path / "ct", raw=True, dtype="float32")["volume"].dtype == torch.float32


def test_windows(ct, tmp_path):
    b = load_dicom(tmp_path / "ct", window="lung")
    expected = np.clip((ct.hu - (-600 - 750)) / 1500, 0, 1)
    np.testing.assert_allclose(vol(b), expected, atol=1e-6)
    b = load_dicom(tmp_path / "ct", window="40,400")
    np.testing.assert_allclose(vol(b), np.clip((ct.hu + 160) / 400, 0, 1), atol=1e-6)
    assert b.meta["window"]["range"] == [-160, 240]
    with pytest.raises(OptionError):
        load_dicom(tmp_path / "ct", window="wide")
    with pytest.raises(OptionError):
        load_dicom(tmp_path / "ct", window="lung", raw=True)


@pytest.mark.parametrize("layout,shape", [("ncdhw", (1, 1, 8, 20, 24)), ("cdhw", (1, 8, 20, 24)),
                                          ("ndhw", (1, 8, 20, 24)), ("dhw", (8, 20, 24))])
def test_layouts(ct, tmp_path, layout, shape):
    b = load_dicom(tmp_path / "ct", layout=layout, dtype="float64")
    assert tuple(b["volume"].shape) == shape and b["volume"].dtype == torch.float64
    np.testing.assert_array_equal(b["volume"].reshape(8, 20, 24).numpy(), ct.hu)


def test_missing_slice_warns_and_strict_refuses(tmp_path):
    w = write_series(tmp_path / "gap", phantom(8, 16, 16), missing=[4])
    b = load_dicom(tmp_path / "gap")
    (gap,) = b.meta["gaps"]
    assert gap["between"] == [3, 4] and gap["expected_mm"] == 2.5 and gap["found_mm"] == 5.0
    assert gap["files"] == [str(w.files[3]), str(w.files[4])]
    assert any("expected 2.5 mm, found 5 mm" in m for m in b.meta["warnings"])
    np.testing.assert_array_equal(vol(b), w.hu.astype(np.float32))
    with pytest.raises(InputError, match="uneven slice spacing"):
        load_dicom(tmp_path / "gap", strict=True)


def test_two_series_and_a_localizer_in_one_folder(tmp_path):
    study = "1.2.3.4"
    a = write_series(tmp_path / "mix", phantom(5, 16, 16, seed=3), series_number=2, prefix="a", description="A",
                     study_uid=study)
    b = write_series(tmp_path / "mix", phantom(7, 12, 12, seed=4), series_number=3, prefix="b", description="B",
                     modality="MR", intercepts=0, study_uid=study)
    write_localizer(tmp_path / "mix", a.series_uid, study)
    (tmp_path / "mix" / "notes.txt").write_text("not dicom")
    rows = list_dicom_series(tmp_path / "mix")
    assert [(r["description"], r["slices"], r["kind"]) for r in rows] == [
        ("A", 5, "volume"), ("synthetic CT", 1, "localizer"), ("B", 7, "volume")]
    assert rows[0]["spacing_mm"] == [2.5, 0.7, 0.7] and rows[0]["orientation"] == "axial"
    assert rows[1]["orientation"] == "coronal"
    assert "SYNTHETIC" not in repr(rows)  # no patient identifiers
    with pytest.raises(SeriesChoiceError, match="2 series could be loaded") as info:
        load_dicom(tmp_path / "mix")
    assert len(info.value.series) == 3
    one = load_dicom(tmp_path / "mix", series=2)
    np.testing.assert_array_equal(vol(one), b.hu.astype(np.float32))
    assert one.meta["not_dicom_files"] == 1
    np.testing.assert_array_equal(vol(load_dicom(tmp_path / "mix", series=a.series_uid)), a.hu.astype(np.float32))
    with pytest.raises(RuntimeError, match="Size mismatch"):  # SimpleITK takes the localizer into the series
        sitk_read(tmp_path / "mix", a.series_uid)
    every = load_dicom(tmp_path / "mix", all_series=True)
    assert list(every.tensors) == ["volume_0", "volume_1"]
    assert [m["series_description"] for m in every.meta["series"]] == ["A", "B"]
    with pytest.raises(OptionError, match="localizer"):
        load_dicom(tmp_path / "mix", series=1)


def test_simpleitk_stacks_the_localizer_tensortool_does_not(tmp_path):
    """A documented difference: GDCM's series file names include the localizer with the same UID."""
    a = write_series(tmp_path / "loc", phantom(5, 32, 48, seed=3))
    write_localizer(tmp_path / "loc", a.series_uid)
    names = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(tmp_path / "loc"))
    assert len(names) == 6
    b = load_dicom(tmp_path / "loc")
    assert b["volume"].shape[2] == 5


def test_gantry_tilt(tmp_path):
    w = write_series(tmp_path / "tilt", phantom(6, 16, 16), tilt_deg=15)
    b = load_dicom(tmp_path / "tilt")
    assert b.meta["gantry_tilt_deg"] == pytest.approx(15, abs=0.01)
    assert any("gantry tilt" in m for m in b.meta["warnings"])
    affine = np.array(b.meta["affine_lps"])
    for k, ds in enumerate(pydicom.dcmread(f, stop_before_pixels=True) for f in b.meta["files"]):
        np.testing.assert_allclose((affine @ [k, 0, 0, 1])[:3], np.array(ds.ImagePositionPatient, float), atol=1e-3)
    assert b.meta["gaps"] == []


def test_duplicate_positions_refused_or_split(tmp_path):
    stored = phantom(8, 16, 16, seed=5)
    dist = [0, 0, 2.5, 2.5, 5, 5, 7.5, 7.5]
    w = write_series(tmp_path / "dup", stored, positions=dist, temporal=[1, 2] * 4)
    with pytest.raises(InputError, match="share a position"):
        load_dicom(tmp_path / "dup")
    b = load_dicom(tmp_path / "dup", split_duplicates=True)
    assert b["volume"].shape == (2, 1, 4, 16, 16) and b.meta["repeats"] == 2
    np.testing.assert_array_equal(b["volume"][0, 0].numpy(), w.hu[0::2].astype(np.float32))
    np.testing.assert_array_equal(b["volume"][1, 0].numpy(), w.hu[1::2].astype(np.float32))
    assert b.meta["spacing_mm"][0] == 2.5
    with pytest.raises(OptionError):
        load_dicom(tmp_path / "dup", split_duplicates=True, layout="dhw")


def test_multiframe_equals_the_series(tmp_path):
    stored = phantom(6, 16, 16, seed=6)
    series = write_series(tmp_path / "s", stored, slopes=[1, 1, 2, 2, 1, 1])
    write_multiframe(tmp_path / "mf.dcm", stored, slopes=[1, 1, 2, 2, 1, 1], frame_order=[3, 0, 5, 1, 4, 2])
    a, b = load_dicom(tmp_path / "s"), load_dicom(tmp_path / "mf.dcm")
    np.testing.assert_array_equal(vol(a), vol(b))
    np.testing.assert_array_equal(vol(b), series.hu.astype(np.float32))
    for key in ("spacing_mm", "origin_mm", "direction", "affine_lps"):
        assert a.meta[key] == b.meta[key]


def test_real_ct_series_against_simpleitk():
    folder = DIRTESTS / "98892001" / "CT5N"  # 5 axial slices, z descending with InstanceNumber
    b = load_dicom(folder)
    ref = sitk_read(folder)
    np.testing.assert_array_equal(vol(b), sitk.GetArrayFromImage(ref))
    assert b.meta["spacing_mm"] == pytest.approx(ref.GetSpacing()[::-1], abs=1e-5)
    assert b.meta["origin_mm"] == pytest.approx(ref.GetOrigin(), abs=1e-4)
    assert b.meta["slice_positions_mm"] == sorted(b.meta["slice_positions_mm"])


def test_real_folder_tree_lists_localizers_and_candidates():
    rows = list_dicom_series(DIRTESTS / "98892001")
    assert [(r["description"], r["kind"], r["orientation"]) for r in rows] == [
        ("Scout", "localizer", "sagittal"), ("SmartScore - Gated 0.5 sec", "volume", "axial")]
    assert load_dicom(DIRTESTS / "98892001")["volume"].shape == (1, 1, 5, 16, 16)


def test_real_multiframe_rtdose():
    path = TEST_FILES / "rtdose.dcm"
    ds = pydicom.dcmread(path)
    b = load_dicom(path)
    expected = ds.pixel_array.astype(np.float64) * float(ds.DoseGridScaling)
    np.testing.assert_allclose(vol(b), expected, rtol=1e-6)
    assert b.meta["spacing_mm"] == [5.0, 10.0, 10.0] and b.meta["frames"] == 15
    assert b.meta["value_unit"] == str(ds.DoseUnits)


@pytest.mark.parametrize("name", ["MR_small_RLE.dcm", "MR_small_jp2klossless.dcm", "MR_small_jpeg_ls_lossless.dcm"])
def test_lossless_compressed_equals_uncompressed(name):
    ref = load_dicom(TEST_FILES / "MR_small.dcm")
    b = load_dicom(TEST_FILES / name)
    np.testing.assert_array_equal(vol(b), vol(ref))
    np.testing.assert_array_equal(vol(ref)[0], pydicom.dcmread(TEST_FILES / "MR_small.dcm").pixel_array.astype(np.float32))


def test_missing_decoder_names_transfer_syntax_and_extra(monkeypatch):
    from pydicom.pixels import get_decoder
    from pydicom.uid import JPEG2000Lossless

    monkeypatch.setattr(get_decoder(JPEG2000Lossless), "_available", {})
    with pytest.raises(InputError) as info:
        load_dicom(TEST_FILES / "MR_small_jp2klossless.dcm")
    text = str(info.value)
    assert "JPEG 2000 Image Compression (Lossless Only)" in text and 'pip install "tensortool[dicom]"' in text
    assert "MR_small_jp2klossless.dcm" in text and "\n" not in text


def test_rgb_and_ybr(tmp_path):
    rgb = load_dicom(TEST_FILES / "SC_rgb_rle.dcm")
    ybr = load_dicom(TEST_FILES / "SC_ybr_full_422_uncompressed.dcm", layout="cdhw")
    assert rgb["volume"].shape == (1, 3, 1, 100, 100) and ybr["volume"].shape == (3, 1, 100, 100)
    ref = pydicom.dcmread(TEST_FILES / "SC_rgb_rle.dcm").pixel_array  # H×W×3 RGB
    np.testing.assert_array_equal(rgb["volume"][0, :, 0].permute(1, 2, 0).numpy(), ref)
    # the same picture stored as YBR_FULL_422: converted to RGB, equal up to chroma subsampling
    assert float((ybr["volume"][:, 0] - rgb["volume"][0, :, 0]).abs().mean()) < 2
    with pytest.raises(OptionError, match="channel axis"):
        load_dicom(TEST_FILES / "SC_rgb_rle.dcm", layout="dhw")


def test_truncated_slice_errors_or_is_skipped_with_the_gap(tmp_path):
    w = write_series(tmp_path / "t", phantom(6, 16, 16))
    data = w.files[2].read_bytes()
    w.files[2].write_bytes(data[: len(data) - 100])
    with pytest.raises(InputError) as info:
        load_dicom(tmp_path / "t")
    assert str(w.files[2]) in str(info.value)
    b = load_dicom(tmp_path / "t", skip_bad=True)
    assert [s["file"] for s in b.meta["skipped"]] == [str(w.files[2])]
    assert b.meta["gaps"][0]["found_mm"] == 5.0
    np.testing.assert_array_equal(vol(b), w.hu[[0, 1, 3, 4, 5]].astype(np.float32))


def test_inconsistent_rows_columns_name_the_odd_files(tmp_path):
    w = write_series(tmp_path / "odd", phantom(5, 16, 16))
    odd = write_series(tmp_path / "odd", phantom(1, 16, 20), series_uid=w.series_uid, prefix="odd",
                       origin=(-22.0, -22.0, -80.0))
    with pytest.raises(InputError, match="mixes image sizes") as info:
        load_dicom(tmp_path / "odd")
    assert str(odd.files[0]) in str(info.value)


def test_no_dicom_at_all(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(InputError, match="no DICOM images"):
        load_dicom(tmp_path)
    with pytest.raises(InputError, match="no such file"):
        load_dicom(tmp_path / "missing")


@pytest.mark.filterwarnings("ignore:The pixel data is .* bytes long")
@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "MR_small_implicit.dcm", "MR_small_padded.dcm",
                                  "MR_small_bigendian.dcm", "MR_small_expb.dcm"])
def test_direct_read_equals_pydicom(name):
    """Uncompressed little-endian grey files are read with np.fromfile; the result must be pydicom's."""
    from tensortool.sources.dicom.scan import read_headers

    (header,) = read_headers(TEST_FILES / name)
    assert (header.native is not None) == (name in ("CT_small.dcm", "MR_small.dcm", "MR_small_implicit.dcm"))
    b = load_dicom(TEST_FILES / name, raw=True)
    np.testing.assert_array_equal(vol(b)[0], pydicom.dcmread(TEST_FILES / name).pixel_array)


@pytest.mark.parametrize("signed", [True, False])
def test_direct_read_ignores_bits_above_bits_stored(tmp_path, signed):
    from pydicom.uid import ImplicitVRLittleEndian

    stored = phantom(1, 8, 8, seed=9, dtype=np.int16 if signed else np.uint16, high=2000)
    w = write_series(tmp_path / "b", stored)
    ds = pydicom.dcmread(w.files[0])
    ds.BitsStored, ds.HighBit = 12, 11
    raw = np.frombuffer(ds.PixelData, dtype="<i2" if signed else "<u2").copy()
    raw[::3] |= np.array(0x7000 if not signed else 0x5000, dtype=raw.dtype)  # junk in the unused bits
    ds.PixelData = raw.tobytes()
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.save_as(w.files[0], enforce_file_format=True)
    b = load_dicom(w.files[0], raw=True)
    np.testing.assert_array_equal(vol(b)[0], pydicom.dcmread(w.files[0]).pixel_array)


@pytest.mark.parametrize("dtype,slopes,intercepts", [
    (np.int16, 1.0, 0.0),  # copy only
    (np.int16, 1.0, -1024.0),  # one add
    (np.uint16, 1.0, -1024.0),  # PixelRepresentation 0, values above int16
    (np.uint16, [0.5, 2.5, 1.0, 0.25], [-3.5, 0.0, 7.0, -1024.0]),  # multiply, then add
])
def test_each_rescale_path_equals_simpleitk_and_the_generator(tmp_path, dtype, slopes, intercepts):
    stored = phantom(4, 12, 14, seed=5, dtype=dtype, high=60000 if dtype == np.uint16 else 3000)
    w = write_series(tmp_path / "r", stored, slopes=slopes, intercepts=intercepts)
    b = load_dicom(tmp_path / "r")
    np.testing.assert_array_equal(vol(b), sitk.GetArrayFromImage(sitk_read(tmp_path / "r")))
    np.testing.assert_allclose(vol(b), w.hu, rtol=1e-6)
    np.testing.assert_array_equal(load_dicom(tmp_path / "r", dtype="float64")["volume"][0, 0].numpy(), w.hu)
    raw = load_dicom(tmp_path / "r", raw=True)["volume"][0, 0].numpy()
    np.testing.assert_array_equal(raw, stored)


def test_all_series_skip_bad_skips_a_bad_series_and_goes_on(tmp_path):
    study = "1.2.3.4"
    bad = write_series(tmp_path / "d", phantom(4, 16, 16, seed=7), positions=[0, 0, 2.5, 5], series_number=1,
                       study_uid=study, prefix="a")
    good = write_series(tmp_path / "d", phantom(5, 16, 16, seed=8), series_number=2, study_uid=study, prefix="b")
    also = write_series(tmp_path / "d", phantom(3, 12, 12, seed=9), series_number=3, study_uid=study, prefix="c")
    with pytest.raises(InputError, match="share a position"):
        load_dicom(tmp_path / "d", all_series=True)
    b = load_dicom(tmp_path / "d", all_series=True, skip_bad=True)
    assert sorted(b.tensors) == ["volume_0", "volume_1"]
    np.testing.assert_array_equal(vol(b, "volume_0"), good.hu.astype(np.float32))
    np.testing.assert_array_equal(vol(b, "volume_1"), also.hu.astype(np.float32))
    assert [m["series_uid"] for m in b.meta["series"]] == [good.series_uid, also.series_uid]
    (skip,) = b.meta["skipped_series"]
    assert skip["series_uid"] == bad.series_uid and skip["series_index"] == 0
    assert "share a position" in skip["error"]
    assert any("series 0" in w and "share a position" in w for w in b.meta["warnings"])


@pytest.mark.parametrize("tilt_deg", [0.0, 12.0])
def test_after_a_gap_spacing_and_affine_agree_and_positions_are_the_truth(tmp_path, tilt_deg):
    dist = [0.0, 1.25, 2.5, 3.75, 5.0, 410.0]  # a far-away last slice: the mean step is 82 mm, the median 1.25
    w = write_series(tmp_path / "g", phantom(6, 16, 16, seed=4), positions=dist, tilt_deg=tilt_deg)
    b = load_dicom(tmp_path / "g")
    m = b.meta
    affine = np.array(m["affine_lps"])
    normal = np.array([0.0, 0.0, 1.0])  # the writer's axial slices
    assert m["spacing_mm"][0] == pytest.approx(1.25)
    assert float(np.dot(affine[:3, 0], normal)) == pytest.approx(m["spacing_mm"][0])  # the same slice step
    for k in range(5):  # the affine is exact up to the gap (the writer shears a tilted stack along y)
        where = np.array(w.positions[k]) + [0.0, dist[k] * np.tan(np.radians(tilt_deg)), 0.0]
        np.testing.assert_allclose(affine @ [k, 0, 0, 1], [*where, 1], atol=1e-3)
    assert m["gaps"] and m["resample_with"] == "slice_positions_mm"
    assert m["slice_positions_mm"] == pytest.approx([d - 100.0 for d in dist])  # the real distances
    assert any("slice_positions_mm" in x for x in m["warnings"])


def test_even_slices_resample_with_the_affine(ct, tmp_path):
    assert load_dicom(tmp_path / "ct").meta["resample_with"] == "affine_lps"
