"""The keys of the backbone and the data: ``use_gpu``, ``model.*``, ``data.*``, ``sampler.*``,
``video.*`` (torchreid's, with the plugin's additions)."""
from __future__ import annotations

from dal_torchreid.data.datamanager import check_sources, check_targets
from dal_torchreid.data.frame_reading import SKIP_BAD_FRAMES
from dal_torchreid.experiment.config.keys import ALL, CLIPS, SUPERVISED, Key
from dal_torchreid.metrics import POOLING_METHOD, check_pooling_method
from dal_torchreid.models import ALLOW_PARTIAL_WEIGHTS, LOAD_EMA
from dal_torchreid.optim import BN_MOMENTUM, check_bn_momentum

T = dict(torchreid=True)  # torchreid's own key

MODEL_DATA_KEYS: dict[str, Key] = {
    'use_gpu': Key(True, ALL, 'use a GPU when one is available', **T),
    'model.name': Key('resnet50', ALL, 'torchreid backbone (`torchreid.models.show_avai_models()`); '
                      'DAL trains on the input of its `classifier`', **T),
    'model.pretrained': Key(True, ALL, 'start from ImageNet weights (torchreid\'s model zoo; '
                            '`mobilenetv2_x1_0` from `dal-fetch-weights`)', **T),
    'model.bn_momentum': Key(BN_MOMENTUM, ALL, 'BatchNorm momentum set on every BatchNorm '
                             'layer; 0 keeps the model\'s own (0.1). The release: 0.0003 '
                             'MobileNet, 0.003 ResNet-50', check_bn_momentum),
    'model.load_weights': Key('', ALL, 'weights file to start from (replaces '
                              '`model.pretrained`); every backbone tensor must fit', **T),
    'model.allow_partial_weights': Key(ALLOW_PARTIAL_WEIGHTS, ALL, 'accept a '
                                       '`model.load_weights` file that lacks some backbone '
                                       'tensors'),
    'model.load_ema': Key(LOAD_EMA, ALL, 'a DAL checkpoint with an EMA: load the EMA (what its '
                          'run evaluated); False: the trained weights'),
    'model.resume': Key('', ALL, 'checkpoint to continue training from (weights, optimiser, '
                        'scheduler, anchors, random states)', **T),
    'data.type': Key('video', ALL, 'data set type; the plugin trains video re-id only', **T),
    'data.root': Key('reid-data', ALL, 'data root holding the data set folders (`--root`)', **T),
    'data.sources': Key(['prid2011'], ALL, 'training data sets (`-s`); several keep their cameras '
                        'apart', check_sources, torchreid=True,
                        extends='checked against the registry before any data is read'),
    'data.targets': Key(['prid2011'], ALL, 'test data sets (`-t`); empty: the sources',
                        check_targets, torchreid=True,
                        extends='checked against the registry before any data is read'),
    'data.workers': Key(4, ALL, 'data loader worker processes (0: load in the main process)', **T),
    'data.split_id': Key(0, ALL, 'person split of PRID2011 / iLIDS-VID to train and test on', **T),
    'data.height': Key(256, ALL, 'input height in pixels', **T),
    'data.width': Key(128, ALL, 'input width in pixels', **T),
    'data.combineall': Key(False, ALL, 'train on train, query and gallery together (torchreid)',
                           **T),
    'data.transforms': Key(['random_flip'], ALL, 'training augmentation (torchreid names, e.g. '
                           '`random_flip`); the release uses none', **T),
    'data.norm_mean': Key([0.485, 0.456, 0.406], ALL, 'per-channel mean subtracted from the '
                          '[0, 1] pixels', **T),
    'data.norm_std': Key([0.229, 0.224, 0.225], ALL, 'per-channel std the pixels are divided by',
                         **T),
    'data.save_dir': Key('log', ALL, 'where logs, checkpoints, `results.json` and plots go', **T),
    'data.skip_bad_frames': Key(SKIP_BAD_FRAMES, ALL, 'skip unreadable frames with one warning '
                                'per file (the next readable frame of the tracklet is used); '
                                'False: stop naming the file'),
    # video.seq_len 16 and sampler.num_instances 2 (torchreid: 15 and 4) so that the default
    # 64-frame batch suits every engine: 4 clips of 16 frames, 2 identities x 2 tracklets for
    # the triplet engine, 1 pseudo-identity x 4 clips for Cluster Contrast
    'sampler.train_sampler': Key('', SUPERVISED, 'torchreid sampler of the supervised engines; '
                                 "'': `RandomIdentitySampler` (triplet), `RandomSampler` "
                                 '(softmax)', **T),
    'sampler.num_instances': Key(2, SUPERVISED, 'tracklets per identity in a batch of '
                                 '`RandomIdentitySampler` (torchreid: 4; 2 lets the default '
                                 '64-frame batch hold two identities)', **T),
    'sampler.num_cams': Key(1, SUPERVISED, 'cameras per batch of `RandomDomainSampler`', **T),
    'sampler.num_datasets': Key(1, SUPERVISED, 'data sets per batch of `RandomDatasetSampler`',
                                **T),
    'video.seq_len': Key(16, CLIPS, 'frames per training clip of the supervised engines and cc '
                         '(and per test clip on torchreid\'s path unless `sample_method` is '
                         '`all`); torchreid: 15, here 16 so that 64 frames are 4 clips', **T),
    'video.sample_method': Key('evenly', ALL, 'frames torchreid samples from a test tracklet '
                               '(`all`: every frame); the supervised engines\' clips too, unless '
                               '`video.train_sample_method` is set', **T),
    'video.train_sample_method': Key('', SUPERVISED, "frames of the supervised engines' training "
                                     "clips; '': `video.sample_method`"),
    'video.pooling_method': Key(POOLING_METHOD, ALL, 'frames to a tracklet feature at test: '
                                '`avg`, `max`, or `release` (normalise each frame, element-wise '
                                'max, normalise)', check_pooling_method, torchreid=True,
                                extends="adds 'release'"),
}
