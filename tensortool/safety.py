"""Header parsing that more than one reader trusts to size its work before decoding."""

from __future__ import annotations

JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # the frame headers libjpeg reads
JPEG_LS_SOF = JPEG_SOF | {0xF7}  # JPEG-LS adds SOF55


def jpeg_frame(src: bytes, sof: frozenset[int] = JPEG_SOF) -> tuple[int, int, int] | None:
    """(height, width, components) of the first frame header after SOI, skipping markers and the
    garbage between them as libjpeg does; None when there is none before a scan or the end."""
    pos, n = 2, len(src)
    while pos + 4 <= n:
        if src[pos] != 0xFF:  # garbage between markers: libjpeg skips to the next 0xFF
            pos = src.find(b"\xff", pos)
            if pos < 0:
                return None
            continue
        marker = src[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
        elif marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # TEM, SOI, RSTn: no length
            pos += 2
        elif marker in sof:
            if pos + 10 > n:
                return None
            return (int.from_bytes(src[pos + 5:pos + 7], "big"), int.from_bytes(src[pos + 7:pos + 9], "big"),
                    src[pos + 9])
        elif marker in (0xD9, 0xDA):  # end of image, or a scan before any frame header
            return None
        else:
            pos += 2 + int.from_bytes(src[pos + 2:pos + 4], "big")
    return None
