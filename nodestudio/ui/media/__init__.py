"""Players for the outputs that are not still images: video, sound and meshes."""

from nodestudio.ui.media.mesh_view import MeshRenderer, MeshView
from nodestudio.ui.media.panel import MediaPreview, media_thumbnail
from nodestudio.ui.media.video_player import VideoPlayer
from nodestudio.ui.media.waveform import AudioPlayer, WaveformView, column_peaks

__all__ = ["AudioPlayer", "MediaPreview", "MeshRenderer", "MeshView", "VideoPlayer",
           "WaveformView", "column_peaks", "media_thumbnail"]
