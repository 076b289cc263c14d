"""Where the realtime model comes from: a folder on this computer, a complete copy in the hub cache, or a download.

Plain Python (no Qt), for the setup dialog and the loader thread. The download itself, with its resume, verification
and disk-space check, is :func:`model.hub.fetch_checkpoint`; this module turns its progress into what a progress bar
shows (speed, time left) and its errors into messages for the person at the computer. Before a download, the hub
can be asked how big it is (:func:`download_size`), and the setup dialog's words for both come from here.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx2
from huggingface_hub import HfApi, constants
from huggingface_hub.errors import HfHubHTTPError, HFValidationError, OfflineModeIsEnabled

from model.checkpoint import NATIVE_FILES
from model.errors import CheckpointError
from model.hub import DownloadProgress, fetch_checkpoint, looks_like_repo_id
from model.hub.cache import cached_snapshot
from model.hub.errors import listing_error, short
from model.hub.files import (
    CONFIG,
    SINGLE_WEIGHTS,
    TOKENIZER,
    WEIGHTS_INDEX,
    choose_files,
    remote_files,
    shards_from_index,
)
from model.hub.settings import LIST_TIMEOUT_S, current_endpoint, disable_telemetry

OFFLINE_MISSING = (
    "Offline mode is on and the model is not on this computer: turn offline mode off to download it, or choose a "
    "folder that contains it."
)
ON_DISK = "Already on this computer: nothing to download."
SIZE_UNKNOWN = "Download size unknown."
SPEED_WINDOW_S = 3.0  # the speed shown is the average over this long: per-report rates jump around too much
_MIN_SPEED_SPAN_S = 0.5  # no speed (and no time left) until the readings span this long
_ROLES = {
    "consolidated.safetensors": "the weights",
    "params.json": "the model's settings",
    CONFIG: "the model's settings",
    TOKENIZER: "the tokenizer",
    SINGLE_WEIGHTS: "the weights",
}


class SetupError(Exception):
    """A model source cannot be used; the message says why and what to do, in words for the user."""


def check_local_folder(path: str | Path) -> str | None:
    """None when ``path`` holds a realtime checkpoint (native or transformers layout), else what is missing and what
    to do about it. Only looks at which files are there; loading checks their content."""
    text = str(path).strip()
    if not text:
        return "Choose the folder that holds the model."
    folder = Path(text).expanduser()
    if not folder.exists():
        return f"The folder {folder} does not exist. Choose the folder that holds the model."
    if not folder.is_dir():
        return f"{folder} is a file, not a folder. Choose the folder that holds the model's files."

    def has(name: str) -> bool:
        return (folder / name).is_file()

    if has("consolidated.safetensors") or has("params.json"):
        missing = [n for n in NATIVE_FILES if not has(n)]
    elif has(CONFIG):
        missing = [] if has(TOKENIZER) else [TOKENIZER]
        if has(WEIGHTS_INDEX):
            try:
                shards = shards_from_index(str(folder), folder / WEIGHTS_INDEX, None)
            except CheckpointError as exc:
                return f"{exc} Download the model again, or choose another folder."
            missing += [s for s in shards if not has(s)]
        elif not has(SINGLE_WEIGHTS):
            missing.append(SINGLE_WEIGHTS)
    else:
        return (
            f"{folder} holds no Voxtral Realtime model. A model folder has either consolidated.safetensors, "
            "params.json and tekken.json, or config.json, model.safetensors and tekken.json. Choose the folder that "
            "holds these files, or download the model instead."
        )
    if not missing:
        return None
    names = [f"{n} ({_ROLES.get(n, 'a weights file')})" for n in missing]
    listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    files = "file" if len(names) == 1 else "files"
    return (
        f"The folder {folder} lacks {listed}. Copy the missing {files} from the model's page on Hugging Face into "
        "the folder, or choose another folder."
    )


def find_cached(repo_id: str, cache_dir: str | Path | None = None, revision: str | None = None) -> Path | None:
    """The folder of a complete copy of ``repo_id`` in the hub cache (default ``HF_HUB_CACHE``), or None.

    The same check :func:`fetch_checkpoint` makes when it cannot ask the hub; a cancelled download is not complete.
    """
    if not looks_like_repo_id(repo_id):
        return None
    return cached_snapshot(repo_id, revision or constants.DEFAULT_REVISION, _cache(cache_dir))


def download_size(repo_id: str, revision: str | None = None) -> int:
    """The bytes a download of ``repo_id`` fetches: the files :func:`fetch_checkpoint` chooses, as the hub lists
    them (one request, no file is fetched; the shards of a sharded checkpoint are the listed weight files). Asks
    the hub: call it only when the user asked, off the GUI thread. Raises :class:`SetupError` saying why not."""
    disable_telemetry()
    try:
        info = HfApi(endpoint=current_endpoint()).model_info(
            repo_id, revision=revision, files_metadata=True, timeout=LIST_TIMEOUT_S
        )
        remote = remote_files(repo_id, info.siblings or [])
        names, index = choose_files(repo_id, revision or constants.DEFAULT_REVISION, remote)
    except (OfflineModeIsEnabled, httpx2.TransportError) as exc:
        raise SetupError(f"the Hugging Face hub cannot be reached ({short(exc)})") from exc
    except HfHubHTTPError as exc:
        raise SetupError(str(listing_error(exc, repo_id, revision or constants.DEFAULT_REVISION))) from exc
    except (HFValidationError, CheckpointError) as exc:
        raise SetupError(str(exc)) from exc
    if index is not None:  # the index names the shards; reading it would be a download
        names += [n for n in remote if n.endswith(".safetensors") and n not in NATIVE_FILES]
    return sum(remote[n].size for n in set(names))


def size_note(size: int | str | None, *, on_disk: bool, offline: bool, asking: bool) -> str:
    """What the setup dialog says about a hub model's download: ``size`` in bytes, or why it is unknown (None: not
    asked); ``asking`` while the hub is being asked."""
    if on_disk:
        return ON_DISK
    if offline:
        return "Not on this computer: turn offline mode off to download it."
    if isinstance(size, int):
        return f"Download size: {format_size(size)}"
    if asking:
        return "Asking the hub for the download size…"
    return f"Download size unknown: {size}." if size else SIZE_UNKNOWN


def start_text(choice: str, *, offline: bool, on_disk: bool, size: int | str | None) -> str:
    """What the setup dialog's start button says it will do: ``choice`` is "hub", "folder" or "server"; ``on_disk``
    whether the hub's model is on this computer; ``size`` its download size in bytes, why the hub could not tell
    (a str), or None when not asked yet (the button then asks first: a download starts only with its size shown)."""
    if choice == "server":
        return "Set up the &server…"
    if choice == "folder":
        return "&Use folder"
    if offline or on_disk:
        return "Lo&ad from this computer"
    if size is None:
        return "&Download and load…"
    return f"&Download and load ({format_size(size) if isinstance(size, int) else 'size unknown'})"


@dataclass(frozen=True)
class DownloadStatus:
    """What a download's progress bar shows. Bytes count everything on disk, including a resumed partial file."""

    done_bytes: int
    total_bytes: int
    speed_bytes_s: float | None  # averaged over the last few seconds; None until there is enough to average
    eta_s: float | None  # None while the speed is unknown or zero
    file: str  # the file being fetched; "" before the first and after the last

    @property
    def fraction(self) -> float:
        return self.done_bytes / self.total_bytes if self.total_bytes else 1.0

    def text(self) -> str:
        """'1.2 of 8.9 GB · 45 MB/s · 3 min left'."""
        unit, scale = _unit(self.total_bytes)
        decimals = 1 if self.total_bytes / scale < 100 else 0  # both numbers alike: "1.2 of 8.9 GB", "12 of 988 MB"
        parts = [f"{self.done_bytes / scale:.{decimals}f} of {self.total_bytes / scale:.{decimals}f} {unit}"]
        if self.done_bytes >= self.total_bytes:
            return parts[0]
        if self.speed_bytes_s is None:
            parts.append("measuring speed…")
        else:
            speed_unit, speed_scale = _unit(self.speed_bytes_s)
            parts.append(f"{_digits(self.speed_bytes_s / speed_scale, 10)} {speed_unit}/s")
            parts.append("time left unknown" if self.eta_s is None else f"{format_duration(self.eta_s)} left")
        return " · ".join(parts)


