"""Glue the GUI and the CLI share: sessions, settings, model library, pack loading, formats."""
