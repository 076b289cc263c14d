"""The vLLM server's API key, kept apart from the settings: in a file readable only by the user (0600), never in
settings.json, session files, exports or logs."""

from __future__ import annotations

import os
from pathlib import Path

KEY_FILE = "server-api-key"
MAX_KEY_CHARS = 4096


class ApiKeyStore:
    """The key in ``folder/server-api-key`` (``folder``: the settings' folder)."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / KEY_FILE

    def load(self) -> str | None:
        """The saved key; None when there is none or it cannot be read (then the server sees no key and says so)."""
        try:
            return read_key_file(self.path, missing_ok=True)
        except (OSError, ValueError):
            return None

    def save(self, key: str | None) -> None:
        """Keep ``key`` (None or blank: forget it). Raises OSError."""
        from app.recording.privacy import open_private, private_dirs

        key = (key or "").strip()
        if not key:
            self.path.unlink(missing_ok=True)
            return
        private_dirs(self.path.parent, below=self.path.parent)
        tmp = self.path.with_name(f".{KEY_FILE}.tmp")
        tmp.unlink(missing_ok=True)
        with open(tmp, "w", encoding="utf-8", opener=open_private) as f:
            f.write(key + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


def read_key_file(path: Path, *, missing_ok: bool = False) -> str | None:
    """The key written in ``path`` (its first line); None for an empty file (or a missing one with ``missing_ok``).

    Raises OSError when it cannot be read and ValueError when it does not hold a key."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(MAX_KEY_CHARS + 2)
    except FileNotFoundError:
        if missing_ok:
            return None
        raise
    except UnicodeDecodeError:
        raise ValueError(f"{path} does not hold an API key (it is not text).") from None
    lines = text.splitlines()
    key = lines[0].strip() if lines else ""
    if len(key) > MAX_KEY_CHARS or any(c.isspace() for c in key):
        raise ValueError(f"{path} does not hold an API key (one line without spaces).")
    return key or None
