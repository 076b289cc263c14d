"""Where the chat model lives: loaded on demand, on the GPU only when live captions can spare the memory.

Policy (live captions always keep priority):
- The chat model goes to the GPU only if the free GPU memory, less what live captions have reserved and a safety
  margin (the key/value cache and activations of a question), covers its weights; otherwise it is loaded on the CPU
  and the user is warned. Reserved live memory counts as taken even when already allocated: in doubt, live wins.
- Live captions that need memory call ``make_room`` (``reserve_live`` does): the chat model is unloaded first, and a
  question running on it is stopped through the evict listeners. A load that was under way is redone on the CPU.
- A CUDA out-of-memory error while answering: ``fall_back_to_cpu`` unloads the GPU copy, empties the CUDA cache
  and loads the model on the CPU (once; the next load after an unload tries the GPU again).
- After ``idle_s`` seconds without use the model is unloaded (a timer, no polling).
- In offline mode a hub repo id is loaded from its copy on disk, never from the hub; without one, loading fails with
  a message that says so.

Thread-safe: state changes under one lock; loading (slow) runs outside it, so live captions never wait for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from app.events import Notice, Severity
from model import VoxtralModel, load_voxtral
from model import device as devices
from model.loading import resolve_source

DEFAULT_MODEL_BYTES = 9_400_000_000  # Voxtral Mini 3B's bf16 weights, when the checkpoint is not on disk yet
DEFAULT_MARGIN_BYTES = 2 * 1024**3
IDLE_S = 300.0
MODEL_NAME = "Voxtral Mini 3B"

Loader = Callable[[str | Path, str], VoxtralModel]
Progress = Callable[[float, str], None]
Notify = Callable[[Notice], None]


def gpu_kind() -> str:
    """The accelerator a chat model may use: CUDA or Apple's MPS where there is one ("cuda" names the GPU side of
    the policy where there is none: free_gpu_bytes then says None, or a test stands in for a GPU)."""
    best = devices.best()
    return best.type if devices.is_accelerator(best) else "cuda"


def checkpoint_bytes(source: str | Path) -> int | None:
    """The size of a checkpoint's weights: a local folder, or a hub repo already in the cache (never downloads)."""
    folder = Path(source)
    if not folder.is_dir():
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(str(source), local_files_only=True, allow_patterns=["*.safetensors"]))
        except Exception:  # not cached, not a repo id, no huggingface_hub: the caller uses its default
            return None
    consolidated = folder / "consolidated.safetensors"  # hub repos may hold both layouts: count one
    files = [consolidated] if consolidated.is_file() else list(folder.glob("*.safetensors"))
    return sum(f.stat().st_size for f in files) or None


def _gb(n: float) -> str:
    return f"{max(0.0, n) / 1e9:.1f} GB"


