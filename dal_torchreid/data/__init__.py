"""Data: label-free tracklet frames for DAL and the synthetic video re-id generator."""
from dal_torchreid.data.tracklet_frames import (
    TrackletFrameDataset, TrackletFrameSampler, build_tracklet_frame_loader
)

__all__ = ['TrackletFrameDataset', 'TrackletFrameSampler', 'build_tracklet_frame_loader']
