"""torchreid's supervised video engines, recording their training frames and test results.

The baselines DAL is compared against: torchreid's own ``VideoSoftmaxEngine``
and ``VideoTripletEngine``, trained with identity labels exactly as torchreid
trains them; they also take ``eval_frame_batch_size`` (the all-frame fast
path), count ``frames_seen`` and keep the full CMC curve and mAP in
``test_results`` (see :mod:`dal_torchreid.engine.evaluation`); their checkpoints are
written atomically.
"""
import os.path as osp

import torchreid

from dal_torchreid.engine.evaluation import RecordingMixin
from dal_torchreid.models.weights import save_checkpoint_atomic


class AtomicCheckpoints:
    """torchreid's ``save_model``: the same files (``<save_dir>/model/model.pth.tar-<epoch>``,
    ``model-best.pth.tar``) with the same contents, written atomically
    (:func:`~dal_torchreid.models.weights.save_checkpoint_atomic`): a checkpoint that cannot
    be written (a directory in its place, a full disk) is a
    :class:`~dal_torchreid.files.errors.WriteError` naming it, and never a half-written file."""

    def save_model(self, epoch, rank1, save_dir, is_best=False):
        """Writes each model's checkpoint; returns the path of the first."""
        paths = []
        for name in self.get_model_names():
            state = {'state_dict': self._models[name].state_dict(), 'epoch': epoch + 1,
                     'rank1': rank1, 'optimizer': self._optims[name].state_dict(),
                     'scheduler': self._scheds[name].state_dict()}
            folder = osp.join(save_dir, name)
            path = save_checkpoint_atomic(state, osp.join(folder, f'model.pth.tar-{epoch + 1}'))
            print(f'Checkpoint saved to "{path}"')
            paths.append(path)
            if is_best:
                save_checkpoint_atomic(state, osp.join(folder, 'model-best.pth.tar'))
        return paths[0] if paths else None


class RecordedVideoSoftmaxEngine(AtomicCheckpoints, RecordingMixin,
                                 torchreid.engine.VideoSoftmaxEngine):
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


class RecordedVideoTripletEngine(AtomicCheckpoints, RecordingMixin,
                                 torchreid.engine.VideoTripletEngine):
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
