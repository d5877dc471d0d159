"""The interop package is pure Python: opening a ComfyUI file imports no torch and no Qt."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from nodestudio.paths import resources_dir


def test_importing_and_converting_a_workflow_imports_nothing_heavy():
    workflow = resources_dir() / "examples" / "comfy" / "controlnet_canny.json"
    script = textwrap.dedent(f"""
        import sys
        import nodestudio
        from nodestudio.app.packs import create_registry
        from nodestudio.interop.comfy import export_api_prompt
        registry = create_registry(entry_points=False)
        graph = nodestudio.load_graph({str(workflow)!r}, registry)
        graph.remove_node("15")
        export_api_prompt(graph, registry)
        heavy = [m for m in ("torch", "diffusers", "transformers", "cv2", "PySide6")
                 if m in sys.modules]
        print(",".join(heavy))
    """)
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True)
    assert output.stdout.strip() == ""
