"""The committed icon files are what ``resources/icons/build_icons.py`` makes from the SVG, and the ICO and ICNS
containers are well formed: read by a small parser written here from the formats' descriptions, and by Qt's
readers."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QImage, QImageReader

from app.identity import APP_ID

ROOT = Path(__file__).resolve().parents[2]
ICONS = ROOT / "resources" / "icons"
SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
ICNS_CODES = {b"icp4": 16, b"icp5": 32, b"icp6": 64, b"ic07": 128, b"ic08": 256, b"ic09": 512,  # 1x
              b"ic11": 32, b"ic12": 64, b"ic13": 256, b"ic14": 512}  # @2x: 16, 32, 128, 256 points
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def generated_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and p.suffix in (".png", ".ico", ".icns")}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("icons")
    done = subprocess.run([sys.executable, str(ICONS / "build_icons.py"), str(folder)], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return generated_files(folder)


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def ico_entries(data: bytes) -> list[tuple[int, bytes]]:
    """(stated width, image bytes) per entry of an ICO file."""
    reserved, kind, count = struct.unpack_from("<HHH", data)
    assert (reserved, kind) == (0, 1)
    entries = []
    for i in range(count):
        width, height, _colours, _, planes, bits, length, offset = struct.unpack_from("<BBBBHHII", data, 6 + 16 * i)
        assert width == height and (planes, bits) == (1, 32)
        assert offset + length <= len(data)
        entries.append((width or 256, data[offset:offset + length]))
    return entries


def icns_entries(data: bytes) -> list[tuple[bytes, bytes]]:
    """(OSType, data) per entry of an ICNS file."""
    assert data[:4] == b"icns" and struct.unpack(">I", data[4:8])[0] == len(data)
    entries, at = [], 8
    while at < len(data):
        kind, length = data[at:at + 4], struct.unpack(">I", data[at + 4:at + 8])[0]
        assert length > 8 and at + length <= len(data)
        entries.append((kind, data[at + 8:at + length]))
        at += length
    return entries


def pixels_differ(a: bytes, b: bytes) -> int:
    """The largest difference of one channel between two PNGs of the same size."""
    first, second = (QImage.fromData(d).convertToFormat(QImage.Format.Format_RGBA8888) for d in (a, b))
    assert first.size() == second.size()
    return max(abs(x - y) for x, y in zip(bytes(first.constBits()), bytes(second.constBits()), strict=True))


def test_the_svg_is_named_after_the_application_id() -> None:
    assert (ICONS / f"{APP_ID}.svg").is_file()


def test_the_committed_files_are_what_the_script_makes(built: dict[str, bytes]) -> None:
    committed = generated_files(ICONS)
    assert sorted(committed) == sorted(built)
    assert sorted(built) == sorted([f"hicolor/{n}x{n}/apps/{APP_ID}.png" for n in SIZES]
                                   + [f"{APP_ID}.ico", f"{APP_ID}.icns"])
    # Byte for byte with the Qt they were made with; another Qt may antialias an edge a little differently. The
    # containers hold the committed PNGs (checked below), so they are as up to date as those.
    for name in (name for name, data in built.items() if data != committed[name] and name.endswith(".png")):
        assert pixels_differ(built[name], committed[name]) <= 16, f"{name} is stale: run build_icons.py"
    for n in SIZES:
        assert png_size(committed[f"hicolor/{n}x{n}/apps/{APP_ID}.png"]) == (n, n)


def test_the_script_is_deterministic(built: dict[str, bytes], tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ICONS / "build_icons.py"), str(tmp_path)], check=True, capture_output=True,
                   timeout=120)
    assert generated_files(tmp_path) == built


def test_the_ico_holds_the_pngs_from_16_to_256_px() -> None:
    data = (ICONS / f"{APP_ID}.ico").read_bytes()
    entries = ico_entries(data)
    assert [width for width, _ in entries] == [n for n in SIZES if n <= 256]
    for width, image in entries:
        assert png_size(image) == (width, width)
        assert image == (ICONS / "hicolor" / f"{width}x{width}" / "apps" / f"{APP_ID}.png").read_bytes()


def test_the_icns_holds_a_png_under_each_sizes_ostype() -> None:
    entries = icns_entries((ICONS / f"{APP_ID}.icns").read_bytes())
    assert [kind for kind, _ in entries] == list(ICNS_CODES)
    for kind, image in entries:
        side = ICNS_CODES[kind]
        assert png_size(image) == (side, side)
        assert image == (ICONS / "hicolor" / f"{side}x{side}" / "apps" / f"{APP_ID}.png").read_bytes()


@pytest.mark.parametrize("suffix", [".ico", ".icns"])
def test_qt_reads_every_image_of_the_containers(qapp, suffix: str) -> None:
    reader = QImageReader(str(ICONS / f"{APP_ID}{suffix}"))
    assert reader.canRead(), reader.errorString()
    sides = []
    for i in range(reader.imageCount()):
        assert reader.jumpToImage(i)
        image = reader.read()
        assert not image.isNull(), reader.errorString()
        sides.append(image.width())
    expected = [n for n in SIZES if n <= 256] if suffix == ".ico" else list(ICNS_CODES.values())
    assert sorted(sides) == sorted(expected)
