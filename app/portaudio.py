"""Loading sounddevice (and with it the PortAudio library), with an error that says what to install."""

from __future__ import annotations

import importlib
from types import ModuleType


def load_sounddevice(purpose: str, error: type[Exception]) -> ModuleType:
    """The sounddevice module; ``error`` with install instructions when it or PortAudio is missing.

    purpose: what needs it, as the start of a sentence ("Audio capture", "Playing recordings").
    """
    try:
        return importlib.import_module("sounddevice")
    except OSError as exc:  # sounddevice raises OSError when it cannot load the PortAudio library
        raise error(
            f"{purpose} needs the PortAudio library, which could not be loaded ({exc}). Install it: "
            "'sudo apt install libportaudio2' (Debian, Ubuntu), 'sudo dnf install portaudio' (Fedora) or "
            "'brew install portaudio' (macOS), then restart Captionist."
        ) from None
    except ImportError:
        raise error(f"{purpose} needs the Python package 'sounddevice': pip install sounddevice") from None
