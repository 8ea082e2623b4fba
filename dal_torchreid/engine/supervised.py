"""torchreid's supervised video engines, recording their training frames and test results.

The baselines DAL is compared against: torchreid's own ``VideoSoftmaxEngine``
and ``VideoTripletEngine``, trained with identity labels exactly as torchreid
trains them; they also take ``eval_frame_batch_size`` (the all-frame fast
path), count ``frames_seen`` and keep the full CMC curve and mAP in
``test_results`` (see :mod:`dal_torchreid.engine.evaluation`).
"""
import torchreid

from dal_torchreid.engine.evaluation import RecordingMixin


class RecordedVideoSoftmaxEngine(RecordingMixin, torchreid.engine.VideoSoftmaxEngine):
    """``torchreid.engine.VideoSoftmaxEngine`` that records frames and test results.

    Args:
        *args, **kwargs: those of ``torchreid.engine.VideoSoftmaxEngine``.
        eval_frame_batch_size (int, optional): 0: torchreid's test path; > 0: all
            frames, this many per model call.

    Examples::

        engine = RecordedVideoSoftmaxEngine(datamanager, model, optimizer,
                                            pooling_method='avg', eval_frame_batch_size=256)
        engine.run(save_dir='log/softmax', max_epoch=20)
        engine.frames_seen, engine.test_results['prid2011']['mAP']
    """

    method = 'softmax'  # the engine's name in results.json (loss.name)


class RecordedVideoTripletEngine(RecordingMixin, torchreid.engine.VideoTripletEngine):
    """``torchreid.engine.VideoTripletEngine`` that records frames and test results.

    Args:
        *args, **kwargs: those of ``torchreid.engine.VideoTripletEngine``.
        eval_frame_batch_size (int, optional): 0: torchreid's test path; > 0: all
            frames, this many per model call.

    Examples::

        engine = RecordedVideoTripletEngine(datamanager, model, optimizer, margin=0.3,
                                            eval_frame_batch_size=256)
        engine.run(save_dir='log/triplet', max_epoch=20)
    """

    method = 'triplet'  # the engine's name in results.json (loss.name)
