"""Launcher: see apps/encode.py."""

from apps import encode

encode.run()
