"""A user's own footage: tracker output to tracklets, label-free training data, global ids.

The application on top of the plugin's engines, in the order a user runs it:

* :func:`make_tracklets` (``dal-make-tracklets``): a single-camera tracker's
  MOTChallenge files (:mod:`.tracks`) and each camera's video or frames
  (:mod:`.sources`) to a tracklet data set (:mod:`.tracklets`, :mod:`.manifest`);
  the user's files are only read (:mod:`.folders`, :mod:`.fingerprint`);
* :class:`FootageTrackletDataset` (:mod:`.dataset`): that data set as a torchreid video
  data set without identities, registered under its name, which ``dal-train`` trains
  DAL or Cluster Contrast on;
* :func:`~dal_torchreid.footage.association.associate` (``dal-associate``): tracklet
  features, global ids across cameras (:mod:`.global_ids`), the tracker's own lines with
  them (:mod:`.tracker_lines`), an HTML report (:mod:`.report`, :mod:`.thumbnails`) and,
  with ground truth, the scores (:mod:`.scores`, :mod:`.evaluation`); an earlier run's
  files moved aside first (:mod:`.output_files`); ``OUT/gallery.pth`` kept
  (:mod:`.gallery`), and with ``--gallery`` the ids of an earlier run carried to the new
  footage (:mod:`.carried_ids`, :mod:`.tracklet_carry`, :mod:`.carry_threshold`);
* :func:`~dal_torchreid.footage.search.search` (``dal-search``, :mod:`.search_run`): one
  person's tracklets ranked across cameras, ``search.csv`` and ``search.html``
  (:mod:`.search_report`).
"""
from dal_torchreid.footage.dataset import (
    UNKNOWN_PID, FootageTracklet, FootageTrackletDataset, NoIdentitiesError,
    read_footage_tracklets, register_footage_dataset
)
from dal_torchreid.footage.manifest import INFO, MANIFEST, read_manifest
from dal_torchreid.footage.sources import CameraFootage, FootageError
from dal_torchreid.footage.tracklets import TrackletSettings, make_tracklets
from dal_torchreid.footage.tracks import TrackFileError, read_mot_file

__all__ = ['FootageTrackletDataset', 'FootageTracklet', 'NoIdentitiesError', 'UNKNOWN_PID',
           'read_footage_tracklets', 'register_footage_dataset', 'CameraFootage',
           'FootageError', 'TrackFileError', 'TrackletSettings', 'INFO', 'MANIFEST',
           'make_tracklets', 'read_manifest', 'read_mot_file']
