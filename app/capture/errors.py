"""Errors raised by the capture layer: each says what is wrong and what to do about it."""

from __future__ import annotations


class CaptureError(Exception):
    """An audio source cannot be listed or opened; the message is meant for the user."""
