"""The render farm: queued graphs run on a Ray cluster (docs: README "Render farm").

Importing this package does not import Ray; ray_backend.py and worker.py import it when a farm
is actually used, so the window and the CLI start without it.
"""
