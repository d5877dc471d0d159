"""ComfyUI's video and audio file nodes: an API prompt using them imports onto NodeStudio's
nodes, runs (files on disk, read back) and exports back; an unknown save node is reported."""

from __future__ import annotations

import json
from fractions import Fraction

import av
import numpy as np
import pytest
import soundfile
from PIL import Image

from nodestudio.app.formats import graph_from_data, read_graph
from nodestudio.app.session import Session
from nodestudio.engine.unrun import unrunnable_outputs
from nodestudio.interop.comfy import export_api_prompt

FRAMES, FPS, RATE = 4, 8, 16000

PROMPT = {
    "1": {"class_type": "LoadVideo", "inputs": {"file": "clip.mp4 [input]"}},
    "2": {"class_type": "GetVideoComponents", "inputs": {"video": ["1", 0]}},
    "3": {"class_type": "SaveAnimatedWEBP",
          "inputs": {"images": ["2", 0], "filename_prefix": "anim", "fps": 5.0,
                     "lossless": True, "quality": 80, "method": "default"}},
    "4": {"class_type": "SaveAnimatedPNG",
          "inputs": {"images": ["2", 0], "filename_prefix": "anim", "fps": 4.0,
                     "compress_level": 4}},
    "5": {"class_type": "SaveWEBM",
          "inputs": {"images": ["2", 0], "filename_prefix": "webm", "codec": "vp9",
                     "fps": ["2", 2], "crf": 32.0}},
    "6": {"class_type": "CreateVideo",
          "inputs": {"images": ["2", 0], "fps": 10.0, "audio": ["7", 0]}},
    "7": {"class_type": "LoadAudio", "inputs": {"audio": "tone.wav"}},
    "8": {"class_type": "SaveVideo",
          "inputs": {"video": ["6", 0], "filename_prefix": "video/ComfyUI", "format": "auto",
                     "codec": "auto"}},
    "9": {"class_type": "SaveAudio", "inputs": {"audio": ["7", 0],
                                                "filename_prefix": "audio/ComfyUI"}},
    "10": {"class_type": "SaveAudioMP3", "inputs": {"audio": ["7", 0],
                                                    "filename_prefix": "audio/ComfyUI",
                                                    "quality": "V0"}},
}


@pytest.fixture
def session(registry, tmp_path):
    made = Session(device="cpu", models_dir=tmp_path / "models", output_dir=tmp_path / "out",
                   input_dir=tmp_path / "in", registry=registry)
    (tmp_path / "in").mkdir()
    frames = np.zeros((FRAMES, 16, 16, 3), np.uint8)
    for index in range(FRAMES):
        frames[index, :, : 4 * (index + 1)] = 255
    with av.open(str(tmp_path / "in" / "clip.mp4"), "w", format="mp4") as output:
        stream = output.add_stream("libx264", rate=Fraction(FPS))
        stream.width = stream.height = 16
        stream.pix_fmt = "yuv420p"
        for pixels in frames:
            output.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        output.mux(stream.encode(None))
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(RATE // 2) / RATE)
    soundfile.write(tmp_path / "in" / "tone.wav", tone, RATE)
    return made


def test_media_prompt_imports_onto_nodestudio_nodes(registry):
    graph = graph_from_data(json.loads(json.dumps(PROMPT)), registry)
    types = {node.id: node.type for node in graph}
    assert types == {"1": "video.load", "2": "video.components", "3": "video.save_webp",
                     "4": "video.save_apng", "5": "video.save_webm", "6": "video.create",
                     "7": "audio.load", "8": "video.save", "9": "audio.save",
                     "10": "audio.save"}
    assert graph.node("1").values["file"] == "clip.mp4"
    assert graph.node("10").values["format"] == "mp3"
    assert graph.link_into("5", "fps").source == "2"
    assert not [w for w in graph.load_warnings if w.kind in ("unknown_type", "ignored_input")]


def test_imported_media_prompt_runs_and_every_save_node_writes_its_file(session, registry):
    graph = graph_from_data(json.loads(json.dumps(PROMPT)), registry)
    result = session.run(graph)
    names = sorted(path.relative_to(session.settings.output_dir).as_posix()
                   for path in result.files)
    assert names == ["anim_00001_.png", "anim_00001_.webp", "audio/ComfyUI_00001_.flac",
                     "audio/ComfyUI_00001_.mp3", "video/ComfyUI_00001_.mp4",
                     "webm_00001_.webm"]
    out = session.settings.output_dir
    with Image.open(out / "anim_00001_.webp") as picture:
        assert picture.n_frames == FRAMES
    with av.open(str(out / "webm_00001_.webm")) as container:
        # The fps came through the link from the loaded video.
        assert float(container.streams.video[0].average_rate) == pytest.approx(FPS)
    with av.open(str(out / "video/ComfyUI_00001_.mp4")) as container:
        assert float(container.streams.video[0].average_rate) == pytest.approx(10.0)
        assert container.streams.audio[0].rate == RATE
        prompt = json.loads(container.metadata["prompt"])  # ComfyUI can open it too
    assert {entry["class_type"] for entry in prompt.values()} >= {"SaveVideo", "CreateVideo"}
    flac = soundfile.info(out / "audio/ComfyUI_00001_.flac")
    assert (flac.samplerate, flac.channels, flac.frames) == (RATE, 1, RATE // 2)
    reopened = read_graph(out / "audio/ComfyUI_00001_.flac", registry)
    assert {node.type for node in reopened} == {node.type for node in graph}


def test_export_writes_the_media_nodes_back(registry):
    graph = graph_from_data(json.loads(json.dumps(PROMPT)), registry)
    exported = export_api_prompt(graph, registry)
    classes = {node_id: entry["class_type"] for node_id, entry in exported.items()}
    assert classes["10"] == "SaveAudioMP3" and classes["9"] == "SaveAudio"
    assert classes["8"] == "SaveVideo" and exported["8"]["inputs"]["format"] == "auto"
    assert exported["3"]["inputs"]["fps"] == 5.0


def test_an_unknown_save_node_is_reported_as_not_running(registry):
    prompt = {
        "1": PROMPT["1"], "2": PROMPT["2"],
        "3": {"class_type": "VHS_VideoCombine",
              "inputs": {"images": ["2", 0], "frame_rate": 8, "filename_prefix": "x"}},
        "4": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
    }
    graph = graph_from_data(prompt, registry)
    [warning] = [w for w in graph.load_warnings if w.kind == "unrunnable_output"]
    assert warning.node_id == "3"
    assert "VHS_VideoCombine" in warning.message and "mute or delete it" in warning.message
    [problem] = unrunnable_outputs(graph, registry)
    assert problem.node_id == "3"
    # Muting it is the way to run the rest: then nothing is reported.
    graph.node("3").mode = "muted"
    assert unrunnable_outputs(graph, registry) == []
    # An unknown node that feeds a known one is not an output (its consumer reports it).
    prompt["5"] = {"class_type": "ImageSharpenPlus", "inputs": {"image": ["2", 0]}}
    prompt["4"]["inputs"]["images"] = ["5", 0]
    assert [p.node_id for p in unrunnable_outputs(graph_from_data(prompt, registry),
                                                  registry)] == ["3"]
