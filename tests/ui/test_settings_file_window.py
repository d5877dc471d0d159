"""The window opens on a settings.json with a typo, or a --models folder that is not there,
and says so in the Log."""

from __future__ import annotations


def test_the_log_names_what_settings_json_holds_that_cannot_be_used(qtbot, tmp_path,
                                                                      monkeypatch):
    from nodestudio.ui.application import create_main_window

    monkeypatch.setenv("NODESTUDIO_HOME", str(tmp_path))
    (tmp_path / "config").mkdir()
    settings = tmp_path / "config" / "settings.json"
    settings.write_text('{"farm_adress": "ray://10.0.0.2:10001", "warm_start": false}')
    window = create_main_window(autosave=False)
    qtbot.addWidget(window)
    assert window.log_dock.messages("warning") == [
        f"{settings}: unknown setting 'farm_adress' is ignored (did you mean 'farm_address'?)"]
    assert not window.log_dock.messages("error")


def test_the_log_names_a_models_folder_that_is_not_there(qtbot, tmp_path, monkeypatch):
    from nodestudio.ui.application import create_main_window

    monkeypatch.setenv("NODESTUDIO_HOME", str(tmp_path))
    monkeypatch.setenv("NODESTUDIO_WARM_START", "0")
    window = create_main_window(models=[tmp_path / "modles"], autosave=False)
    qtbot.addWidget(window)
    assert window.log_dock.messages("warning") == [
        f"--models {tmp_path / 'modles'}: there is no such folder"]