def format_size(n: float) -> str:
    """'8.9 GB', '682 KB'."""
    unit, scale = _unit(n)
    return f"{_digits(n / scale, 100)} {unit}"


def format_duration(seconds: float) -> str:
    """'45 s', '3 min', '1 h 5 min': rounded up, as a count-down should never reach zero early."""
    s = max(1, int(-(-seconds // 1)))
    if s < 60:
        return f"{s} s"
    minutes = -(-s // 60)
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


class StatusTracker:
    """Turns the hub's :class:`DownloadProgress` reports into :class:`DownloadStatus` with a smoothed speed."""

    def __init__(self, window_s: float = SPEED_WINDOW_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._window = window_s
        self._clock = clock
        self._readings: deque[tuple[float, int]] = deque()

    def update(self, progress: DownloadProgress) -> DownloadStatus:
        now, done, total = self._clock(), progress.done_bytes, progress.total_bytes
        if self._readings and done < self._readings[-1][1]:
            self._readings.clear()  # a file restarted from zero: the old readings say nothing about the speed now
        self._readings.append((now, done))
        # Keep one reading at or before the window's start, so the average spans the whole window.
        while len(self._readings) > 2 and self._readings[1][0] <= now - self._window:
            self._readings.popleft()
        first_time, first_done = self._readings[0]
        speed = eta = None
        if now - first_time >= _MIN_SPEED_SPAN_S:
            speed = (done - first_done) / (now - first_time)
            eta = (total - done) / speed if speed > 0 else None
        return DownloadStatus(done, total, speed, eta, progress.filename)


class ModelDownload:
    """Brings one hub repo into the cache (or finds it there), reporting :class:`DownloadStatus` to ``on_status``.

    :meth:`run` blocks; call it off the GUI thread, and :meth:`cancel` from any thread. A cancelled download keeps
    what it fetched, and the next run continues from there (the hub layer sends a Range request).
    """

    def __init__(
        self,
        repo_id: str,
        *,
        revision: str | None = None,
        cache_dir: str | Path | None = None,
        offline: bool = False,
        on_status: Callable[[DownloadStatus], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.repo_id = repo_id
        self.revision = revision
        self.cache_dir = cache_dir
        self.offline = offline
        self._on_status = on_status
        self._cancel = cancel if cancel is not None else threading.Event()
        self._tracker = StatusTracker()
        self.status: DownloadStatus | None = None  # the latest one reported

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> Path:
        """The local folder of the model. Raises :class:`SetupError` with a message for the user, or
        :class:`~model.errors.DownloadCancelled` after :meth:`cancel`."""
        if self.offline:
            # Offline is decided here rather than through HF_HUB_OFFLINE, which would change the whole process.
            found = find_cached(self.repo_id, self.cache_dir, self.revision)
            if found is None:
                raise SetupError(OFFLINE_MISSING)
            return found
        try:
            return fetch_checkpoint(
                self.repo_id,
                revision=self.revision,
                progress=self._progress,
                cancel=self._cancel,
                cache_dir=self.cache_dir,
            )
        except CheckpointError as exc:
            raise SetupError(_user_message(exc)) from exc

    def _progress(self, progress: DownloadProgress) -> None:
        self.status = self._tracker.update(progress)
        if self._on_status is not None:
            self._on_status(self.status)


def _user_message(exc: CheckpointError) -> str:
    # fetch_checkpoint raises its "not on disk and the hub cannot be reached" error while handling the network
    # error, so that error is the context; its own wording speaks of HF_HUB_OFFLINE and paths, not of this dialog.
    network = exc.__context__
    if exc.__cause__ is None and isinstance(network, httpx2.TransportError):
        return (
            f"Cannot reach the Hugging Face hub ({short(network)}), and the model is not on this computer yet. "
            "Check the internet connection and try again, or choose a folder that contains the model."
        )
    return str(exc)


def _cache(cache_dir: str | Path | None) -> Path:
    return Path(cache_dir if cache_dir is not None else constants.HF_HUB_CACHE).expanduser().resolve()


def _digits(x: float, whole_from: float) -> str:
    # One decimal for small numbers ("1.2 GB"), none from `whole_from` up ("682 KB", "45 MB/s").
    return f"{x:.1f}" if x < whole_from else f"{x:.0f}"


def _unit(n: float) -> tuple[str, float]:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return unit, scale
    return "bytes", 1.0
