"""Data: label-free tracklet frames for DAL and Cluster Contrast (and the latter's sampler of
pseudo-identities), and the synthetic video re-id generator."""
from dal_torchreid.data.pseudo_identity_sampler import PseudoIdentityClipSampler
from dal_torchreid.data.tracklet_frames import (
    TrackletFrameDataset, TrackletFrameSampler, build_tracklet_frame_loader
)

__all__ = ['TrackletFrameDataset', 'TrackletFrameSampler', 'build_tracklet_frame_loader',
           'PseudoIdentityClipSampler']
