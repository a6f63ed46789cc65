"""Launcher: see apps/style_mixing.py."""

from apps import style_mixing

style_mixing.run()
