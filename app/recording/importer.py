"""Bringing an audio file into the library as a session of its own, so it can be transcribed and exported."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

from app.events import MODEL_RATE, SourceKind
from app.recording.privacy import DIR_MODE, open_private, private_dirs
from app.recording.session_folder import (
    AUDIO_DIR,
    TRANSCRIPT_FILE,
    SessionInfo,
    SessionState,
    SourceInfo,
    audio_name,
    new_session_id,
    sessions_dir,
    write_session,
)
from app.recording.wav_writer import GrowingWav
from model.audio_file import AudioFile

COPY_SECONDS = 10  # audio converted and written at a time: memory stays small however long the file is


def import_audio(data_dir: Path | str | None, path: Path | str) -> Path:
    """A new, complete session holding ``path``'s audio (mixed to mono, at 16 kHz) and no transcript yet.

    The file is copied block by block, so a long one takes little memory. Raises AudioInputError for unreadable
    files and OSError when the session cannot be written (nothing is left behind then).
    """
    path = Path(path)
    with AudioFile(path, target_rate=MODEL_RATE) as audio:  # opening reads only the header
        now = datetime.now(timezone.utc)
        folder = sessions_dir(data_dir) / new_session_id(now)
        source = SourceInfo(f"file:{path.name}", path.name, SourceKind.FILE.value, "File", audio_name(0, path.name),
                            MODEL_RATE)
        private_dirs(folder.parent, below=folder.parent.parent)
        folder.mkdir()  # outside the try: a folder that was already there is never removed
        try:
            os.chmod(folder, DIR_MODE)
            private_dirs(folder / AUDIO_DIR, below=folder)
            wav = GrowingWav(folder / source.audio, MODEL_RATE)
            try:
                for block in audio.blocks(COPY_SECONDS * MODEL_RATE):
                    wav.append(block)
            finally:
                wav.close()
            os.close(open_private(folder / TRANSCRIPT_FILE, os.O_WRONLY))
            write_session(folder, SessionInfo(id=folder.name, title=path.stem, started_at=now, ended_at=now,
                                              state=SessionState.COMPLETE, sources=(source,),
                                              duration_s=wav.frames / MODEL_RATE))
        except BaseException:  # a damaged block, a full disk, Ctrl+C: no half session is left behind
            shutil.rmtree(folder, ignore_errors=True)
            raise
    return folder
