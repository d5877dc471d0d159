"""Python warnings that libraries raise while NodeStudio works stay out of the terminal.

Pillow's note on a picture over 89 megapixels, diffusers' and transformers' deprecations, a
torch hint about an operator: none is something an artist can act on, and each printed as
"…/site-packages/PIL/Image.py:3593: DecompressionBombWarning: …" and the source line that
raised it. The `nodestudio` command (runs and the window) sends them to the
"nodestudio.warnings" logger as debug records instead, as Qt's diagnostics go to
"nodestudio.qt". A developer who asks for warnings (``python -W …`` or ``PYTHONWARNINGS``) gets
Python's printing back. Scripts that use NodeStudio as a library keep their own settings.
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path
from typing import Any, TextIO

LOGGER = "nodestudio.warnings"


def route_library_warnings() -> None:
    """Send every Python warning shown from now on to the log (unless -W/PYTHONWARNINGS)."""
    if sys.warnoptions:
        return
    warnings.showwarning = _to_log


def _to_log(message: Warning | str, category: type[Warning], filename: str, lineno: int,
            file: TextIO | None = None, line: str | None = None, **_: Any) -> None:
    logging.getLogger(LOGGER).debug("%s: %s (%s:%d)", category.__name__, message,
                                    Path(filename).name, lineno)
