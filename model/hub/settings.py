"""How this package sets up huggingface_hub: the settings the library reads from the environment once, at import,
are read again at each call (the variables may have been set since), telemetry is switched off, and requests for
listings and file metadata get a short timeout.
"""

from __future__ import annotations

import os

from huggingface_hub import constants

LIST_TIMEOUT_S = 10.0
_TRUE_VALUES = {"1", "ON", "YES", "TRUE"}


def offline_mode() -> bool:
    # huggingface_hub reads HF_HUB_OFFLINE once at import; the variable may have been set since.
    return bool(constants.HF_HUB_OFFLINE) or os.environ.get("HF_HUB_OFFLINE", "").upper() in _TRUE_VALUES


def current_endpoint() -> str:
    # Read at call time (huggingface_hub reads HF_ENDPOINT once at import) and passed explicitly to every call.
    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


def disable_telemetry() -> None:
    # huggingface_hub reads HF_HUB_DISABLE_TELEMETRY once at import. While telemetry is on, building the
    # User-Agent of a request fetches {ENDPOINT}/api/agent-harnesses and reports versions; this app sends nothing
    # beyond the downloads themselves.
    constants.HF_HUB_DISABLE_TELEMETRY = True
