"""The keys of the engines: ``loss.*`` (which engine trains, torchreid's losses), ``dal.*``
(Deep Association Learning) and ``cc.*`` (camera-aware Cluster Contrast)."""
from __future__ import annotations

from dal_torchreid.cluster import (
    EPS, K1, K2, METHOD, MIN_MARGIN, MIN_SAMPLES, MIN_SIMILARITY, MUTUAL_NEIGHBORS, OUTLIERS,
    check_eps, check_k1, check_k2, check_method, check_min_margin, check_min_samples,
    check_min_similarity, check_mutual_neighbors, check_outliers
)
from dal_torchreid.data.frames import FEATURE_FRAMES, check_feature_frames
from dal_torchreid.data.pseudo_identity_sampler import (
    CLIPS_PER_IDENTITY, STEPS_PER_EPOCH, check_clips_per_identity, check_steps_per_epoch
)
from dal_torchreid.data.tracklet_frames import (
    NUM_INSTANCES, SAMPLING, check_num_instances, check_sampling
)
from dal_torchreid.engine.optimization import CLIP_GRAD_VALUE, check_clip_grad_value
from dal_torchreid.engine.video_cluster_contrast import (
    CLUSTERINGS_PER_EPOCH, check_clusterings_per_epoch
)
from dal_torchreid.engine.video_dal import (
    ANCHOR_INIT, WARMUP_EPOCHS, check_anchor_init, check_warmup_epochs
)
from dal_torchreid.experiment.config.keys import CC, DAL, SUPERVISED, TOOL, TRIPLET, Key
from dal_torchreid.losses import (
    CROSS_CAMERA_WEIGHT, ETA, INTRA_MUTUAL_NEIGHBORS, MARGIN, MEMORY_UPDATE, MOMENTUM, NEGATIVES,
    PROXIES, TEMPERATURE, check_cross_camera_weight, check_eta, check_intra_mutual_neighbors,
    check_margin, check_memory_update, check_momentum, check_negatives, check_proxies,
    check_temperature
)

T = dict(torchreid=True)  # torchreid's own key
D = dict(checked_for=('dal',))  # checked in DAL runs
C = dict(checked_for=('cc',))  # checked in Cluster Contrast runs

LOSS_KEYS: dict[str, Key] = {
    'loss.name': Key('dal', TOOL, 'the engine: `dal` or `cc` (Cluster Contrast), no identity '
                     'labels; or torchreid\'s supervised `softmax` / `triplet` (identity labels) '
                     '(`--engine`)', torchreid=True, extends="adds 'dal'"),
    'loss.softmax.label_smooth': Key(True, SUPERVISED, 'label smoothing of the cross-entropy '
                                     'loss', **T),
    'loss.triplet.margin': Key(0.3, TRIPLET, 'triplet loss margin', **T),
    'loss.triplet.weight_t': Key(1., TRIPLET, 'weight of the triplet loss', **T),
    'loss.triplet.weight_x': Key(0., TRIPLET, 'weight of the cross-entropy loss beside it', **T),
}

DAL_KEYS: dict[str, Key] = {
    'dal.margin': Key(MARGIN, DAL, 'hinge margin `m` of both DAL losses (release 0.5)',
                      check_margin, **D),
    'dal.eta': Key(ETA, DAL, 'update rate of the intra-camera anchors (release 0.5)', check_eta,
                   **D),
    'dal.warmup_epochs': Key(WARMUP_EPOCHS, DAL, 'epochs before cross-camera association starts '
                             '(release: 2 PRID2011 / iLIDS-VID, 1 MARS)', check_warmup_epochs, **D),
    'dal.anchor_init': Key(ANCHOR_INIT, DAL, 'anchors start as `zeros` (release) or each '
                           'tracklet\'s mean normalised frame feature (`features`)',
                           check_anchor_init, **D),
    'dal.intra_mutual_neighbors': Key(INTRA_MUTUAL_NEIGHBORS, DAL, '`k` > 0: tracklets of one '
                                      'camera among each other\'s `k` nearest intra anchors '
                                      '(found each epoch) are not each other\'s negatives; 0: '
                                      'any tracklet (release)', check_intra_mutual_neighbors, **D),
    'dal.sampling': Key(SAMPLING, DAL, '`frame`: uniform over training frames (release); '
                        '`tracklet`: every tracklet once an epoch, `dal.num_instances` frames '
                        'each', check_sampling, **D),
    'dal.num_instances': Key(NUM_INSTANCES, DAL, 'frames per tracklet with `dal.sampling '
                             'tracklet`', check_num_instances, **D),
    'dal.clip_grad_value': Key(CLIP_GRAD_VALUE, DAL, 'clip gradients by value (release 2.0); 0: '
                               'off', check_clip_grad_value, **D),
    'dal.diagnostics': Key(True, DAL, 'score each epoch\'s associations against identities, read '
                           'separately, for reporting only'),
}

