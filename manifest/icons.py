"""Rapport's icons, drawn in code, and a small PNG reader and writer (stdlib only: zlib + struct).

Why in code: the app package needs exact sizes (Teams: 192x192 colour, 32x32 white-on-transparent
outline; Outlook ribbon: 16/32/80 plus 64/128 for the generated XML manifest), and a script keeps
them reproducible without an image editor or Pillow. The reader is what `rapport manifest validate`
uses to check sizes and transparency of whatever icons the package is given.

Run `python -m manifest.icons` to redraw the PNGs in manifest/icons/ (they are committed).
"""

from __future__ import annotations

import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

ICON_DIR = Path(__file__).resolve().parent / "icons"
ACCENT = (0x1F, 0x4E, 0x79)  # the manifest's accentColor, #1F4E79
WHITE = (0xFF, 0xFF, 0xFF)
# Outlook ribbon and alternate icons (served by the task pane's static route under /addin/icons/);
# 25/48/50/75/96/144 complete the mobile button's 25, 32 and 48 px at scales 1, 2 and 3.
RIBBON_SIZES = (16, 32, 64, 80, 128, 25, 48, 50, 75, 96, 144)

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class PngError(ValueError):
    """The bytes are not a PNG this reader understands; the message says what is wrong."""


@dataclass(frozen=True)
class Image:
    width: int
    height: int
    pixels: list[tuple[int, int, int, int]]  # RGBA, row-major
    has_alpha_channel: bool  # colour type with alpha or a tRNS chunk

    def pixel(self, x: int, y: int) -> tuple[int, int, int, int]:
        return self.pixels[y * self.width + x]


# --- writing -------------------------------------------------------------------------------------

def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(width: int, height: int, pixels: list[tuple[int, int, int, int]]) -> bytes:
    """8-bit RGBA, non-interlaced, filter 0 on every row: simple and readable by every client."""
    if len(pixels) != width * height:
        raise ValueError("pixel count does not match the size")
    raw = bytearray()
    for y in range(height):
        raw.append(0)
        for r, g, b, a in pixels[y * width:(y + 1) * width]:
            raw += bytes((r, g, b, a))
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return _SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + _chunk(b"IEND", b"")


# --- reading -------------------------------------------------------------------------------------

_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def decode_png(data: bytes) -> Image:
    """Decode an 8-bit, non-interlaced PNG of any colour type into RGBA pixels."""
    if not data.startswith(_SIGNATURE):
        raise PngError("not a PNG file")
    pos, ihdr, idat, palette, trns = 8, None, bytearray(), b"", b""
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            ihdr = body
        elif kind == b"PLTE":
            palette = body
        elif kind == b"tRNS":
            trns = body
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    if ihdr is None or len(ihdr) != 13:
        raise PngError("PNG has no valid IHDR chunk")
    width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", ihdr)
    if depth != 8 or interlace != 0 or ctype not in _CHANNELS:
        raise PngError(f"unsupported PNG (bit depth {depth}, colour type {ctype}, interlace {interlace}); "
                       "save it as 8-bit RGBA, not interlaced")
    if width == 0 or height == 0 or width * height > 4096 * 4096:
        raise PngError(f"implausible PNG size {width}x{height}")
    try:
        raw = zlib.decompress(bytes(idat))
    except zlib.error as exc:
        raise PngError(f"PNG image data is corrupt ({exc})") from None
    bpp = _CHANNELS[ctype]
    stride = width * bpp
    if len(raw) != height * (stride + 1):
        raise PngError("PNG image data has the wrong length for its size")
    rows: list[bytearray] = []
    prev = bytearray(stride)
    for y in range(height):
        ftype, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, corner = prev[i], (prev[i - bpp] if i >= bpp else 0)
            if ftype == 1:
                line[i] = (line[i] + left) & 0xFF
            elif ftype == 2:
                line[i] = (line[i] + up) & 0xFF
            elif ftype == 3:
                line[i] = (line[i] + ((left + up) >> 1)) & 0xFF
            elif ftype == 4:
                line[i] = (line[i] + _paeth(left, up, corner)) & 0xFF
            elif ftype != 0:
                raise PngError(f"PNG row {y} has unknown filter type {ftype}")
        rows.append(line)
        prev = line
    pixels: list[tuple[int, int, int, int]] = []
    for line in rows:
        for x in range(width):
            px = line[x * bpp:(x + 1) * bpp]
            if ctype == 6:
                pixels.append((px[0], px[1], px[2], px[3]))
            elif ctype == 2:
                opaque = 0 if len(trns) == 6 and tuple(px) == tuple(trns[1::2]) else 255
                pixels.append((px[0], px[1], px[2], opaque))
            elif ctype == 4:
                pixels.append((px[0], px[0], px[0], px[1]))
            elif ctype == 0:
                opaque = 0 if len(trns) == 2 and px[0] == trns[1] else 255
                pixels.append((px[0], px[0], px[0], opaque))
            else:
                i = px[0]
                if 3 * i + 3 > len(palette):
                    raise PngError("PNG palette index out of range")
                alpha = trns[i] if i < len(trns) else 255
                pixels.append((palette[3 * i], palette[3 * i + 1], palette[3 * i + 2], alpha))
    return Image(width, height, pixels, has_alpha_channel=ctype in (4, 6) or bool(trns))


