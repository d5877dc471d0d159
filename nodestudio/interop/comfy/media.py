"""ComfyUI's video and audio file nodes: their definitions (inputs in order) and mapping rules.

From comfy_extras/nodes_images.py (SaveAnimatedWEBP, SaveAnimatedPNG), nodes_video.py
(SaveWEBM, SaveVideo, CreateVideo, GetVideoComponents, LoadVideo) and nodes_audio.py
(LoadAudio, SaveAudio, SaveAudioMP3, SaveAudioOpus). The model-specific video and audio nodes
belong to their families' modules.
"""

from __future__ import annotations

from nodestudio.graph.model import Node
from nodestudio.interop.comfy.catalog import ComfyInput, ComfyNodeDef
from nodestudio.interop.comfy.rules import Direct, Exporter, Rule


def _in(name: str, kind: str, default: object = None, **flags: bool) -> ComfyInput:
    return ComfyInput(name, kind, default, **flags)


_PREFIX = _in("filename_prefix", "STRING", "ComfyUI")

#: ComfyUI's node definitions for this area, merged into catalog.CORE_NODES.
DEFINITIONS: tuple[ComfyNodeDef, ...] = (
    ComfyNodeDef("SaveAnimatedWEBP", "SaveAnimatedWEBP",
                 (_in("images", "IMAGE"), _PREFIX, _in("fps", "FLOAT", 6.0),
                  _in("lossless", "BOOLEAN", True), _in("quality", "INT", 80),
                  _in("method", "COMBO", "default"))),
    ComfyNodeDef("SaveAnimatedPNG", "SaveAnimatedPNG",
                 (_in("images", "IMAGE"), _PREFIX, _in("fps", "FLOAT", 6.0),
                  _in("compress_level", "INT", 4))),
    ComfyNodeDef("SaveWEBM", "SaveWEBM",
                 (_in("images", "IMAGE"), _PREFIX, _in("codec", "COMBO", "vp9"),
                  _in("fps", "FLOAT", 24.0), _in("crf", "FLOAT", 32.0))),
    ComfyNodeDef("SaveVideo", "Save Video",
                 (_in("video", "VIDEO"), _in("filename_prefix", "STRING", "video/ComfyUI"),
                  _in("format", "COMBO", "auto"), _in("codec", "COMBO", "auto"))),
    ComfyNodeDef("CreateVideo", "Create Video",
                 (_in("images", "IMAGE"), _in("fps", "FLOAT", 30.0),
                  _in("audio", "AUDIO", optional=True)),
                 (("VIDEO", "VIDEO"),)),
    ComfyNodeDef("GetVideoComponents", "Get Video Components", (_in("video", "VIDEO"),),
                 (("images", "IMAGE"), ("audio", "AUDIO"), ("fps", "FLOAT"))),
    ComfyNodeDef("LoadVideo", "Load Video", (_in("file", "COMBO"),), (("VIDEO", "VIDEO"),),
                 trailing_widgets=1, frontend_inputs=("upload",)),
    ComfyNodeDef("LoadAudio", "Load Audio", (_in("audio", "COMBO"),), (("AUDIO", "AUDIO"),),
                 trailing_widgets=2, frontend_inputs=("upload", "audioUI")),
    ComfyNodeDef("SaveAudio", "Save Audio (FLAC)",
                 (_in("audio", "AUDIO"), _in("filename_prefix", "STRING", "audio/ComfyUI")),
                 trailing_widgets=1, frontend_inputs=("audioUI",)),
    ComfyNodeDef("SaveAudioMP3", "Save Audio (MP3)",
                 (_in("audio", "AUDIO"), _in("filename_prefix", "STRING", "audio/ComfyUI"),
                  _in("quality", "COMBO", "V0")),
                 trailing_widgets=1, frontend_inputs=("audioUI",)),
    ComfyNodeDef("SaveAudioOpus", "Save Audio (Opus)",
                 (_in("audio", "AUDIO"), _in("filename_prefix", "STRING", "audio/ComfyUI"),
                  _in("quality", "COMBO", "128k")),
                 trailing_widgets=1, frontend_inputs=("audioUI",)),
)

_SAVE = {"filename_prefix": "filename_prefix"}


class FormatRule(Direct):
    """One of several ComfyUI save nodes for one NodeStudio node: exports only the nodes set
    to its format (Save Audio as FLAC → SaveAudio, as MP3 → SaveAudioMP3 …)."""

    def accepts(self, node: Node, exporter: Exporter) -> bool:
        node_type = exporter.registry.get(node.type)
        default = node_type.default_values().get("format") if node_type else None
        return exporter.values(node).get("format", default) == self.ns_fixed.get("format")


def rules() -> list[Rule]:
    from nodestudio.interop.comfy.mapping import FileName

    return [
        Direct("SaveAnimatedWEBP", "video.save_webp",
               {"images": "images", **_SAVE, "fps": "fps", "lossless": "lossless",
                "quality": "quality", "method": "method"}),
        Direct("SaveAnimatedPNG", "video.save_apng",
               {"images": "images", **_SAVE, "fps": "fps", "compress_level": "compress_level"}),
        # AV1 is not offered: an imported "av1" is noted and saved as VP9.
        Direct("SaveWEBM", "video.save_webm",
               {"images": "images", **_SAVE, "fps": "fps", "crf": "crf"},
               comfy_fixed={"codec": "vp9"}),
        # ComfyUI's "auto" is MP4 H.264 at ffmpeg's default quality (crf 23).
        FormatRule("SaveVideo", "video.save", {"video": "video", **_SAVE},
               ns_fixed={"format": "mp4", "crf": 23},
               comfy_fixed={"format": "auto", "codec": "auto"}),
        Direct("CreateVideo", "video.create", {"images": "images", "fps": "fps",
                                               "audio": "audio"}, ("video",)),
        Direct("GetVideoComponents", "video.components", {"video": "video"},
               ("images", "audio", "fps")),
        Direct("LoadVideo", "video.load", {"file": "file"}, ("video",),
               convert={"file": FileName()}),
        Direct("LoadAudio", "audio.load", {"audio": "audio"}, ("audio",),
               convert={"audio": FileName()}),
        FormatRule("SaveAudio", "audio.save", {"audio": "audio", **_SAVE},
               ns_fixed={"format": "flac"}),
        FormatRule("SaveAudioMP3", "audio.save", {"audio": "audio", **_SAVE, "quality": "quality"},
               ns_fixed={"format": "mp3"}),
        FormatRule("SaveAudioOpus", "audio.save", {"audio": "audio", **_SAVE, "quality": "quality"},
               ns_fixed={"format": "opus"}),
    ]
