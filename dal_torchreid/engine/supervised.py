"""torchreid's supervised video engines, recording their test results.

The baselines DAL is compared against: torchreid's own ``VideoSoftmaxEngine``
and ``VideoTripletEngine``, trained with identity labels exactly as torchreid
trains them; only their evaluation also keeps the full CMC curve and mAP in
``engine.test_results`` (see :mod:`dal_torchreid.engine.evaluation`).
"""
import torchreid

from dal_torchreid.engine.evaluation import RecordedEvaluationMixin


class RecordedVideoSoftmaxEngine(RecordedEvaluationMixin, torchreid.engine.VideoSoftmaxEngine):
    """``torchreid.engine.VideoSoftmaxEngine`` whose evaluation records ``test_results``."""


class RecordedVideoTripletEngine(RecordedEvaluationMixin, torchreid.engine.VideoTripletEngine):
    """``torchreid.engine.VideoTripletEngine`` whose evaluation records ``test_results``."""
