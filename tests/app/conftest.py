"""GUI tests run offscreen (no display needed); tests that need a real X display start their own in a subprocess."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
