"""Whether a transcript may be written at a path, decided before any work: the one check every writer uses.

A writer never replaces audio (whatever its name), an input of the same run, a folder, a link or anything that is
not a plain file, or anything inside the program's own folders (``protected``, e.g. the sessions folder with every
recording's WAV, transcript.jsonl and session.json). It also says at once when the path cannot be written (a folder
that is a file, read-only or not ours). Names too long for the file system are shortened, keeping the extension.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

# Extensions of sound (and sound-carrying video) files: such a file is never replaced, even when it does not decode.
AUDIO_EXTENSIONS = frozenset({
    ".wav", ".wave", ".bwf", ".rf64", ".w64", ".flac", ".ogg", ".oga", ".opus", ".spx", ".mp3", ".mp2", ".m4a",
    ".m4b", ".aac", ".alac", ".aif", ".aiff", ".aifc", ".au", ".snd", ".caf", ".wma", ".wv", ".ape", ".amr", ".mka",
    ".mkv", ".mp4", ".mov", ".webm", ".avi", ".3gp"
})
# How audio containers begin: a damaged or half-written one is still audio.
_AUDIO_MAGIC = (b"RIFF", b"RF64", b"FORM", b"fLaC", b"OggS", b"ID3", b"caff", b".snd", b"wvpk", b"MAC ")
DEFAULT_NAME_MAX = 255


class OutputRefused(OSError):
    """A path the program will not write. ``reason`` says what is there (or wrong); the message adds what to do.

    ``occupied``: something at the path must be kept (another name in the same folder would do); otherwise the place
    cannot or must not be written at all.
    """

    def __init__(self, reason: str, advice: str, *, occupied: bool) -> None:
        super().__init__(f"{reason}. {advice}")
        self.reason = reason
        self.occupied = occupied


def is_audio(path: Path) -> bool:
    """Whether the plain file at ``path`` holds sound: by its extension, its first bytes, or libsndfile reading it."""
    import soundfile

    if path.suffix.lower() in AUDIO_EXTENSIONS:
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return False
    if head.startswith(_AUDIO_MAGIC) or head[4:8] == b"ftyp":
        return True
    try:
        soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError, TypeError, OSError):
        return False
    return True


def _existing_ancestor(path: Path) -> Path:
    folder = path.parent
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent
    return folder


def name_max(folder: Path) -> int:
    """The longest file name, in bytes, that the file system holding ``folder`` (or its nearest ancestor) takes."""
    try:
        return os.pathconf(_existing_ancestor(folder / "x"), "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # no pathconf (Windows), or the file system does not say
        return DEFAULT_NAME_MAX


def fit_name(stem: str, extension: str, folder: Path, *, tag: str = "") -> str:
    """``stem + tag + extension``, with ``stem`` cut short as needed to fit the file system's name limit in bytes.

    ``tag`` (e.g. "-2", to keep names unique) and ``extension`` are kept whole.
    """
    limit = name_max(folder)
    if len(os.fsencode(stem + tag + extension)) <= limit:
        return stem + tag + extension
    while stem and len(os.fsencode(stem + tag + extension)) > limit:
        stem = stem[:-1]
    stem = stem.rstrip(" .") or "transcript"  # a cut can end in a space or dot, which some systems drop
    return stem + tag + extension


def fit_path(path: Path) -> Path:
    """``path`` with its file name shortened (extension kept) when it is too long for the file system."""
    path = Path(path)
    if len(os.fsencode(path.name)) <= name_max(path.parent):
        return path
    suffix = path.suffix if len(path.suffix) <= 16 else ""  # a "suffix" this long is part of the name
    return path.with_name(fit_name(path.name[: len(path.name) - len(suffix)], suffix, path.parent))


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _inside(path: Path, folder: Path) -> bool:
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(folder))
    except ValueError:
        return False
    return True


_NEW_NAME = "Choose another output name."


def _occupied(path: Path, inputs: Iterable[Path], replace_ext: str | None) -> tuple[str, str] | None:
    """Why the thing at ``path`` must be kept and what to do, or None when it may be replaced (or nothing is there)."""
    for source in inputs:
        if _same_file(path, source):
            return f"{path} is the input {source}: writing there would destroy the audio", _NEW_NAME
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"{path} cannot be examined ({exc.strerror or exc})", _NEW_NAME
    if stat.S_ISLNK(st.st_mode):
        return (f"{path} is a symbolic link, and writing there would replace the link",
                "Give the path of a new file, or remove the link first.")
    if stat.S_ISDIR(st.st_mode):
        return f"{path} is a folder", "Give the name of a file to write."
    if not stat.S_ISREG(st.st_mode):
        return f"{path} is not a plain file (a device, pipe or socket)", _NEW_NAME
    if is_audio(path):
        return f"{path} is an audio file, which a transcript never replaces", _NEW_NAME
    if replace_ext is not None and path.suffix.lower() != replace_ext:
        return (f"{path} already exists and is not a {replace_ext} transcript, the only kind of file replaced here",
                "Choose another output name, or remove the file first.")
    return None


def _unwritable(path: Path, protected: Iterable[Path]) -> tuple[str, str] | None:
    """Why no file may be created at ``path`` and what to do, or None. Missing folders count as creatable where their
    nearest existing ancestor is a folder that can be written (nothing is created here: the probe file is unnamed)."""
    for folder in protected:
        if _inside(path, folder):
            return (f"{path} is inside the program's recordings folder {folder}, which holds your recordings and "
                    "their transcripts", "Save the export somewhere else.")
    folder = _existing_ancestor(path)
    if not folder.is_dir():
        return f"{path} cannot be written: {folder} is a file, not a folder", "Choose another output path."
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        why = "it is read-only" if exc.errno == errno.EROFS else (exc.strerror or str(exc)).lower()
        return f"{path} cannot be written: the folder {folder} cannot be written to ({why})", "Choose another folder."
    return None


def check_output(path: Path, *, inputs: Iterable[Path] = (), protected: Iterable[Path] = (),
                 replace_ext: str | None = None) -> Path:
    """The path to write for ``path`` (its name shortened where too long), or OutputRefused saying why not.

    inputs: files this run reads (never written over, however they are spelled or linked). protected: folders
    nothing is written into. replace_ext: when given, an existing file is replaced only if it has this extension.
    """
    path = fit_path(Path(path))
    refusal = _unwritable(path, protected)
    if refusal is not None:
        raise OutputRefused(*refusal, occupied=False)
    refusal = _occupied(path, inputs, replace_ext)
    if refusal is not None:
        raise OutputRefused(*refusal, occupied=True)
    return path
