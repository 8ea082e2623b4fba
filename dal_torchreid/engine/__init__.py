"""Engines: the DAL training engine, and torchreid's supervised video engines
with recorded test results for comparison."""
from dal_torchreid.engine.supervised import RecordedVideoSoftmaxEngine, RecordedVideoTripletEngine
from dal_torchreid.engine.video_dal import VideoDALEngine

__all__ = ['VideoDALEngine', 'RecordedVideoSoftmaxEngine', 'RecordedVideoTripletEngine']
