"""A user's own footage: tracker output to a label-free tracklet data set torchreid loads.

:func:`make_tracklets` cuts the crops of a single-camera tracker's tracks from each
camera's video (``dal-make-tracklets``); :class:`FootageTrackletDataset` is that data
set as a torchreid video data set with no identities, registered under its name with
:func:`register_footage_dataset`.
"""
from dal_torchreid.data.footage.dataset import (
    UNKNOWN_PID, FootageTracklet, FootageTrackletDataset, NoIdentitiesError,
    read_footage_tracklets, register_footage_dataset
)
from dal_torchreid.data.footage.sources import CameraFootage, FootageError
from dal_torchreid.data.footage.tracklets import (
    INFO, MANIFEST, TrackletSettings, make_tracklets, read_manifest
)
from dal_torchreid.data.footage.tracks import TrackFileError, read_mot_file

__all__ = ['FootageTrackletDataset', 'FootageTracklet', 'NoIdentitiesError', 'UNKNOWN_PID',
           'read_footage_tracklets', 'register_footage_dataset', 'CameraFootage', 'FootageError', 'TrackFileError', 'TrackletSettings', 'INFO',
           'MANIFEST', 'make_tracklets', 'read_manifest', 'read_mot_file']
