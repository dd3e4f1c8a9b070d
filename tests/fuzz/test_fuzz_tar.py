"""WebDataset-style tar shards under the hostile-input contract: brace patterns that would expand to
huge lists, crafted archives of each kind, then property tests over mutated tars of small images and
over archives built from hostile members (names, types, sizes, class members)."""

from __future__ import annotations

import io
import json
import os
import tarfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.contract import FUZZ, SAMPLES, check, mutate, mutations
from tensortool import InputError, dataset_stats, load_images
from tensortool.bundle import Bundle
from tensortool.sources.image.files import find_images

IMAGES = {name: (SAMPLES / "special" / name).read_bytes() for name in ("gray.png", "palette.png", "picture.bmp")}
MAX_PIXELS = 1_000_000


def member(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, **fields) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.size = kind, len(data) if kind in tarfile.REGULAR_TYPES else 0
    for key, value in fields.items():
        setattr(info, key, value)
    return info, data


def archive(members, fmt: int = tarfile.GNU_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buf.getvalue()


def _set_size(data: bytes, size_field: bytes) -> bytes:
    """The first member header's size field replaced (and its checksum fixed), the rest unchanged."""
    head = bytearray(data[:512])
    head[124:136] = size_field
    head[148:156] = b" " * 8
    head[148:156] = b"%06o\0 " % sum(head)
    return bytes(head) + data[512:]


def _valid(label: str = "cls") -> list:
    out = []
    for i, (name, data) in enumerate(sorted(IMAGES.items())):
        out.append(member(f"s{i}.{name.rsplit('.', 1)[1]}", data))
        out.append(member(f"s{i}.cls", b"%d\n" % i) if label == "cls" else
                   member(f"s{i}.json", json.dumps({"label": name}).encode()))
    return out


PNG = IMAGES["gray.png"]
CRAFTED = {
    "cls of 5000 digits": lambda: archive([member("a.png", PNG), member("a.cls", b"9" * 5000)]),
    "cls 10**12": lambda: archive([member("a.png", PNG), member("a.cls", b"999999999999")]),
    "cls -1": lambda: archive([member("a.png", PNG), member("a.cls", b"-1")]),
    "cls not UTF-8": lambda: archive([member("a.png", PNG), member("a.cls", b"\xff\xfe")]),
    "cls too large": lambda: archive([member("a.png", PNG), member("a.cls", b"1" * 70_000)]),
    "json cls 10**14": lambda: archive([member("a.png", PNG), member("a.json", b'{"cls": 99999999999999}')]),
    "json cls 1e400": lambda: archive([member("a.png", PNG), member("a.json", b'{"cls": 1e400, "label": 3}')]),
    "json nested deeply": lambda: archive([member("a.png", PNG), member("a.json", b"[" * 60_000)]),
    "json not an object": lambda: archive([member("a.png", PNG), member("a.json", b"[1, 2]")]),
    "json NaN": lambda: archive([member("a.png", PNG), member("a.json", b'{"label": NaN}')]),
    "name with a newline": lambda: archive([member("a\nb.png", b"not an image")]),
    "name with control characters": lambda: archive([member("a\x1b[2J\r.png", b"not an image")]),
    "name of 5000 characters (pax)": lambda: archive([member("x" * 5000 + ".png", PNG)], tarfile.PAX_FORMAT),
    "name of 5000 characters (GNU)": lambda: archive([member("x" * 5000 + ".png", PNG)], tarfile.GNU_FORMAT),
    "names with .. and /": lambda: archive([member("../../a.png", PNG), member("/etc/b.png", PNG)]),
    "size 0": lambda: archive([member("a.png", b"")]),
    "size 8 GB past the end": lambda: _set_size(archive([member("a.png", PNG)]), b"77777777777\0"),
    "size 2**88 (base-256)": lambda: _set_size(archive([member("a.png", PNG)]), b"\x80" + b"\xff" * 11),
    "size past the end, cut": lambda: archive([member("a.png", PNG)])[:600],
    # tarfile reads a long name or a pax header whole, of the size its header claims
    "GNU long name of 1 TB": lambda: _set_size(archive([member("x" * 200 + ".png", PNG)]),
                                               b"\x80" + b"\0" * 5 + b"\1" + b"\0" * 5),
    "pax header of 8 GB": lambda: _set_size(archive([member("x" * 200 + ".png", PNG)], tarfile.PAX_FORMAT),
                                            b"77777777777\0"),
    "links and devices": lambda: archive([
        member("a.png", kind=tarfile.SYMTYPE, linkname="/etc/passwd"), member("b.png", kind=tarfile.LNKTYPE, linkname="a.png"),
        member("c.png", kind=tarfile.CHRTYPE, devmajor=1, devminor=3), member("d.png", kind=tarfile.DIRTYPE),
        member("e.png", kind=tarfile.FIFOTYPE), member("f.png", PNG)]),
    "only links": lambda: archive([member("a.png", kind=tarfile.SYMTYPE, linkname="/dev/zero")]),
    "duplicate keys": lambda: archive([member("x/a.png", PNG), member("y/a.png", PNG), member("x/a.png", b"bad"),
                                       member("x/a.cls", b"1"), member("y/a.cls", b"2"), member("x/a.cls", b"-7")]),
    "empty archive": lambda: archive([]),
    "not a tar": lambda: b"hello" * 300,
}


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_crafted_tar_gives_images_or_one_error_naming_it(name, tmp_path):
    path = tmp_path / "x.tar"
    path.write_bytes(CRAFTED[name]())
    before = sorted(p.name for p in tmp_path.iterdir())
    for call in (lambda: load_images(path, max_pixels=MAX_PIXELS, workers=1),
                 lambda: dataset_stats([path], max_pixels=MAX_PIXELS, workers=1, skip_bad=True)):
        result = check(call)
        if isinstance(result, InputError):
            assert str(path) in str(result), result
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # read in place: nothing extracted


@pytest.mark.parametrize("pattern", ["a-{0..999999999}.tar", "a-{0..99999}-{0..99999}.tar",
                                     "{a,b,c}-{0..9999}-{0..9999}.tar",
                                     "a-{0.." + "9" * 5000 + "}.tar", "a-{" + "9" * 5000 + "..0}.tar"])
def test_huge_brace_patterns_are_refused_at_once(pattern, tmp_path):
    result = check(lambda: find_images([str(tmp_path / pattern)]), seconds=1.0)
    assert isinstance(result, InputError), result
    assert "{" in str(result)  # names the pattern as given, not one of its expansions


# ---------------------------------------------------------------- property tests

SEEDS = [archive(_valid("cls")), archive(_valid("json"), tarfile.PAX_FORMAT),
         archive(_valid("cls"), tarfile.USTAR_FORMAT)]
SPECIAL = [b"\x00", b"\xff", b"0", b"7", b"\x80", b"ustar", b"././@LongLink", b" ", b"../", b"/", b"x" * 100,
           b"PaxHeader", b"99999999999", b"\x89PNG"]


@FUZZ
@given(seed=st.sampled_from(SEEDS), steps=st.lists(mutations(SPECIAL), min_size=1, max_size=4),
       header=st.booleans())
def test_fuzz_mutated_tars(seed, steps, header, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tar")
    path = folder / "x.tar"
    # Half the time the edits land in the first headers, where tarfile's parsing is.
    path.write_bytes(mutate(seed[:1536], steps) + seed[1536:] if header else mutate(seed, steps))
    result = check(lambda: load_images(path, max_pixels=MAX_PIXELS, workers=1))
    if isinstance(result, Bundle):
        assert len(result.meta["files"]) == result["images"].shape[0] >= 1
        assert all(f.startswith(f"{path}:") for f in result.meta["files"])
    else:
        assert str(path) in str(result), result
    check(lambda: dataset_stats([path], max_pixels=MAX_PIXELS, workers=2, skip_bad=True))
    assert os.listdir(folder) == ["x.tar"]


_NAMES = ["a.png", "a.cls", "a.json", "../a.png", "/tmp/a.png", "a/../../b.png", "x" * 300 + ".png", "b.PNG",
          "dir/a.png", "a.b.c.png", ".png", "a.", "a\nb.png", "\xe9.png", "a.png/", "c.cls", "c.bmp"]
_CLASS_TEXT = [b"0", b"1", b"-3", b"9" * 30, b"9" * 5000, b"1.5", b"", b" 7 ", b"\xff\xfe", b"cat", b"\x00",
               b'{"cls": 2}', b'{"label": "dog"}', b'{"cls": -1}', b'{"class": 1e400}', b'{"cls": 10000000000000}',
               b"[" * 5000, b'{"cls": {"cls": 1}}', b"null", b'{"label": true}', b"NaN"]
_KINDS = [tarfile.REGTYPE, tarfile.REGTYPE, tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.DIRTYPE,
          tarfile.CHRTYPE, tarfile.FIFOTYPE, tarfile.CONTTYPE, tarfile.GNUTYPE_SPARSE]


@st.composite
def hostile_archive(draw) -> bytes:
    members = []
    for _ in range(draw(st.integers(1, 6))):
        name = draw(st.sampled_from(_NAMES))
        kind = draw(st.sampled_from(_KINDS))
        if name.endswith((".cls", ".json")):
            data = draw(st.sampled_from(_CLASS_TEXT))
        else:
            data = draw(st.sampled_from(list(IMAGES.values()) + [b"", b"junk"]))
        members.append(member(name, data, kind, linkname=draw(st.sampled_from(["", "a.png", "/etc/passwd", "../x"]))))
    data = archive(members, draw(st.sampled_from([tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])))
    cut = draw(st.sampled_from([None, None, 512, 1024, len(data) - 1024, len(data) // 2]))
    return data if cut is None else data[:max(cut, 0)]


@FUZZ
@given(data=hostile_archive())
def test_fuzz_hostile_members(data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("members")
    path = folder / "x.tar"
    path.write_bytes(data)
    result = check(lambda: load_images(path, max_pixels=MAX_PIXELS, workers=1))
    if isinstance(result, Bundle):
        n = result["images"].shape[0]
        assert n == len(result.meta["files"]) >= 1
        if "labels" in result.tensors:
            labels = result["labels"]
            assert len(labels) == n and 0 <= int(labels.min()) and int(labels.max()) < len(result.meta["class_names"])
    else:
        assert str(path) in str(result), result
    check(lambda: dataset_stats([path, path], max_pixels=MAX_PIXELS, workers=1, skip_bad=True))
    assert os.listdir(folder) == ["x.tar"]
