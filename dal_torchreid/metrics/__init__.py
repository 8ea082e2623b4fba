"""Metrics: tracklet pooling and the DAL release's evaluation protocols, beside torchreid's."""
from dal_torchreid.metrics.pooling import (
    POOLING_METHOD, POOLING_METHODS, check_pooling_method, finalize_pooled, pool_by_tracklet,
    pool_frames
)
from dal_torchreid.metrics.rank import (
    AP_METHOD, AP_METHODS, MAX_RANK, PROTOCOL, PROTOCOLS, RELEASE_EVALUATIONS,
    all_tracklets_gallery, average_precision, check_ap_method, check_protocol,
    evaluate_both_directions, evaluate_release_protocol, evaluate_release_rank,
    release_evaluation
)

__all__ = [
    'POOLING_METHOD', 'POOLING_METHODS', 'check_pooling_method', 'finalize_pooled',
    'pool_by_tracklet', 'pool_frames',
    'AP_METHOD', 'AP_METHODS', 'MAX_RANK', 'PROTOCOL', 'PROTOCOLS', 'RELEASE_EVALUATIONS',
    'all_tracklets_gallery', 'average_precision', 'check_ap_method', 'check_protocol',
    'evaluate_both_directions', 'evaluate_release_protocol', 'evaluate_release_rank',
    'release_evaluation',
]
