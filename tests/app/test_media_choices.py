"""Load Video / Load Audio list the input folder's videos and sounds, and obey the same path
rules as Load Image: a shared graph cannot read a clip outside the allowed folders."""

from __future__ import annotations

from pathlib import Path

from nodestudio.app.choices import available_choices
from nodestudio.app.packs import create_registry
from nodestudio.app.path_rules import outside_paths
from nodestudio.graph import Graph


def _touch(folder: Path, *names: str) -> None:
    for name in names:
        (folder / name).write_bytes(b"x")


def test_video_and_audio_sources_list_their_own_files(tmp_path):
    _touch(tmp_path, "clip.MP4", "loop.webm", "voice.flac", "take.wav", "still.png")
    assert available_choices("files:input_video", None, tmp_path) == ["clip.MP4", "loop.webm"]
    assert available_choices("files:input_audio", None, tmp_path) == ["take.wav", "voice.flac"]


def test_a_video_outside_the_input_folder_needs_consent(tmp_path):
    registry = create_registry(user_packs_dir=None)
    private = tmp_path / "private"
    private.mkdir()
    _touch(private, "secret.mp4", "secret.flac")
    inputs = tmp_path / "input"
    inputs.mkdir()
    video_type = next(t for t in registry if any(
        s.choices_source == "files:input_video" for s in t.inputs))
    audio_type = next(t for t in registry if any(
        s.choices_source == "files:input_audio" for s in t.inputs))
    graph = Graph()
    video_input = next(s.name for s in video_type.inputs if s.choices_source)
    audio_input = next(s.name for s in audio_type.inputs if s.choices_source)
    video = graph.add_node(video_type.id, {video_input: str(private / "secret.mp4")})
    audio = graph.add_node(audio_type.id, {audio_input: "../private/secret.flac"})
    found = {(p.node_id, p.input) for p in outside_paths(graph, registry, inputs)}
    assert found == {(video.id, video_input), (audio.id, audio_input)}
    assert outside_paths(graph, registry, inputs, allowed=[private]) == []
