"""Mutated image files of every format through load-image's reader and through stats."""

from __future__ import annotations

import json

from hypothesis import given, strategies as st

from tests.fuzz.contract import FUZZ, SAMPLES, check, seeds
from tensortool import dataset_stats, load_images
from tensortool.tensorfile import write_bundle

# Small files only: each example decodes in milliseconds. The limit keeps a mutated header that
# claims a large image (the data then cut short) quick to refuse or decode.
SEEDS = seeds("special/*", limit=40) + [p.read_bytes() for p in sorted(SAMPLES.glob("images/*/*"))[:3]]
MAX_PIXELS = 4_000_000


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        if len(data) < 2:
            break
        where = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "set", "cut", "insert", "drop"]))
        if action == "flip":
            data[where] ^= 1 << draw(st.integers(0, 7))
        elif action == "set":
            data[where] = draw(st.sampled_from([0, 1, 2, 3, 4, 6, 8, 16, 0x7F, 0x80, 0xFF]))
        elif action == "cut":
            del data[max(where, 1):]
        elif action == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=12))
        else:
            del data[where:where + draw(st.integers(1, 64))]
    return bytes(data)


@FUZZ
@given(data=mutated(), mode=st.sampled_from(["rgb", "gray", "rgba", "unchanged"]))
def test_load_image_survives_mutated_images(tmp_path, data, mode):
    source, out = tmp_path / "input.png", tmp_path / "out.pt"
    source.write_bytes(data)
    out.unlink(missing_ok=True)
    result = check(lambda: write_bundle(load_images(source, mode=mode, max_pixels=MAX_PIXELS, workers=1), out,
                                        inputs=[source]), outputs=[out])
    if not isinstance(result, Exception):
        assert out.exists()


@FUZZ
@given(data=mutated())
def test_stats_survives_mutated_images(tmp_path, data):
    source, out = tmp_path / "input.png", tmp_path / "stats.json"
    source.write_bytes(data)
    out.unlink(missing_ok=True)

    def run():
        doc = dataset_stats([source, source.with_name("second.png")], max_pixels=MAX_PIXELS, workers=2,
                            skip_bad=True).to_json()
        out.write_text(json.dumps(doc))
        return doc

    source.with_name("second.png").write_bytes((SAMPLES / "special" / "gray.png").read_bytes())
    check(run, outputs=[out])
