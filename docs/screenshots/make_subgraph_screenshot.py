"""Take docs/screenshots/subgraph.png: a subgraph open for editing (docs only, not a test).

    QT_QPA_PLATFORM=offscreen python docs/screenshots/make_subgraph_screenshot.py \\
        docs/screenshots/subgraph.png

It opens the text-to-image workflow on the demo model, puts the shipped "Hires fix" template
between the sampler and the decoder, opens it (breadcrumb Graph › Hires fix) and grabs the
1400 × 900 window. The PNG carries the graph it shows.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPOSITORY))
os.environ.setdefault("NODESTUDIO_HOME", tempfile.mkdtemp(prefix="nodestudio-shot-"))

from PySide6.QtWidgets import QApplication  # noqa: E402

from nodestudio.ui import application  # noqa: E402  (after the environment is set)


def main(output: Path) -> int:
    from nodestudio.ui.subgraph_library_items import read_definition, templates_dir
    from nodestudio.ui.subgraph_window import add_definition_instance, open_instance

    app = QApplication.instance() or QApplication(sys.argv)
    window = application.create_main_window(
        REPOSITORY / "resources" / "workflows" / "text_to_image.json", autosave=False)
    window.resize(1400, 900)
    window.show()
    graph = window.editor.graph
    decode = next(n.id for n in graph if n.type == "diffusion.vae_decode")
    sampler = next(n.id for n in graph if n.type == "diffusion.sampler")
    definition = read_definition(templates_dir() / "hires_fix.json")
    assert definition is not None
    pos = graph.layout.nodes[decode].pos
    instance = add_definition_instance(window, definition, (pos[0], pos[1] + 260.0))
    assert instance is not None
    editor = window.editor
    editor.connect(sampler, "latent", instance, "latent")
    for name in ("model", "positive", "negative"):
        link = graph.link_into(sampler, name)
        editor.connect(link.source, link.output, instance, name)
    editor.connect(instance, "latent", decode, "latent")
    app.processEvents()  # the canvas gets its size before the level is framed
    open_instance(window, instance)  # as a double-click does: framed with its boundary
    window.scene.clearSelection()
    app.processEvents()
    ok = application.take_screenshot(window, output)
    window.close()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "subgraph.png")))
