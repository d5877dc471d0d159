"""Test-wide setup: headless Qt, and a private NodeStudio home so tests never touch the user's."""

from __future__ import annotations

import faulthandler
import os
import tempfile
from pathlib import Path

# Without a display Qt aborts; the offscreen platform renders for real, just not to a screen.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Settings, autosaves, packs, output: all under a throw-away folder for this test session.
_HOME = Path(tempfile.mkdtemp(prefix="nodestudio-tests-"))
os.environ["NODESTUDIO_HOME"] = str(_HOME)
for _variable in ("NODESTUDIO_MODELS", "NODESTUDIO_OUTPUT", "NODESTUDIO_INPUT",
                  "NODESTUDIO_DEVICE"):
    os.environ.pop(_variable, None)
# Offline, always: a test that tries the hub must fail, not hang or download.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# No background warm start of the models in windows the tests open (tests that check it set
# it themselves, in subprocesses).
os.environ["NODESTUDIO_WARM_START"] = "0"
# The tiny test models run faster on one thread than on two fighting over two cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import sys  # noqa: E402

# Shared test helpers (tests/fakes.py) importable from every test folder.
sys.path.insert(0, str(Path(__file__).parent))

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """Tiny seeded SD1.5/SDXL/ControlNet/LoRA models in a models root, built once per session.

    A ``nodestudio.runtime.tiny.TinyModels``: ``.root`` is a models root (checkpoints/,
    controlnet/, loras/, vae/, vae_approx/) to hand to a Session or ModelLibrary; its fields
    name the models (``sd_folder``, ``sd_file``, ``sdxl_folder`` …). See nodestudio/runtime/tiny.py.
    """
    from nodestudio.runtime.tiny import build_tiny_models

    return build_tiny_models(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture(scope="session")
def tiny_dit_models(tmp_path_factory):
    """Tiny seeded SD3/Flux models (diffusers folders, original-layout single files, split
    diffusion-model / text-encoder files, the T5 tokenizer in tokenizers/t5, ControlNets) in a
    models root, built once per session. A ``nodestudio.runtime.tiny_dit.TinyDitModels``."""
    from nodestudio.runtime.tiny_dit import build_tiny_dit_models

    return build_tiny_dit_models(tmp_path_factory.mktemp("tiny-dit-models"))


#: How long past its pytest-timeout a test may run before the watchdog ends the session.
_HARD_STOP_GRACE_SECONDS = 60
#: The terminal's stderr, kept before the tests' output is captured: where the watchdog writes.
_watchdog_file: int | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _watchdog_file
    _watchdog_file = os.dup(sys.stderr.fileno())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """End the session, with every thread's stack, when a test is stuck inside native code.

    pytest-timeout fails a test by a signal, which only lands once the main thread runs Python
    again. A test stuck in C (a lock taken by a native library against the GIL) would hang the
    whole run, CI included, and say nothing; faulthandler's watchdog thread does not need the
    main thread: a minute after the test's timeout it prints all stacks and exits.
    """
    timeout = _test_timeout(item)
    if timeout > 0:
        faulthandler.dump_traceback_later(timeout + _HARD_STOP_GRACE_SECONDS, exit=True,
                                          file=_watchdog_file or sys.stderr.fileno())
    try:
        yield
    finally:
        if timeout > 0:
            faulthandler.cancel_dump_traceback_later()


def _test_timeout(item: pytest.Item) -> float:
    """The test's pytest-timeout: its marker, else ``--timeout``, else the ini's."""
    marker = item.get_closest_marker("timeout")
    if marker is not None and marker.args:
        return float(marker.args[0])
    option = item.config.getoption("timeout", None)
    if option is not None:
        return float(option)
    try:
        return float(item.config.getini("timeout") or 0)
    except ValueError:  # pytest-timeout is not installed: no timeout to watch past
        return 0.0


_exit_status = 0


def pytest_sessionfinish(session: object, exitstatus: int) -> None:
    global _exit_status
    _exit_status = int(exitstatus)


def pytest_unconfigure(config: object) -> None:
    """Leave without running Qt's C++ exit handlers once the GUI tests have run.

    After a session that built many windows, PySide6 6.12 tears the last Qt objects down from
    a C++ exit handler after Python has finalised, and the process dies with a segmentation
    fault although every test passed (the window itself exits cleanly: see the screenshot
    tests). Everything pytest reports has been written by now, so exiting here is safe.
    """
    if "PySide6.QtCore" not in sys.modules:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_exit_status)
