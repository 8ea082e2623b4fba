"""The keys of training and its optimisers: ``train.*``, ``sgd.*``, ``rmsprop.*``, ``adam.*``."""
from __future__ import annotations

from dal_torchreid.data.tracklet_frames import BATCH_SIZE, check_batch_size
from dal_torchreid.engine.distributed import DIST_TIMEOUT, check_dist_timeout
from dal_torchreid.engine.ema import EMA_DECAY, check_ema_decay
from dal_torchreid.engine.memory_format import CHANNELS_LAST, check_channels_last
from dal_torchreid.engine.optimization import check_amp
from dal_torchreid.experiment.budget import UNSUPERVISED_ENGINES
from dal_torchreid.experiment.config.keys import ALL, SUPERVISED, UNSUPERVISED, Key
from dal_torchreid.experiment.config.torchreid import ENGINES
from dal_torchreid.optim import WEIGHT_DECAY_SCOPE, check_optim, check_weight_decay_scope

T = dict(torchreid=True)  # torchreid's own key

TRAIN_KEYS: dict[str, Key] = {
    'train.optim': Key('adam', ALL, 'optimiser: torchreid\'s, or `rmsprop_tf` (TensorFlow\'s '
                       'RMSProp: accumulator from ones, epsilon inside the root, as the release)',
                       check_optim, torchreid=True, extends="adds 'rmsprop_tf'"),
    'train.lr': Key(0.0003, ALL, 'learning rate', **T),
    'train.weight_decay': Key(5e-4, ALL, 'weight decay', **T),
    'train.max_epoch': Key(60, ALL, 'DAL epochs; the supervised engines train as many of their '
                           'own epochs as see the same frames (`train.supervised_epochs`)', **T),
    'train.start_epoch': Key(0, ALL, 'epoch to start from (set by `model.resume`)', **T),
    'train.restart': Key(False, UNSUPERVISED, 'a `data.save_dir` holding an unfinished run of '
                         'the same config: start over, moving its files aside (False: resume it '
                         'from its `checkpoint-latest.pth.tar`)'),
    'train.weight_decay_scope': Key(WEIGHT_DECAY_SCOPE, ALL, '`all` parameters (torchreid) or '
                                    '`conv_linear`: convolution and linear weights only (the '
                                    'release)', check_weight_decay_scope),
    'train.batch_size': Key(BATCH_SIZE, ALL, 'frames per step and process for every engine; the '
                            'supervised engines train `batch_size // video.seq_len` clips',
                            check_batch_size, checked_for=UNSUPERVISED_ENGINES, torchreid=True,
                            extends='counts frames for every engine'),
    'train.supervised_epochs': Key(0, SUPERVISED, 'epochs of a supervised engine; 0: as many as '
                                   "see DAL's training frames (`train.max_epoch` DAL epochs), "
                                   'learning-rate steps scaled alike'),
    'train.fixbase_epoch': Key(0, ALL, 'epochs training only `train.open_layers` (torchreid)',
                               **T),
    'train.open_layers': Key(['classifier'], ALL, 'layers trained during `train.fixbase_epoch`',
                             **T),
    'train.staged_lr': Key(False, ALL, 'a smaller learning rate for the base layers (torchreid)',
                           **T),
    'train.new_layers': Key(['classifier'], ALL, 'layers keeping the full rate with '
                            '`train.staged_lr`', **T),
    'train.base_lr_mult': Key(0.1, ALL, 'learning-rate multiplier of the base layers with '
                              '`train.staged_lr`', **T),
    'train.lr_scheduler': Key('single_step', ALL, 'torchreid learning-rate scheduler, stepped '
                              'once an epoch', **T),
    'train.stepsize': Key([20], ALL, 'epochs at which the rate is multiplied by `train.gamma` '
                          '(`single_step`: every that many epochs)', **T),
    'train.gamma': Key(0.1, ALL, 'learning-rate decay factor', **T),
    'train.print_freq': Key(20, ALL, 'steps between progress lines', **T),
    'train.seed': Key(1, ALL, 'random seed (Python, numpy, torch and the frame sampler)', **T),
    'train.amp': Key('', UNSUPERVISED, "autocast of the backbone: '' (float32), `bf16` (CPU or "
                     'CUDA) or `fp16` (CUDA, gradient scaling); the loss runs in float32',
                     check_amp, checked_for=UNSUPERVISED_ENGINES),
    'train.channels_last': Key(CHANNELS_LAST, ALL, 'train in channels-last memory format (model '
                               'and training batches); measured faster at re-id input sizes on '
                               'the CPU, slower at tiny inputs (docs/benchmarks.md); False: '
                               'torchreid\'s contiguous layout', check_channels_last),
    'train.ema': Key(False, UNSUPERVISED, 'keep, evaluate and save an exponential moving average '
                     'of the trainable weights (the release)'),
    'train.ema_decay': Key(EMA_DECAY, UNSUPERVISED, 'decay of that average, with TensorFlow\'s '
                           'num_updates warm-up (release 0.9999)', check_ema_decay,
                           checked_for=UNSUPERVISED_ENGINES),
    'train.dist_timeout': Key(DIST_TIMEOUT, ALL, 'torchrun: seconds a rank waits for the others '
                              'before failing; 0: torch\'s default (30 min gloo, 10 min NCCL)',
                              check_dist_timeout),
    'sgd.momentum': Key(0.9, ALL, 'momentum of `sgd`, `rmsprop` and `rmsprop_tf`', **T),
    'sgd.dampening': Key(0., ALL, 'SGD dampening', **T),
    'sgd.nesterov': Key(False, ALL, 'Nesterov momentum for SGD', **T),
    'rmsprop.alpha': Key(0.99, ALL, 'RMSProp decay of the squared-gradient average', **T),
    'rmsprop.eps': Key(1e-8, ALL, 'epsilon of `rmsprop` and `rmsprop_tf` (torchreid has none)'),
    'adam.beta1': Key(0.9, ALL, 'Adam first-moment decay', **T),
    'adam.beta2': Key(0.999, ALL, 'Adam second-moment decay', **T),
}

# Settings only some engines read: another engine would run as if they were unset.
SUPERVISED_ENGINES = tuple(e for e in ENGINES if e not in UNSUPERVISED_ENGINES)
ENGINE_ONLY_SETTINGS: dict[str, tuple[str, ...]] = {
    'train.amp': UNSUPERVISED_ENGINES, 'train.ema': UNSUPERVISED_ENGINES,
    'train.supervised_epochs': SUPERVISED_ENGINES,
}
