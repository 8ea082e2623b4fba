"""Engines: the DAL training engine and its checkpoint and embedding helpers."""
from dal_torchreid.engine.video_dal import VideoDALEngine

__all__ = ['VideoDALEngine']
