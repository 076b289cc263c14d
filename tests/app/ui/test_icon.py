"""The program's icon comes from the shipped files, the checkout's or an installed wheel's, unless the desktop's
icon theme has it."""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon

from app.identity import APP_ID
from app.ui import icon as icon_module
from app.ui.icon import app_icon, shipped_icon

ROOT = Path(__file__).resolve().parents[3]
SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)


def sizes(icon: QIcon) -> list[int]:
    return sorted(size.width() for size in icon.availableSizes())


def test_the_program_icon_has_every_shipped_size(qapp) -> None:
    icon = app_icon()
    assert not icon.isNull()
    assert sizes(icon) == list(SIZES)
    assert all(size.width() == size.height() for size in icon.availableSizes())
    pixmap = icon.pixmap(QSize(16, 16))
    assert (pixmap.width(), pixmap.height()) == (16, 16)


def test_an_installed_wheel_finds_its_icons_under_the_environments_share_folder(qapp, tmp_path, monkeypatch) -> None:
    """Without a checkout's resources/, the files pyproject's data-files put under <environment>/share are used."""
    share = tmp_path / "share"
    shutil.copytree(ROOT / "resources" / "icons" / "hicolor", share / "icons" / "hicolor")
    monkeypatch.setattr(icon_module, "RESOURCES", tmp_path / "no-checkout")
    monkeypatch.setattr(icon_module, "installed_share_dirs", lambda: [tmp_path / "empty", share])
    assert sizes(shipped_icon()) == list(SIZES)


def test_the_icon_themes_icon_comes_first_when_it_has_one(qapp, tmp_path, monkeypatch) -> None:
    """As after the .deb installed the icon into the system's hicolor theme."""
    theme = tmp_path / "icons" / "hicolor"
    (theme / "48x48" / "apps").mkdir(parents=True)
    shutil.copy(ROOT / "resources" / "icons" / "hicolor" / "48x48" / "apps" / f"{APP_ID}.png", theme / "48x48" / "apps")
    (theme / "index.theme").write_text("[Icon Theme]\nName=Hicolor\nDirectories=48x48/apps\n\n"
                                       "[48x48/apps]\nSize=48\nContext=Applications\nType=Threshold\n")
    paths, name = QIcon.themeSearchPaths(), QIcon.themeName()
    monkeypatch.setattr(icon_module, "shipped_icon", QIcon)  # a null icon if it were used
    QIcon.setThemeSearchPaths([str(tmp_path / "icons")])
    QIcon.setThemeName("hicolor")  # offscreen there is no desktop theme; hicolor is what every theme falls back to
    try:
        icon = app_icon()
        assert not icon.isNull() and icon.name() == APP_ID
    finally:
        QIcon.setThemeSearchPaths(paths)
        QIcon.setThemeName(name)
