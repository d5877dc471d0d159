"""Running graphs from the window: queue, progress, badges, previews, errors and outputs.

``install_run_support(window, session)`` adds it all to a MainWindow; see
:mod:`nodestudio.ui.run.controller`.
"""

from nodestudio.ui.run.controller import RunController, install_run_support

__all__ = ["RunController", "install_run_support"]
