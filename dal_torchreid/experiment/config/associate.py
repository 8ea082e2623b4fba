"""The keys of ``dal-associate``: cross-camera global ids of footage tracklets (``associate.*``)."""
from __future__ import annotations

from dal_torchreid.cluster import check_eps, check_k1, check_k2, check_min_samples
from dal_torchreid.experiment.config.keys import ASSOCIATE, Key
from dal_torchreid.footage.camera_links import MODES, check_mode
from dal_torchreid.footage.carry_threshold import CARRY_THRESHOLD, check_carry_threshold
from dal_torchreid.footage.global_ids import check_top_k
from dal_torchreid.footage.linking import (
    METHODS, AssociationSettings, check_least, check_link_weight, check_method, threshold_setting
)

_DEFAULT = AssociationSettings()


ASSOCIATE_KEYS: dict[str, Key] = {
    'associate.method': Key(_DEFAULT.method, ASSOCIATE, 'how tracklets become global ids: '
                            + ' or '.join(f'`{m}`' for m in METHODS) + '; `agglomerative`: '
                            'average linkage over a k-nearest-neighbour graph, never joining two '
                            'tracks of one camera that overlap in time, with camera links; '
                            '`dbscan`: the earlier camera-aware DBSCAN (`associate.k1` .. '
                            '`associate.min_samples`)', check_method),
    'associate.threshold': Key('auto', ASSOCIATE, '`agglomerative`: least average linkage of a '
                               'merge, in appearance z-score units (plus the camera links\' '
                               'log-likelihood ratio); `auto`: found from the footage without '
                               'labels (printed, and recorded in `summary.json` with how)',
                               threshold_setting, number_or_auto=True),
    'associate.camera_links': Key(_DEFAULT.camera_links, ASSOCIATE, '`agglomerative`: transit '
                                  'times and image sides learned per camera pair from the '
                                  'footage (`camera_links.json`): ' + ', '.join(
                                      f'`{m}`' for m in MODES) + '; `auto` uses them when the '
                                  'transit times are sharper than chance', check_mode),
    'associate.k': Key(_DEFAULT.k, ASSOCIATE, '`agglomerative`: nearest neighbours in other '
                       'cameras per tracklet in the graph (memory O(N k))', check_least('k')),
    'associate.k_within': Key(_DEFAULT.k_within, ASSOCIATE, '`agglomerative`: nearest '
                              'neighbours in its own camera (fragments, returns); 0: none',
                              check_least('k_within')),
    'associate.rounds': Key(_DEFAULT.rounds, ASSOCIATE, '`agglomerative`: camera links learned '
                            'again from the global ids, and the ids found again',
                            check_least('rounds')),
    'associate.link_weight': Key(_DEFAULT.link_weight, ASSOCIATE, '`agglomerative`: weight of '
                                 'the camera links\' log-likelihood ratio beside appearance',
                                 check_link_weight),
    'associate.min_people': Key(_DEFAULT.min_people, ASSOCIATE, '`agglomerative`: least number of '
                                'global ids (never fewer than one camera holds tracks at once)',
                                check_least('min_people')),
    'associate.top_k': Key(_DEFAULT.top_k, ASSOCIATE, 'best matches in other cameras listed per '
                           'tracklet (`matches.csv`, `report.html`)', check_top_k),
    'associate.k1': Key(_DEFAULT.k1, ASSOCIATE, '`dbscan`: k-reciprocal neighbourhood (itself '
                        'included) of the camera-aware clustering into global ids', check_k1),
    'associate.k2': Key(_DEFAULT.k2, ASSOCIATE, '`dbscan`: query expansion of the Jaccard '
                        'distances', check_k2),
    'associate.eps': Key(_DEFAULT.eps, ASSOCIATE, '`dbscan`: DBSCAN radius in Jaccard distance: '
                         'larger joins more tracklets into one identity', check_eps),
    'associate.min_samples': Key(_DEFAULT.min_samples, ASSOCIATE, '`dbscan`: DBSCAN\'s core size; '
                                 'tracklets in no cluster are identities of their own',
                                 check_min_samples),
    'associate.carry_threshold': Key(CARRY_THRESHOLD, ASSOCIATE, '`--gallery`: least cosine '
                                     'similarity of a new tracklet to a gallery identity (its '
                                     'mean feature) for it to take that global id; 0: found '
                                     'without labels from how alike the gallery\'s different '
                                     'identities look (printed, and recorded in '
                                     '`summary.json`)', check_carry_threshold),
}
