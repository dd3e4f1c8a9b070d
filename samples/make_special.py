"""Generate the synthetic edge-case images in samples/special/.

Run from the repo root:  python samples/make_special.py
Deterministic: no randomness, only numpy + PIL (+ zlib/struct for 16-bit PNG).
"""
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

OUT = Path(__file__).resolve().parent / "special"
H, W = 48, 64  # base picture size (height, width)


def picture(h=H, w=W):
    """Smooth RGB test picture: gradient background, a circle, a square, text."""
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([255 * x / (w - 1), 255 * y / (h - 1), np.full((h, w), 160.0)], -1)
    im = Image.fromarray(rgb.round().astype(np.uint8), "RGB")
    d = ImageDraw.Draw(im)
    d.ellipse((w * 0.55, h * 0.15, w * 0.95, h * 0.7), fill=(250, 220, 40))
    d.rectangle((w * 0.08, h * 0.55, w * 0.35, h * 0.9), fill=(30, 30, 120))
    d.text((3, 2), "tt", fill=(255, 255, 255))  # PIL's built-in default font
    return im


def write_png16(path, a):
    """Minimal PNG writer for uint16 gray (HxW) or RGB (HxWx3): PIL can't save 16-bit RGB."""
    a = np.asarray(a, dtype=">u2")  # PNG stores samples big-endian
    color_type = 0 if a.ndim == 2 else 2
    h, w = a.shape[:2]
    raw = b"".join(b"\x00" + a[r].tobytes() for r in range(h))  # filter type 0 per row

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                           + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main():
    OUT.mkdir(exist_ok=True)
    pic = picture()
    y, x = np.mgrid[0:H, 0:W]
    inside = (x - W / 2) ** 2 + (y - H / 2) ** 2 <= (H / 2 - 2) ** 2

    # RGBA: opaque disc, transparent outside, plus a soft alpha ramp across the disc.
    alpha = np.where(inside, 255 - 127 * x / (W - 1), 0).round().astype(np.uint8)
    rgba = pic.copy()
    rgba.putalpha(Image.fromarray(alpha, "L"))
    rgba.save(OUT / "rgba.png")

    gray = pic.convert("L")
    gray.save(OUT / "gray.png")

    # 16-bit gray over the full 0..65535 range; a diagonal ramp hits 0 and 65535 at the
    # corners, and most values are not multiples of 257, so 8-bit truncation is visible.
    ramp = (x / (W - 1) + y / (H - 1)) / 2
    g16 = np.where(inside & (x < W / 2), 1 - ramp, ramp)  # half disc inverted: a visible shape
    write_png16(OUT / "gray16.png", (g16 * 65535).round())

    # 16-bit RGB: red ramps with x, green with y, blue is radial distance from the centre.
    r = np.hypot(x - W / 2, y - H / 2) / np.hypot(W / 2, H / 2)
    rgb16 = np.stack([x / (W - 1), y / (H - 1), 1 - r / r.max()], -1)
    write_png16(OUT / "rgb16.png", (rgb16 * 65535).round())

    # EXIF Orientation 6: draw the upright (portrait 80x48) view, then store it rotated
    # 90 degrees counter-clockwise; a viewer applying the tag rotates it back upright.
    upright = Image.new("RGB", (48, 80), (235, 235, 235))
    d = ImageDraw.Draw(upright)
    d.polygon([(24, 4), (42, 26), (31, 26), (31, 52), (17, 52), (17, 26), (6, 26)], fill=(200, 30, 30))
    d.text((14, 58), "UP", fill=(0, 0, 0), font=ImageFont.load_default(size=14))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # 48 high x 80 wide
    exif = stored.getexif()
    exif[0x0112] = 6
    stored.save(OUT / "exif_rotate90.jpg", quality=90, exif=exif)

    pic.quantize(colors=16, dither=Image.Dither.NONE).save(OUT / "palette.png")

    la = Image.merge("LA", (gray, Image.fromarray(alpha, "L")))
    la.save(OUT / "gray_alpha.png")

    pic.convert("CMYK").save(OUT / "cmyk.jpg", quality=90)

    # GIF: 3 clearly different frames (a disc moving left to right, changing colour).
    frames = []
    for i, color in enumerate([(220, 40, 40), (40, 180, 40), (40, 60, 220)]):
        f = Image.new("RGB", (W, H), (250, 250, 250))
        cx = 12 + i * 20
        ImageDraw.Draw(f).ellipse((cx - 10, 14, cx + 10, 34), fill=color)
        frames.append(f)
    frames[0].save(OUT / "animated.gif", save_all=True, append_images=frames[1:], duration=200, loop=0)

    pic.save(OUT / "picture.bmp")
    pic.save(OUT / "picture.tif")
    pic.save(OUT / "picture.webp", lossless=True)

    (OUT / "not_an_image.jpg").write_bytes(b"this is not a JPEG\n")

    # Truncated JPEG: a bigger picture so the cut lands inside the entropy-coded scan data.
    buf = OUT / "truncated.jpg"
    picture(96, 128).save(buf, quality=95)
    data = buf.read_bytes()
    assert data.index(b"\xff\xda") < len(data) // 2, "cut must fall after start-of-scan"
    buf.write_bytes(data[: len(data) // 2])


if __name__ == "__main__":
    main()