# --- drawing -------------------------------------------------------------------------------------

def _rings_coverage(size: int, samples: int = 4) -> list[float]:
    """Coverage (0..1) of two interlocking rings, supersampled: Rapport's mark (two people, linked)."""
    ring_r, half_w = 0.25 * size, max(0.055 * size, 0.75)
    centres = ((0.38 * size, 0.5 * size), (0.62 * size, 0.5 * size))
    out = []
    step = 1.0 / samples
    for y in range(size):
        for x in range(size):
            hits = 0
            for sy in range(samples):
                for sx in range(samples):
                    px, py = x + (sx + 0.5) * step, y + (sy + 0.5) * step
                    for cx, cy in centres:
                        d = ((px - cx) ** 2 + (py - cy) ** 2) ** 0.5
                        if abs(d - ring_r) <= half_w:
                            hits += 1
                            break
            out.append(hits / (samples * samples))
    return out


def draw_color(size: int = 192) -> list[tuple[int, int, int, int]]:
    """Full-colour Teams icon: white rings on the accent colour, edge to edge (Teams rounds it)."""
    pixels = []
    for c in _rings_coverage(size):
        pixels.append(tuple(round(a * (1 - c) + w * c) for a, w in zip(ACCENT, WHITE, strict=True)) + (255,))
    return pixels  # type: ignore[return-value]


def draw_outline(size: int = 32) -> list[tuple[int, int, int, int]]:
    """Teams outline icon: white only, on a transparent background (coverage becomes alpha)."""
    return [(255, 255, 255, round(255 * c)) for c in _rings_coverage(size)]


def draw_ribbon(size: int) -> list[tuple[int, int, int, int]]:
    """Outlook ribbon icon: the accent disc with white rings, transparent corners (light and dark themes)."""
    disc = _disc_coverage(size)
    rings = _rings_coverage(size)
    pixels = []
    for d, c in zip(disc, rings, strict=True):
        rgb = tuple(round(a * (1 - c) + w * c) for a, w in zip(ACCENT, WHITE, strict=True))
        pixels.append(rgb + (round(255 * d),))
    return pixels  # type: ignore[return-value]


def _disc_coverage(size: int, samples: int = 4) -> list[float]:
    r, c0 = size / 2, size / 2
    out = []
    step = 1.0 / samples
    for y in range(size):
        for x in range(size):
            hits = sum(
                1
                for sy in range(samples)
                for sx in range(samples)
                if ((x + (sx + 0.5) * step - c0) ** 2 + (y + (sy + 0.5) * step - c0) ** 2) <= r * r
            )
            out.append(hits / (samples * samples))
    return out


def write_icons(directory: Path = ICON_DIR) -> list[Path]:
    """Draw every icon into `directory`; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, size, pixels in (
        ("color.png", 192, draw_color(192)),
        ("outline.png", 32, draw_outline(32)),
        *((f"icon-{s}.png", s, draw_ribbon(s)) for s in RIBBON_SIZES),
    ):
        path = directory / name
        path.write_bytes(encode_png(size, size, pixels))
        written.append(path)
    return written


if __name__ == "__main__":
    for p in write_icons(Path(sys.argv[1]) if len(sys.argv) > 1 else ICON_DIR):
        print(p)
