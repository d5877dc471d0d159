"""Namespace under which node packs loaded from folders are imported (nodestudio.packs.<name>)."""
