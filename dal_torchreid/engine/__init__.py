"""Engines: the label-free DAL and Cluster Contrast engines, and torchreid's supervised
video engines with recorded test results for comparison."""
from dal_torchreid.engine.supervised import RecordedVideoSoftmaxEngine, RecordedVideoTripletEngine
from dal_torchreid.engine.video_cluster_contrast import VideoClusterContrastEngine
from dal_torchreid.engine.video_dal import VideoDALEngine

__all__ = ['VideoDALEngine', 'VideoClusterContrastEngine', 'RecordedVideoSoftmaxEngine',
           'RecordedVideoTripletEngine']
