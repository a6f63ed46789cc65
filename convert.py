"""Launcher: see apps/convert.py."""

from apps import convert

convert.run()
