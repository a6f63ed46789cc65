"""Launcher: see apps/projector.py."""

from apps import projector

projector.run()
