"""Sound nodes in real graphs: Load Audio → Save Audio through PyAV, files read back with
PyAV (sample rate, channels, duration, samples) and soundfile, the graph restored from them."""

from __future__ import annotations

import shutil

import av
import numpy as np
import pytest
import soundfile

import nodestudio
from nodestudio.api import Audio, NodeError
from nodestudio.app.settings import Settings
from nodestudio.graph.model import Graph

RATE = 22050


def chord(seconds: float = 0.5, channels: int = 2) -> np.ndarray:
    t = np.arange(round(RATE * seconds)) / RATE
    tones = [0.4 * np.sin(2 * np.pi * (330 + 110 * c) * t) for c in range(channels)]
    return np.stack(tones).astype(np.float32)


@pytest.fixture
def session(registry, folders):
    return nodestudio.Session(device="cpu", models_dir=folders.models, output_dir=folders.output,
                              input_dir=folders.input, registry=registry, settings=Settings())


@pytest.mark.parametrize("kind", ["flac", "wav"])
def test_loaded_sound_saves_losslessly_with_the_graph_inside(session, folders, kind):
    # The input file is written by soundfile, not by the code under test.
    soundfile.write(folders.input / "voice.wav", chord().T, RATE, subtype="PCM_16")
    graph = Graph()
    graph.add_node("audio.load", {"audio": "voice.wav"}, id="load")
    graph.add_node("audio.save", {"filename_prefix": "sounds/take", "format": kind}, id="save")
    graph.connect("load", "audio", "save", "audio")
    result = session.run(graph)
    [path] = result.files
    assert path == folders.output / "sounds" / f"take_00001_.{kind}"
    samples, rate = soundfile.read(path, dtype="float32", always_2d=True)
    assert rate == RATE and samples.shape == (RATE // 2, 2)
    expected, _ = soundfile.read(folders.input / "voice.wav", dtype="float32", always_2d=True)
    assert np.abs(samples - expected).max() <= 1 / 32768 + 1e-7
    with av.open(str(path)) as container:
        tags = {key.lower(): value for key, value in container.metadata.items()}
    carried = tags["nodestudio"] if kind == "flac" else tags["comment"]
    assert '"audio.load"' in carried
    reopened = session.load_graph(path)
    assert reopened.node("save").values["format"] == kind
    assert reopened.link_into("save", "audio") is not None


@pytest.mark.parametrize(("kind", "quality"), [("mp3", "V0"), ("opus", "96k")])
def test_lossy_formats_keep_rate_channels_and_length(ctx, node, kind, quality):
    sound = Audio(chord(1.0), RATE)
    node("audio.save").function(audio=sound, filename_prefix="lossy", format=kind, ctx=ctx,
                                quality=quality)
    [path] = ctx.files
    assert path.suffix == f".{kind}"
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        assert stream.channels == 2
        assert stream.rate == (48000 if kind == "opus" else RATE)
    back = node("audio.load").function(audio=str(path), ctx=_reading(ctx, path))
    assert back.channels == 2
    assert back.duration == pytest.approx(1.0, abs=0.08)  # encoders pad a few milliseconds
    # The tone is still the tone: correlation with the original, resampled to the same rate.
    original = np.interp(np.arange(back.samples) / back.sample_rate,
                         np.arange(sound.samples) / RATE, sound.waveform[0])
    lag = int(np.argmax(np.correlate(back.waveform[0][:4000], original[:2000], "valid")))
    aligned = back.waveform[0][lag:lag + 10000]
    assert np.corrcoef(aligned, original[:len(aligned)])[0, 1] > 0.95


def _reading(ctx, path):
    """The run context, allowed to read the output folder (the user's consent)."""
    ctx.readable_roots = [path.parent]
    return ctx


def test_mono_sound_and_errors(ctx, node, folders):
    node("audio.save").function(audio=Audio(chord(0.25, 1)[0], RATE), filename_prefix="mono",
                                format="wav", ctx=ctx)
    info = soundfile.info(ctx.files[0])
    assert info.channels == 1 and info.frames == RATE // 4
    with pytest.raises(NodeError, match="expected sound"):
        node("audio.save").function(audio=np.zeros(4), filename_prefix="x", format="flac",
                                    ctx=ctx)
    shutil.copy(ctx.files[0], folders.input / "clip.txt")
    with pytest.raises(NodeError, match="not a sound file"):
        node("audio.load").function(audio="clip.txt", ctx=ctx)
    (folders.input / "broken.flac").write_bytes(b"fLaC" + b"\x00" * 40)
    with pytest.raises(NodeError, match="cannot read the sound file"):
        node("audio.load").function(audio="broken.flac", ctx=ctx)
    with pytest.raises(NodeError, match="sample rate must be positive"):
        Audio(np.zeros((1, 4)), 0)
