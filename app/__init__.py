"""Kompakt: the desktop app (``app.gui``) and the services it shares with the CLI (``app.runtime``)."""

__version__ = "0.1.0"
