"""The keys of evaluation: ``test.*`` (torchreid's, with the plugin's fast path and protocols)."""
from __future__ import annotations

from dal_torchreid.engine.evaluation import EVAL_FRAME_BATCH_SIZE, check_eval_frame_batch_size
from dal_torchreid.experiment.config.keys import ALL, Key
from dal_torchreid.metrics import PROTOCOL, check_protocol

T = dict(torchreid=True)  # torchreid's own key

TEST_KEYS: dict[str, Key] = {
    'test.batch_size': Key(100, ALL, 'tracklets per batch on torchreid\'s test path', **T),
    'test.frame_batch_size': Key(EVAL_FRAME_BATCH_SIZE, ALL, '> 0: the all-frame fast path, this '
                                 'many frames per loader batch; 0: torchreid\'s test path',
                                 check_eval_frame_batch_size),
    'test.protocol': Key(PROTOCOL, ALL, '`torchreid`, or `release`: the DAL release\'s evaluation '
                         'of each data set (PRID2011 one way, iLIDS-VID both ways averaged, MARS '
                         'all test tracklets with trapezoidal AP)', check_protocol),
    'test.both_directions': Key(False, ALL, 'two-camera data sets: also rank the query camera by '
                                "the gallery's and average"),
    'test.dist_metric': Key('euclidean', ALL, 'distance between tracklet features', **T),
    'test.normalize_feature': Key(False, ALL, 'L2-normalise features before the distance', **T),
    'test.ranks': Key([1, 5, 10, 20], ALL, 'CMC ranks printed', **T),
    'test.evaluate': Key(False, ALL, 'test only: evaluate `model.load_weights` (or the untrained '
                         'backbone), no training', **T),
    'test.eval_freq': Key(-1, ALL, 'evaluate every that many epochs; -1: after training only',
                          **T),
    'test.start_eval': Key(0, ALL, 'first epoch to evaluate after', **T),
    'test.rerank': Key(False, ALL, 'k-reciprocal re-ranking of the distances (torchreid)', **T),
    'test.visrank': Key(False, ALL, 'save ranked results as images (test-only runs)', **T),
    'test.visrank_topk': Key(10, ALL, 'ranks shown by `test.visrank`', **T),
}
