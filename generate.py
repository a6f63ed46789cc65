"""Launcher: see apps/generate.py."""

from apps import generate

generate.run()
