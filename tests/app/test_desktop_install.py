"""`nodestudio --install-desktop`: the menu entry, icons and graph MIME type land in a user's XDG
folders, associate graph files with NodeStudio, and uninstall removes exactly them (issue 21)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from nodestudio.app import desktop_install
from nodestudio.app.desktop_install import APP_ID, GRAPH_MIME, DesktopInstallError
from nodestudio.cli import main

PACKAGING = Path(__file__).resolve().parents[2] / "packaging" / "linux"


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {"HOME": str(tmp_path / "home"), "XDG_DATA_HOME": str(tmp_path / "data"),
           "XDG_CONFIG_HOME": str(tmp_path / "config")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def _desktop_entry(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def test_install_writes_entry_icons_and_mime_type(xdg: dict[str, str]) -> None:
    data = Path(xdg["XDG_DATA_HOME"])
    report = desktop_install.install(command=["/opt/node studio/nodestudio"])
    entry = _desktop_entry(data / "applications" / f"{APP_ID}.desktop")
    # The absolute, quoted command: the desktop session need not have the venv on its PATH.
    assert entry["Exec"] == "'/opt/node studio/nodestudio' %f"
    assert entry["Icon"] == APP_ID
    assert GRAPH_MIME in entry["MimeType"].split(";")
    assert "image/png" in entry["MimeType"].split(";")
    mime = (data / "mime" / "packages" / f"{APP_ID}.xml").read_text(encoding="utf-8")
    assert f'type="{GRAPH_MIME}"' in mime and 'pattern="*.nodestudio.json"' in mime
    assert (data / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg").is_file()
    sizes = []
    for png in (data / "icons" / "hicolor").glob(f"*x*/apps/{APP_ID}.png"):
        with Image.open(png) as image:
            assert f"{image.width}x{image.height}" == png.parts[-3]  # the size its folder says
            sizes.append(image.width)
    assert sorted(sizes) == [16, 22, 24, 32, 48, 64, 128, 256, 512]
    # NodeStudio becomes the default for its own graphs, never for PNGs.
    mimeapps = (Path(xdg["XDG_CONFIG_HOME"]) / "mimeapps.list").read_text(encoding="utf-8")
    assert f"{GRAPH_MIME}={APP_ID}.desktop" in mimeapps
    assert "image/png" not in mimeapps
    assert len(report.written) == 1 + 1 + 1 + 1 + 9  # entry, mime, metainfo, svg, pngs


@pytest.mark.skipif(shutil.which("update-mime-database") is None,
                    reason="shared-mime-info is not installed")
def test_the_mime_database_maps_graph_files_to_the_type(xdg: dict[str, str]) -> None:
    data = Path(xdg["XDG_DATA_HOME"])
    report = desktop_install.install(command=["nodestudio"])
    assert "update-mime-database" in report.ran
    globs = (data / "mime" / "globs2").read_text(encoding="utf-8")
    assert f"{GRAPH_MIME}:*.nodestudio.json" in globs
    # Plain *.json graphs (what the Save dialog writes) are recognised by their first bytes.
    assert b"nodestudio.graph" in (data / "mime" / "magic").read_bytes()


def test_uninstall_removes_exactly_what_install_wrote(xdg: dict[str, str]) -> None:
    data, config = Path(xdg["XDG_DATA_HOME"]), Path(xdg["XDG_CONFIG_HOME"])
    other_app = data / "applications" / "other.desktop"
    other_app.parent.mkdir(parents=True)
    other_app.write_text("[Desktop Entry]\nName=Other\n", encoding="utf-8")
    config.mkdir(parents=True)
    (config / "mimeapps.list").write_text(
        "[Default Applications]\nimage/png=viewer.desktop\n", encoding="utf-8")

    written = desktop_install.install(command=["nodestudio"]).written
    removed = desktop_install.uninstall().removed
    assert sorted(removed) == sorted(written)
    assert not any(path.exists() for path in written)
    assert other_app.read_text(encoding="utf-8") == "[Desktop Entry]\nName=Other\n"
    assert (config / "mimeapps.list").read_text(encoding="utf-8") == (
        "[Default Applications]\nimage/png=viewer.desktop\n")
    assert desktop_install.uninstall().removed == []  # a second uninstall has nothing to do


def test_a_users_own_default_for_graphs_is_kept(xdg: dict[str, str]) -> None:
    config = Path(xdg["XDG_CONFIG_HOME"])
    config.mkdir(parents=True)
    chosen = f"[Default Applications]\n{GRAPH_MIME}=editor.desktop\n"
    (config / "mimeapps.list").write_text(chosen, encoding="utf-8")
    desktop_install.install(command=["nodestudio"])
    assert (config / "mimeapps.list").read_text(encoding="utf-8") == chosen
    desktop_install.uninstall()
    assert (config / "mimeapps.list").read_text(encoding="utf-8") == chosen


def test_the_cli_installs_and_uninstalls(xdg: dict[str, str],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    entry = Path(xdg["XDG_DATA_HOME"]) / "applications" / f"{APP_ID}.desktop"
    assert main(["--install-desktop"]) == 0
    assert entry.is_file()
    assert "installed 13 files" in capsys.readouterr().out
    assert main(["--uninstall-desktop"]) == 0
    assert not entry.exists()
    assert "removed 13 files" in capsys.readouterr().out


def test_missing_packaging_files_are_one_clear_sentence(
        xdg: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(desktop_install, "packaging_dir", lambda: tmp_path / "nowhere")
    with pytest.raises(DesktopInstallError, match="desktop files are missing from"):
        desktop_install.install()
    assert main(["--install-desktop"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nodestudio: the desktop files are missing") and "Traceback" not in err


def test_an_unwritable_data_folder_is_one_clear_sentence(xdg: dict[str, str]) -> None:
    blocker = Path(xdg["XDG_DATA_HOME"])
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("a file where the folder should be", encoding="utf-8")
    with pytest.raises(DesktopInstallError, match="could not write the desktop files under"):
        desktop_install.install(command=["nodestudio"])


@pytest.mark.parametrize(("tool", "arguments"), [
    ("desktop-file-validate", [str(PACKAGING / f"{APP_ID}.desktop")]),
    ("appstreamcli", ["validate", "--no-net", str(PACKAGING / f"{APP_ID}.metainfo.xml")]),
])
def test_the_metadata_validates(tool: str, arguments: list[str]) -> None:
    # .ci/run installs both tools, so CI always runs this.
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")
    done = subprocess.run([tool, *arguments], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
