"""settings.json as people write it by hand: what it holds is taken, and what cannot be used
(broken JSON, a typo in a key, a value of the wrong kind) is said, instead of the setting
silently keeping its default (before, a misspelt "farm_send_token" looked exactly like one
left out, and the farm's error then asked for the setting the user had just written)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nodestudio.app.settings import Settings


def _load(tmp_path: Path, text: str) -> Settings:
    path = tmp_path / "settings.json"
    path.write_text(text, encoding="utf-8")
    return Settings.load(path, environment=False)


def test_every_setting_written_is_read_back_without_a_word(tmp_path):
    written = Settings(device="cpu", memory_mode="offload", fast=True, ram_cache_gib=6.5,
                       farm_address="ray://10.0.0.2:10001", farm_send_token=True,
                       farm_max_retries=0, models_dirs=[tmp_path / "m1", tmp_path / "m2"])
    path = written.save(tmp_path / "settings.json")
    assert "problems" not in json.loads(path.read_text())
    loaded = Settings.load(path, environment=False)
    assert loaded == written and loaded.problems == []


def test_a_typo_and_values_of_the_wrong_kind_are_each_named(tmp_path):
    loaded = _load(tmp_path, json.dumps({
        "farm_sendtoken": True, "fast": "yes", "memory_mode": "turbo", "ram_cache_gib": 0,
        "farm_max_retries": 1000, "device": "cpu", "colour_theme": "dark"}))
    path = tmp_path / "settings.json"
    assert loaded.problems == [
        f"{path}: unknown setting 'farm_sendtoken' is ignored (did you mean 'farm_send_token'?)",
        f"{path}: setting 'fast' is ignored: expected true or false, got \"yes\"",
        f"{path}: setting 'memory_mode' is ignored: expected one of auto, keep, offload, "
        "sequential, fp8, got \"turbo\"",
        f"{path}: setting 'ram_cache_gib' is ignored: expected a number of GiB above 0, or "
        "null, got 0",
        f"{path}: setting 'farm_max_retries' is ignored: expected a whole number from 0 to "
        "100, got 1000",
        f"{path}: unknown setting 'colour_theme' is ignored"]
    # What could be used was: the good value stays, the rest keep their defaults.
    defaults = Settings()
    assert loaded.device == "cpu" and loaded.fast is defaults.fast
    assert (loaded.memory_mode, loaded.farm_send_token) == ("auto", False)


def test_one_folder_without_a_list_around_it_is_taken(tmp_path):
    loaded = _load(tmp_path, json.dumps({"models_dirs": str(tmp_path / "models")}))
    assert loaded.models_dirs == [tmp_path / "models"] and loaded.problems == []


@pytest.mark.parametrize(("text", "why"), [
    ('{"fast": true,}', "is not valid JSON (Expecting property name enclosed in double quotes: "
                        "line 1 column 15 (char 14))"),
    ("[1, 2]", "must hold a JSON object ({...})"),
])
def test_a_broken_file_is_said_and_the_defaults_run(tmp_path, text, why):
    loaded = _load(tmp_path, text)
    assert loaded.problems == [
        f"{tmp_path / 'settings.json'} {why}: NodeStudio uses its defaults until it is fixed"]
    assert loaded.fast is False
    assert (tmp_path / "settings.json").read_text() == text  # left for the user to fix


def test_the_command_says_what_it_ignored_on_stderr(tmp_path):
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "settings.json").write_text('{"fast": "yes"}')
    done = subprocess.run([sys.executable, "-m", "nodestudio.cli", "nodes", "image.save"],
                          env=dict(os.environ, NODESTUDIO_HOME=str(tmp_path)),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("Save Image (image.save")
    assert done.stderr.splitlines() == [
        f"warning: {tmp_path / 'config' / 'settings.json'}: setting 'fast' is ignored: "
        'expected true or false, got "yes"']


def test_a_scripts_session_logs_what_settings_json_holds_that_cannot_be_used(tmp_path,
                                                                           monkeypatch, caplog):
    from nodestudio.app.session import Session

    monkeypatch.setenv("NODESTUDIO_HOME", str(tmp_path))
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "settings.json").write_text('{"devcie": "cpu"}')
    with caplog.at_level("WARNING", logger="nodestudio.settings"):
        Session()
    assert [record.getMessage() for record in caplog.records] == [
        f"{tmp_path / 'config' / 'settings.json'}: unknown setting 'devcie' is ignored "
        "(did you mean 'device'?)"]


def test_a_device_that_is_no_device_is_named_from_the_file_and_from_the_environment(
        tmp_path, monkeypatch):
    # Before, "gpu" was taken, and every run failed at its first model with torch's list of
    # thirty device types.
    loaded = _load(tmp_path, json.dumps({"device": "gpu"}))
    assert loaded.problems == [
        f"{tmp_path / 'settings.json'}: setting 'device' is ignored: expected a device name "
        '("auto", "cpu", "cuda", "cuda:1", "mps"), got "gpu"']
    assert loaded.device == "auto"
    assert _load(tmp_path, json.dumps({"device": "cuda:1"})).device == "cuda:1"
    monkeypatch.setenv("NODESTUDIO_DEVICE", "nvidia")
    from_environment = Settings.load(tmp_path / "none.json")
    assert from_environment.problems == [
        "NODESTUDIO_DEVICE is ignored: 'nvidia' is not a device NodeStudio knows: use auto, "
        "cpu, cuda (cuda:1 for a second card) or mps"]
    assert from_environment.device == "auto"
