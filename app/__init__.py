"""Captionist application: command line now, caption window and recording in later releases."""