class ModelManager:
    """Loads the chat model from ``source`` on demand and decides its device; see the module docstring.

    ``offline``: never contact the hub; ``loader`` then gets the folder of the copy on disk instead of a repo id.
    """

    def __init__(
        self, source: str | Path, *, offline: bool = False, loader: Loader | None = None,
        free_gpu_bytes: Callable[[], int | None] = devices.free_bytes, model_bytes: int | None = None,
        margin_bytes: int = DEFAULT_MARGIN_BYTES, idle_s: float = IDLE_S, precision: str = "auto",
    ) -> None:
        self.source = source
        self.offline = offline
        self.precision = precision  # model.precision: how the default loader keeps the weights
        self.margin_bytes = margin_bytes
        self.idle_s = idle_s
        self._loader = loader or self._load_voxtral
        self.gpu = gpu_kind()
        self._free = free_gpu_bytes
        self._model_bytes = model_bytes
        self._lock = threading.RLock()
        self._load_lock = threading.Lock()  # one load at a time; never held with a caller waiting on _lock
        self._model: VoxtralModel | None = None
        self._device: str | None = None
        self._users = 0
        self._live_bytes = 0
        self._epoch = 0  # counts make_room calls that wanted memory: a GPU load across one is redone on the CPU
        self._timer: threading.Timer | None = None
        self._timer_token = 0
        self._evict_listeners: list[Callable[[], None]] = []

    # -- state -----------------------------------------------------------------------------------------------
    @property
    def device(self) -> str | None:
        """"cuda" or "cpu" while loaded, else None."""
        with self._lock:
            return self._device

    @property
    def loaded(self) -> bool:
        with self._lock:
            return self._model is not None

    @property
    def model_bytes(self) -> int:
        """The chat model's estimated size: the given one, else its checkpoint's weights, else a default."""
        if self._model_bytes is None:
            self._model_bytes = checkpoint_bytes(self.source) or DEFAULT_MODEL_BYTES
        return self._model_bytes

    def add_evict_listener(self, callback: Callable[[], None]) -> None:
        """``callback()`` runs (on the caller's thread of ``make_room``/``unload``) when the model is taken away
        while in use: whoever uses it should stop, so that its memory is freed."""
        with self._lock:
            self._evict_listeners.append(callback)

    # -- the chat side -----------------------------------------------------------------------------------------
    def acquire(self, *, progress: Progress | None = None, notify: Notify | None = None) -> VoxtralModel:
        """The chat model, loaded first when needed; pair with ``release(model)``. A CPU placement is told to
        ``notify`` as a warning; ``progress`` hears about the loading."""
        with self._load_lock:
            with self._lock:
                self._cancel_timer()
                if self._model is not None:
                    self._users += 1
                    return self._model
            return self._load(None, progress, notify)

    def release(self, model: VoxtralModel) -> None:
        """Done with ``model`` for now; the idle timer starts when nobody uses it."""
        with self._lock:
            if model is not self._model:  # taken away meanwhile: its memory can go now
                devices.empty_cache(self.gpu)
                return
            self._users -= 1
            if self._users == 0:
                self._start_timer()

    def fall_back_to_cpu(self, *, progress: Progress | None = None, notify: Notify | None = None) -> VoxtralModel:
        """After a CUDA out-of-memory error: drop the GPU copy, empty the CUDA cache and load the model on the CPU
        (acquired, like ``acquire``). The caller must have released and dropped its GPU model first."""
        with self._load_lock:
            with self._lock:
                self._drop()
            devices.empty_cache(self.gpu)
            if notify is not None:
                notify(Notice(Severity.WARNING, f"The GPU ran out of memory while answering: {MODEL_NAME} now runs "
                                                "on the CPU, which is much slower. Live captions keep the GPU."))
            return self._load("cpu", progress, None)

    def unload(self) -> None:
        """Free the chat model now; a question running on it is stopped (evict listeners)."""
        with self._lock:
            in_use = self._users > 0
            on_gpu = self._drop()
            listeners = list(self._evict_listeners) if in_use else []
        if on_gpu and not in_use:
            devices.empty_cache(self.gpu)
        for callback in listeners:
            callback()

    def close(self) -> None:
        """Unload and stop the idle timer (the app is quitting)."""
        self.unload()

    def set_source(self, source: str | Path) -> None:
        """Use another checkpoint from the next load on; the current model is unloaded."""
        self.unload()
        with self._lock:
            self.source = source
            self._model_bytes = None

    def _load_voxtral(self, source: str | Path, device: str) -> VoxtralModel:
        with self._lock:
            precision = self.precision
        return load_voxtral(source, device=device, precision=precision)

    def set_precision(self, precision: str) -> None:
        """How the weights are kept (model.precision), from the next load on; a loaded model stays as it is."""
        with self._lock:
            self.precision = precision

    def set_offline(self, offline: bool) -> None:
        """Contact the hub (False) or never (True) from the next load on; a loaded model is on disk already and
        stays."""
        with self._lock:
            self.offline = offline

    # -- the live side -------------------------------------------------------------------------------------------
    def reserve_live(self, nbytes: int) -> None:
        """Live captions hold (or are about to take) ``nbytes`` of GPU memory: keep it for them."""
        with self._lock:
            self._live_bytes = nbytes
        self.make_room(nbytes)

    def release_live(self) -> None:
        """Live captions stopped; their memory may be used by the chat model again."""
        with self._lock:
            self._live_bytes = 0

    def make_room(self, nbytes: int) -> bool:
        """Make ``nbytes`` (plus the margin) of GPU memory free for live captions, unloading the chat model if it is
        on the GPU and they are not free; True when they are free now (or there is no CUDA). Never raises."""
        with self._lock:
            free = self._free_bytes()
            if free is None or free - self.margin_bytes >= nbytes:
                return True
            self._epoch += 1
            if self._device != self.gpu:
                return False
        self.unload()
        free = self._free_bytes()
        return free is None or free - self.margin_bytes >= nbytes

    # -- inside ----------------------------------------------------------------------------------------------------
    def _free_bytes(self) -> int | None:
        try:
            return self._free()
        except Exception:  # a failing probe must not break live captions: take it that nothing is free
            return 0

    def _placement(self, model_bytes: int) -> tuple[str, Notice | None]:
        free = self._free_bytes()
        if free is None:
            return "cpu", Notice(Severity.INFO, f"This computer has no usable GPU: {MODEL_NAME} runs on the CPU, "
                                                "which is much slower.")
        need = model_bytes + self.margin_bytes
        available = free - self._live_bytes
        if available >= need:
            return self.gpu, None
        return "cpu", Notice(Severity.WARNING, f"The GPU has {_gb(available)} free and the chat model needs "
                                               f"{_gb(need)}: it runs on the CPU, which is much slower. Live captions "
                                               "keep the GPU.")

    def _load(self, device: str | None, progress: Progress | None, notify: Notify | None) -> VoxtralModel:
        """Load (``device`` None: where the policy says), record it as acquired once; _load_lock is held."""
        size = self.model_bytes  # may look into the hub cache: not while holding the lock live captions wait on
        with self._lock:
            source, offline = self.source, self.offline
        if offline:  # the copy on disk, or a CheckpointError that says it is not on this computer
            source = resolve_source(source, offline=True)
        while True:
            with self._lock:
                notice = None
                if device is None:
                    device, notice = self._placement(size)
                epoch = self._epoch
            if notice is not None and notify is not None:
                notify(notice)
            if progress is not None:
                progress(0.0, f"Loading {MODEL_NAME} on the {'GPU' if device == self.gpu else 'CPU'}…")
            try:
                model = self._loader(source, device)
            except devices.out_of_memory_errors():
                if device != self.gpu:
                    raise
                why = "The GPU ran out of memory while loading the chat model"
            else:
                with self._lock:
                    if device != self.gpu or epoch == self._epoch:
                        self._model, self._device, self._users = model, device, 1
                        break
                why = "Live captions needed the GPU memory while the chat model was loading"
                del model
            devices.empty_cache(self.gpu)
            device = "cpu"
            if notify is not None:
                notify(Notice(Severity.WARNING, f"{why}: it runs on the CPU, which is much slower. Live captions keep "
                                                "the GPU."))
        if progress is not None:
            progress(1.0, f"{MODEL_NAME} is ready on the {'GPU' if device == self.gpu else 'CPU'}.")
        return model

    def _drop(self) -> bool:
        """Forget the model (lock held); whether it was on the GPU."""
        self._cancel_timer()
        on_gpu = self._device == self.gpu
        self._model, self._device, self._users = None, None, 0
        return on_gpu

    def _start_timer(self) -> None:
        self._cancel_timer()
        self._timer_token += 1
        self._timer = threading.Timer(self.idle_s, self._idle, args=(self._timer_token,))
        self._timer.daemon = True
        self._timer.start()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _idle(self, token: int) -> None:
        with self._lock:
            if token != self._timer_token or self._timer is None or self._users:  # cancelled, or in use again
                return
            on_gpu = self._drop()
        if on_gpu:
            devices.empty_cache(self.gpu)