CC_KEYS: dict[str, Key] = {
    'cc.k1': Key(K1, CC, 'Jaccard neighbourhood size, the tracklet itself included (reference '
                 '30)', check_k1, **C),
    'cc.k2': Key(K2, CC, 'query-expansion neighbours; 1: none (reference 6)', check_k2, **C),
    'cc.eps': Key(EPS, CC, 'DBSCAN radius in Jaccard distance (reference 0.6); more clusters and '
                  'outliers below, chained clusters above: watch both in the diagnostics',
                  check_eps, **C),
    'cc.min_samples': Key(MIN_SAMPLES, CC, "DBSCAN's core-point count, the tracklet itself "
                          'included (reference 4; 2 where a person has one tracklet per camera)',
                          check_min_samples, **C),
    'cc.camera_centred': Key(False, CC, "cluster features with each camera's mean feature "
                             'subtracted, renormalised'),
    'cc.cross_camera': Key(False, CC, 'neighbours, and DBSCAN\'s pairs, from other cameras only'),
    'cc.mutual_neighbors': Key(MUTUAL_NEIGHBORS, CC, "n > 0: DBSCAN's pairs only between "
                               "tracklets among each other's n nearest; 0: off",
                               check_mutual_neighbors, **C),
    'cc.outliers': Key(OUTLIERS, CC, 'un-clustered tracklets sit out the epoch (`drop`, '
                       'reference) or train as classes of their own (`own_class`)',
                       check_outliers, **C),
    'cc.pseudo_labels': Key(METHOD, CC, '`dbscan`: Jaccard distances and DBSCAN with the options '
                            'above (reference); `assignment`: two cameras only, a one-to-one '
                            'cross-camera assignment (Hungarian method) keeping its confident '
                            'pairs', check_method, **C),
    'cc.assignment_min_similarity': Key(MIN_SIMILARITY, CC, '`assignment`: keep a pair only if '
                                        'its cosine similarity is at least this (-1: any)',
                                        check_min_similarity, **C),
    'cc.assignment_min_margin': Key(MIN_MARGIN, CC, '`assignment`: keep a pair only if its '
                                    "similarity exceeds either tracklet's next best in the other "
                                    'camera by this (0: mutual nearest; -2: every pair)',
                                    check_min_margin, **C),
    'cc.clusterings_per_epoch': Key(CLUSTERINGS_PER_EPOCH, CC, 're-cluster this many times an '
                                    'epoch, its steps split evenly (reference 1); the learning '
                                    'rate moves per epoch', check_clusterings_per_epoch, **C),
    'cc.feature_frames': Key(FEATURE_FRAMES, CC, '> 0: at most this many frames of each tracklet, '
                             'spread evenly, make its clustering feature; 0: every frame',
                             check_feature_frames, **C),
    'cc.cross_camera_weight': Key(CROSS_CAMERA_WEIGHT, CC, '> 0: add this times a cross-camera '
                                  "positive term (CAP and PPLR's inter-camera loss: positives "
                                  "the clip's cluster as other cameras see it); 0: off "
                                  '(reference)', check_cross_camera_weight, **C),
    'cc.temperature': Key(TEMPERATURE, CC, 'softmax temperature of the memory loss (reference '
                          '0.05)', check_temperature, **C),
    'cc.momentum': Key(MOMENTUM, CC, 'centroid momentum of the memory update (reference 0.1)',
                       check_momentum, **C),
    'cc.memory_update': Key(MEMORY_UPDATE, CC, '`all`: every clip moves its centroid in turn; '
                            '`hard`: only the least similar clip of each identity (reference '
                            '`--use-hard`)', check_memory_update, **C),
    'cc.negatives': Key(NEGATIVES, CC, '`all`: a clip\'s loss competes with every cluster '
                        '(reference); `camera`: only with its own and those with a tracklet in '
                        'its camera', check_negatives, **C),
    'cc.proxies': Key(PROXIES, CC, '`cluster`: one memory centroid per cluster (reference); '
                      '`camera`: one per cluster and camera, trained with CAP\'s intra- and '
                      'inter-camera losses (needs `cc.negatives all`)', check_proxies, **C),
    'cc.clips_per_identity': Key(CLIPS_PER_IDENTITY, CC, 'K clips of `video.seq_len` frames per '
                                 'pseudo-identity a step (`train.batch_size` = P x K x seq_len)',
                                 check_clips_per_identity, **C),
    'cc.steps_per_epoch': Key(STEPS_PER_EPOCH, CC, 'steps per epoch; 0: as many as a DAL epoch '
                              'over the same frames', check_steps_per_epoch, **C),
    'cc.clip_grad_value': Key(0.0, CC, 'clip gradients by value; 0: off (reference)',
                              check_clip_grad_value, **C),
    'cc.diagnostics': Key(True, CC, 'score each epoch\'s pseudo-labels against identities, read '
                          'separately, for reporting only'),
}
