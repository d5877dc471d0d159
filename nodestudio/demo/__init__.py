"""The embedded demo model's world: the procedural shapes, colours, positions and words the
shipped model (resources/models/nodestudio-shapes) was trained on.

Only the description ships; the code that trained, exported and evaluated the model lives in
the checkout's tools/demo_model/ (docs/DEMO_MODEL.md), outside the installed package.
"""
