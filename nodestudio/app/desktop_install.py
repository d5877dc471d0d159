"""`nodestudio --install-desktop` / `--uninstall-desktop`: the menu entry, icons and the graph
MIME type in the user's XDG folders (no root, no Qt).

The files come from ``packaging/linux/`` (a checkout) or ``nodestudio/_bundled/packaging/linux``
(a wheel or the PyInstaller bundle). What an install wrote is listed in a manifest, so
uninstall removes exactly that — never a file the user or another app put there.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from nodestudio.paths import resources_dir

APP_ID = "org.nodestudio.NodeStudio"
GRAPH_MIME = "application/x-nodestudio-graph"
MANIFEST_NAME = "desktop-install.json"


class DesktopInstallError(Exception):
    """One sentence for the user: what failed and what to do."""


@dataclass
class InstallReport:
    written: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)  # cache tools that were present and ran


def packaging_dir() -> Path:
    """packaging/linux beside resources/ (checkout) or inside _bundled/ (wheel, bundle)."""
    return resources_dir().parent / "packaging" / "linux"


def data_home(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    value = env.get("XDG_DATA_HOME", "")
    # The XDG spec: a relative path is invalid and must be ignored.
    if value and Path(value).is_absolute():
        return Path(value)
    return Path(env.get("HOME", str(Path.home()))) / ".local" / "share"


def config_home(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    value = env.get("XDG_CONFIG_HOME", "")
    if value and Path(value).is_absolute():
        return Path(value)
    return Path(env.get("HOME", str(Path.home()))) / ".config"


def launch_command() -> list[str]:
    """What the menu entry runs: the bundle's executable, else the console script next to this
    Python (a venv need not be on the desktop session's PATH), else `python -m nodestudio.cli`."""
    if getattr(sys, "frozen", False):
        return [sys.executable]
    script = Path(sys.executable).parent / "nodestudio"
    if script.is_file():
        return [str(script)]
    found = shutil.which("nodestudio")
    if found:
        return [found]
    return [sys.executable, "-m", "nodestudio.cli"]


def _desktop_text(source: Path, command: list[str]) -> str:
    # The Exec key quotes per the Desktop Entry spec; shlex's quoting is a subset of it.
    exec_line = " ".join(shlex.quote(part) for part in command)
    lines = []
    for line in source.read_text(encoding="utf-8").splitlines():
        if line.startswith("Exec="):
            line = f"Exec={exec_line} %f"
        elif line.startswith("TryExec="):
            line = f"TryExec={command[0]}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _planned_files(source: Path, home: Path) -> list[tuple[Path, Path]]:
    """(source, destination) for every file except the .desktop entry (which is rewritten)."""
    pairs = [(source / f"{APP_ID}-mime.xml", home / "mime" / "packages" / f"{APP_ID}.xml"),
             # Software centres that read the user's data folder show it; harmless elsewhere.
             (source / f"{APP_ID}.metainfo.xml", home / "metainfo" / f"{APP_ID}.metainfo.xml"),
             (source / "icons" / f"{APP_ID}.svg",
              home / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg")]
    for png in sorted((source / "icons").glob(f"*/{APP_ID}.png")):
        size = png.parent.name
        pairs.append((png, home / "icons" / "hicolor" / size / "apps" / f"{APP_ID}.png"))
    return pairs


def install(environ: dict[str, str] | None = None,
            command: list[str] | None = None) -> InstallReport:
    source = packaging_dir()
    desktop_source = source / f"{APP_ID}.desktop"
    if not desktop_source.is_file():
        raise DesktopInstallError(
            f"the desktop files are missing from {source}; reinstall NodeStudio (the wheel and "
            "the bundle carry them) or run this from a full checkout.")
    home = data_home(environ)
    report = InstallReport()
    try:
        desktop = home / "applications" / f"{APP_ID}.desktop"
        desktop.parent.mkdir(parents=True, exist_ok=True)
        desktop.write_text(_desktop_text(desktop_source, command or launch_command()),
                           encoding="utf-8")
        report.written.append(desktop)
        for src, dst in _planned_files(source, home):
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            report.written.append(dst)
        default_added = _add_default(config_home(environ) / "mimeapps.list")
    except OSError as error:
        raise DesktopInstallError(
            f"could not write the desktop files under {home} ({error.strerror or error}); "
            "check that the folder is writable.") from error
    manifest = {"files": [str(path) for path in report.written],
                "mimeapps_default": default_added}
    manifest_path = _manifest_path(environ)
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    report.ran = _refresh_caches(home)
    return report


def uninstall(environ: dict[str, str] | None = None) -> InstallReport:
    manifest_path = _manifest_path(environ)
    report = InstallReport()
    if not manifest_path.is_file():
        return report  # nothing of ours is installed: nothing to remove
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files = [Path(path) for path in manifest["files"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DesktopInstallError(
            f"the install record {manifest_path} is unreadable ({error}); delete the files "
            f"named {APP_ID}.* under {data_home(environ)} by hand.") from error
    for path in files:
        if path.is_file():
            path.unlink()
            report.removed.append(path)
    if manifest.get("mimeapps_default"):
        _remove_default(config_home(environ) / "mimeapps.list")
    manifest_path.unlink()
    report.ran = _refresh_caches(data_home(environ))
    return report


def _manifest_path(environ: dict[str, str] | None) -> Path:
    return data_home(environ) / "nodestudio" / MANIFEST_NAME


_DEFAULT_LINE = f"{GRAPH_MIME}={APP_ID}.desktop"


def _add_default(mimeapps: Path) -> bool:
    """Make NodeStudio the default for its own graph type unless the user chose another app;
    PNGs stay with the image viewer (NodeStudio is only offered in "Open With")."""
    lines = mimeapps.read_text(encoding="utf-8").splitlines() if mimeapps.is_file() else []
    if any(line.startswith(f"{GRAPH_MIME}=") for line in lines):
        return False
    if "[Default Applications]" in lines:
        lines.insert(lines.index("[Default Applications]") + 1, _DEFAULT_LINE)
    else:
        lines += ([""] if lines else []) + ["[Default Applications]", _DEFAULT_LINE]
    mimeapps.parent.mkdir(parents=True, exist_ok=True)
    mimeapps.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return True


def _remove_default(mimeapps: Path) -> None:
    if not mimeapps.is_file():
        return
    lines = mimeapps.read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines if line != _DEFAULT_LINE]
    if kept != lines:
        mimeapps.write_text("\n".join(kept) + "\n", encoding="utf-8")


def _refresh_caches(home: Path) -> list[str]:
    """Run the desktop's cache tools when present; without them the files still work after
    the next login, so a missing tool is not an error."""
    ran = []
    for tool, folder in (("update-desktop-database", home / "applications"),
                         ("update-mime-database", home / "mime"),
                         ("gtk-update-icon-cache", home / "icons" / "hicolor")):
        path = shutil.which(tool)
        if path is None or not folder.is_dir():
            continue
        arguments = [path, "-q", "-t", str(folder)] if tool.startswith("gtk") else [path,
                                                                                     str(folder)]
        try:
            subprocess.run(arguments, check=False, capture_output=True, timeout=60)
        except (OSError, subprocess.SubprocessError):
            continue
        ran.append(tool)
    return ran
