"""Reading and writing other tools' graph formats (ComfyUI so far). No Qt and no torch here."""
