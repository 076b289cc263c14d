"""Bringing an audio file into the library as a session of its own, so it can be transcribed and exported."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

from app.events import MODEL_RATE, SourceKind
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
from model.audio import prepare, read_file


def import_audio(data_dir: Path | str | None, path: Path | str) -> Path:
    """A new, complete session holding ``path``'s audio (mixed to mono, at 16 kHz) and no transcript yet.

    Raises AudioInputError for unreadable files and OSError when the session cannot be written (nothing is left
    behind then).
    """
    path = Path(path)
    samples, rate = read_file(path)
    audio = prepare(samples, rate, MODEL_RATE, what=path.name)
    now = datetime.now(timezone.utc)
    folder = sessions_dir(data_dir) / new_session_id(now)
    source = SourceInfo(f"file:{path.name}", path.name, SourceKind.FILE.value, "File", audio_name(0, path.name),
                        MODEL_RATE)
    try:
        (folder / AUDIO_DIR).mkdir(parents=True)
        wav = GrowingWav(folder / source.audio, MODEL_RATE)
        wav.append(audio)
        wav.close()
        (folder / TRANSCRIPT_FILE).touch()
        write_session(folder, SessionInfo(id=folder.name, title=path.stem, started_at=now, ended_at=now,
                                          state=SessionState.COMPLETE, sources=(source,),
                                          duration_s=audio.size / MODEL_RATE))
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder
