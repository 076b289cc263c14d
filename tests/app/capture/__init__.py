"""Tests of audio capture: device listing, the capture thread and the file source."""
