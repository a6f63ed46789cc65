"""Launcher: see apps/export.py."""

from apps import export

export.run()
