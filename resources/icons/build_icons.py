"""Render the application icon's SVG into the files desktops and installers use, next to it or into a folder:

    python resources/icons/build_icons.py [FOLDER]

- ``hicolor/<N>x<N>/apps/<id>.png`` for the freedesktop icon theme sizes (``SIZES``);
- ``<id>.ico`` (Windows): PNG entries from 16 to 256 px;
- ``<id>.icns`` (macOS): PNG entries under the OSType of each size, the @2x ones included.

``<id>`` is the SVG's name (the application id). Qt's SVG renderer draws the pixels; the PNG, ICO and ICNS containers
are written here with ``struct`` and ``zlib`` alone, without metadata (no time, resolution or software name), so
the same SVG and the same Qt give the same bytes. The generated files are committed; a test re-runs this script and
compares them.
"""

from __future__ import annotations

import os
import struct
import sys
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
SVG = HERE / "org.captionist.Captionist.svg"
SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = tuple(size for size in SIZES if size <= 256)  # an ICO entry is at most 256 px
ICNS_TYPES = (  # (OSType, pixels): Apple's codes for PNG data, the @2x (Retina) variants after the 1x ones
    (b"icp4", 16), (b"icp5", 32), (b"icp6", 64), (b"ic07", 128), (b"ic08", 256), (b"ic09", 512),
    (b"ic11", 32), (b"ic12", 64), (b"ic13", 256), (b"ic14", 512),
)


def render(svg: Path, size: int) -> bytes:
    """The SVG drawn on a transparent ``size``×``size`` square, as PNG bytes."""
    from PySide6.QtCore import QRectF, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg} is not an SVG Qt can draw")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    return png(image)


def png(image) -> bytes:
    """A QImage as an 8-bit RGBA PNG with only the chunks every reader needs."""
    from PySide6.QtGui import QImage

    rgba = image.convertToFormat(QImage.Format.Format_RGBA8888)  # straight (not premultiplied) alpha, as PNG has
    width, height, stride = rgba.width(), rgba.height(), rgba.bytesPerLine()
    pixels = bytes(rgba.constBits())
    rows = b"".join(b"\x00" + pixels[y * stride: y * stride + width * 4] for y in range(height))  # filter: none

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8 bits per channel, RGBA, no interlace
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9))
            + chunk(b"IEND", b""))


def ico(pngs: dict[int, bytes]) -> bytes:
    """An ICO file holding the given PNGs (pixels -> bytes), smallest first; Windows Vista and later read PNG
    entries."""
    sizes = sorted(pngs)
    offset = 6 + 16 * len(sizes)
    header = struct.pack("<HHH", 0, 1, len(sizes))  # reserved, type 1 = icon, count
    entries, images = b"", b""
    for size in sizes:
        data = pngs[size]
        side = 0 if size == 256 else size  # 0 means 256: the field is one byte
        entries += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(data), offset + len(images))
        images += data
    return header + entries + images


def icns(pngs: dict[int, bytes]) -> bytes:
    """An ICNS file with one entry per ``ICNS_TYPES`` code whose size is among the given PNGs."""
    body = b"".join(kind + struct.pack(">I", 8 + len(pngs[size])) + pngs[size]
                    for kind, size in ICNS_TYPES if size in pngs)
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def build(folder: Path, svg: Path = SVG) -> list[Path]:
    """Write every generated file into ``folder``; returns their paths."""
    name = svg.stem
    pngs = {size: render(svg, size) for size in SIZES}
    written = []
    for size, data in pngs.items():
        path = folder / "hicolor" / f"{size}x{size}" / "apps" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(path)
    for path, data in ((folder / f"{name}.ico", ico({s: pngs[s] for s in ICO_SIZES})),
                       (folder / f"{name}.icns", icns(pngs))):
        path.write_bytes(data)
        written.append(path)
    return written


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        print(__doc__, file=sys.stderr)
        return 2
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # no display needed: nothing is shown
    from PySide6.QtGui import QGuiApplication

    _app = QGuiApplication.instance() or QGuiApplication([sys.argv[0]])  # Qt's painting needs one, kept alive
    for path in build(Path(argv[0]) if argv else HERE):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
