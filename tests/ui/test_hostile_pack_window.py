"""The window opens, and says why, when a node pack calls sys.exit while it is imported."""

from __future__ import annotations

import os
import subprocess
import sys

OPEN_WINDOW = """
from nodestudio.ui.application import create_main_window, ensure_application
app = ensure_application(headless_ok=True)
window = create_main_window(autosave=False)
window.show()
app.processEvents()
print('opened', 'math.float' in window.editor.registry)
for message in window.log_dock.messages('error'):
    print(message)
"""


def test_the_window_opens_despite_a_pack_calling_sys_exit(tmp_path):
    (tmp_path / "packs").mkdir()
    (tmp_path / "packs" / "exit_pack.py").write_text("import sys\nsys.exit(3)\n")
    environment = dict(os.environ, NODESTUDIO_HOME=str(tmp_path), QT_QPA_PLATFORM="offscreen")
    opened = subprocess.run([sys.executable, "-c", OPEN_WINDOW], env=environment,
                            capture_output=True, text=True, timeout=120)
    assert opened.returncode == 0, opened.stderr  # before the fix: 3, and no window
    lines = opened.stdout.splitlines()
    assert lines[0] == "opened True"
    assert any("Node pack exit_pack failed to load: the pack called sys.exit(3) while loading"
               in line for line in lines[1:])
