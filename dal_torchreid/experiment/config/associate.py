"""The keys of ``dal-associate``: cross-camera global ids of footage tracklets (``associate.*``)."""
from __future__ import annotations

from dal_torchreid.cluster import check_eps, check_k1, check_k2, check_min_samples
from dal_torchreid.experiment.config.keys import ASSOCIATE, Key
from dal_torchreid.footage.carry_threshold import CARRY_THRESHOLD, check_carry_threshold
from dal_torchreid.footage.global_ids import EPS, K1, K2, MIN_SAMPLES, TOP_K, check_top_k

ASSOCIATE_KEYS: dict[str, Key] = {
    'associate.top_k': Key(TOP_K, ASSOCIATE, 'best matches in other cameras listed per tracklet '
                           '(`matches.csv`, `report.html`)', check_top_k),
    'associate.k1': Key(K1, ASSOCIATE, 'k-reciprocal neighbourhood (itself included) of the '
                        'camera-aware clustering into global ids', check_k1),
    'associate.k2': Key(K2, ASSOCIATE, 'query expansion of the Jaccard distances', check_k2),
    'associate.eps': Key(EPS, ASSOCIATE, 'DBSCAN radius in Jaccard distance: larger joins more '
                         'tracklets into one identity', check_eps),
    'associate.min_samples': Key(MIN_SAMPLES, ASSOCIATE, 'DBSCAN\'s core size; tracklets in no '
                                 'cluster are identities of their own', check_min_samples),
    'associate.carry_threshold': Key(CARRY_THRESHOLD, ASSOCIATE, '`--gallery`: least cosine '
                                     'similarity of a new tracklet to a gallery identity (its '
                                     'mean feature) for it to take that global id; 0: found '
                                     'without labels from how alike the gallery\'s different '
                                     'identities look (printed, and recorded in '
                                     '`summary.json`)', check_carry_threshold),
}
