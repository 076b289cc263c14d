"""Words for the status bar and the lag indicator, kept out of the widgets so tests can read them directly."""

from __future__ import annotations

from app.events import WorkerStatus

LAG_WARNING_S = 1.5  # beyond the model's own delay, captions this far behind are called out


def status_line(status: WorkerStatus, model_name: str, label: str = "") -> str:
    who = f"{label}: " if label else ""
    speed = "keeping up" if status.realtime_factor < 1.0 else "slower than real time"
    return (
        f"{who}{model_name} on {status.device} · delay {status.delay_ms} ms · lag {status.lag_s:.1f} s · "
        f"step {status.step_ms:.0f} ms · real-time factor {status.realtime_factor:.2f} ({speed})"
    )


def is_behind(status: WorkerStatus) -> bool:
    """Lag beyond what the chosen delay explains."""
    return status.lag_s - status.delay_ms / 1000.0 >= LAG_WARNING_S


def short_model_name(source: str) -> str:
    """The last part of a repo id or folder path, for the status bar."""
    return source.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1] or source
