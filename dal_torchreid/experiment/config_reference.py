"""The reference of every config key, generated from the code (``docs/config.md``).

Each key's default comes from :func:`dal_torchreid.experiment.config.get_default_config`; what
it accepts comes from the checks that refuse bad values (the plugin's checks beside
the code that interprets each setting, and :mod:`dal_torchreid.experiment.torchreid_settings`
for torchreid's own); only what a key means and which engine reads it is written
here, in :data:`KEY_DOCS`. A test fails when ``docs/config.md`` and this output differ.

Usage::

    python -m dal_torchreid.experiment.config_reference --markdown > docs/config.md
    python -m dal_torchreid.experiment.config_reference --check docs/config.md   # exit 1 if stale
"""
from __future__ import annotations

import argparse
import re
import sys
from typing import Any, Sequence

from dal_torchreid.experiment.config import ENGINE_CHECKS, PLUGIN_CHECKS, _leaves, get_default_config
from dal_torchreid.experiment.torchreid_settings import ENGINES, torchreid_rules

# The keys of torchreid's own scripts/default_config.py (use_gpu: its scripts/main.py);
# every other key is the plugin's.
TORCHREID_KEYS = frozenset("""
use_gpu model.name model.pretrained model.load_weights model.resume data.type data.root
data.sources data.targets data.workers data.split_id data.height data.width data.combineall
data.transforms data.norm_mean data.norm_std data.save_dir sampler.train_sampler
sampler.num_instances sampler.num_cams sampler.num_datasets video.seq_len video.sample_method
video.pooling_method train.optim train.lr train.weight_decay train.max_epoch train.start_epoch
train.batch_size train.fixbase_epoch train.open_layers train.staged_lr train.new_layers
train.base_lr_mult train.lr_scheduler train.stepsize train.gamma train.print_freq train.seed
sgd.momentum sgd.dampening sgd.nesterov rmsprop.alpha adam.beta1 adam.beta2 loss.name
loss.softmax.label_smooth loss.triplet.margin loss.triplet.weight_t loss.triplet.weight_x
test.batch_size test.dist_metric test.normalize_feature test.ranks test.evaluate
test.eval_freq test.start_eval test.rerank test.visrank test.visrank_topk
""".split())

# Where torchreid has the key but the plugin reads it differently or accepts more.
EXTENDED = {
    'video.pooling_method': "adds 'release'",
    'train.optim': "adds 'rmsprop_tf'",
    'train.batch_size': 'counts frames for every engine',
    'loss.name': "adds 'dal'",
    'data.sources': 'checked against the registry before any data is read',
    'data.targets': 'checked against the registry before any data is read',
}

ALL, DAL, CC, SUPERVISED, TRIPLET, TOOL = 'all', 'dal', 'cc', 'softmax, triplet', 'triplet', 'dal-train'
UNSUPERVISED, CLIPS = 'dal, cc', 'softmax, triplet, cc'
ASSOCIATE = 'dal-associate'

# key: (engines that read it, what it means).
KEY_DOCS: dict[str, tuple[str, str]] = {
    'use_gpu': (ALL, 'use a GPU when one is available'),
    'model.name': (ALL, 'torchreid backbone (`torchreid.models.show_avai_models()`); DAL '
                        'trains on the input of its `classifier`'),
    'model.pretrained': (ALL, 'start from ImageNet weights (torchreid\'s model zoo; '
                              '`mobilenetv2_x1_0` from `dal-fetch-weights`)'),
    'model.bn_momentum': (ALL, 'BatchNorm momentum set on every BatchNorm layer; 0 keeps the '
                               'model\'s own (0.1). The release: 0.0003 MobileNet, 0.003 ResNet-50'),
    'model.load_weights': (ALL, 'weights file to start from (replaces `model.pretrained`); '
                                'every backbone tensor must fit'),
    'model.allow_partial_weights': (ALL, 'accept a `model.load_weights` file that lacks some '
                                         'backbone tensors'),
    'model.load_ema': (ALL, 'a DAL checkpoint with an EMA: load the EMA (what its run '
                            'evaluated); False: the trained weights'),
    'model.resume': (ALL, 'checkpoint to continue training from (weights, optimiser, '
                          'scheduler, anchors, random states)'),
    'data.type': (ALL, 'data set type; the plugin trains video re-id only'),
    'data.root': (ALL, 'data root holding the data set folders (`--root`)'),
    'data.sources': (ALL, 'training data sets (`-s`); several keep their cameras apart'),
    'data.targets': (ALL, 'test data sets (`-t`); empty: the sources'),
    'data.workers': (ALL, 'data loader worker processes (0: load in the main process)'),
    'data.split_id': (ALL, 'person split of PRID2011 / iLIDS-VID to train and test on'),
    'data.height': (ALL, 'input height in pixels'),
    'data.width': (ALL, 'input width in pixels'),
    'data.combineall': (ALL, 'train on train, query and gallery together (torchreid)'),
    'data.transforms': (ALL, 'training augmentation (torchreid names, e.g. `random_flip`); '
                             'the release uses none'),
    'data.norm_mean': (ALL, 'per-channel mean subtracted from the [0, 1] pixels'),
    'data.norm_std': (ALL, 'per-channel std the pixels are divided by'),
    'data.save_dir': (ALL, 'where logs, checkpoints, `results.json` and plots go'),
    'data.skip_bad_frames': (ALL, 'skip unreadable frames with one warning per file (the '
                                  'next readable frame of the tracklet is used); False: stop '
                                  'naming the file'),
    'sampler.train_sampler': (SUPERVISED, 'torchreid sampler of the supervised engines; '
                                          "'': `RandomIdentitySampler` (triplet), "
                                          '`RandomSampler` (softmax)'),
    'sampler.num_instances': (SUPERVISED, 'tracklets per identity in a batch of '
                                          '`RandomIdentitySampler` (torchreid: 4; 2 lets the '
                                          'default 64-frame batch hold two identities)'),
    'sampler.num_cams': (SUPERVISED, 'cameras per batch of `RandomDomainSampler`'),
    'sampler.num_datasets': (SUPERVISED, 'data sets per batch of `RandomDatasetSampler`'),
    'video.seq_len': (CLIPS, 'frames per training clip of the supervised engines and cc '
                                  '(and per test clip on torchreid\'s path unless '
                                  '`sample_method` is `all`); torchreid: 15, here 16 so '
                                  'that 64 frames are 4 clips'),
    'video.sample_method': (ALL, 'frames torchreid samples from a test tracklet (`all`: every '
                                 'frame); the supervised engines\' clips too, unless '
                                 '`video.train_sample_method` is set'),
    'video.train_sample_method': (SUPERVISED, "frames of the supervised engines' training "
                                              "clips; '': `video.sample_method`"),
    'video.pooling_method': (ALL, 'frames to a tracklet feature at test: `avg`, `max`, or '
                                  '`release` (normalise each frame, element-wise max, '
                                  'normalise)'),
    'train.optim': (ALL, 'optimiser: torchreid\'s, or `rmsprop_tf` (TensorFlow\'s RMSProp: '
                         'accumulator from ones, epsilon inside the root, as the release)'),
    'train.lr': (ALL, 'learning rate'),
    'train.weight_decay': (ALL, 'weight decay'),
    'train.max_epoch': (ALL, 'DAL epochs; the supervised engines train as many of their own '
                             'epochs as see the same frames (`train.supervised_epochs`)'),
    'train.start_epoch': (ALL, 'epoch to start from (set by `model.resume`)'),
    'train.restart': (UNSUPERVISED, 'a `data.save_dir` holding an unfinished run of the same '
                                    'config: start over, moving its files aside (False: '
                                    'resume it from its `checkpoint-latest.pth.tar`)'),
    'train.weight_decay_scope': (ALL, '`all` parameters (torchreid) or `conv_linear`: '
                                      'convolution and linear weights only (the release)'),
    'train.batch_size': (ALL, 'frames per step and process for every engine; the supervised '
                              'engines train `batch_size // video.seq_len` clips'),
    'train.supervised_epochs': (SUPERVISED, 'epochs of a supervised engine; 0: as many as see '
                                            "DAL's training frames (`train.max_epoch` DAL "
                                            'epochs), learning-rate steps scaled alike'),
    'train.fixbase_epoch': (ALL, 'epochs training only `train.open_layers` (torchreid)'),
    'train.open_layers': (ALL, 'layers trained during `train.fixbase_epoch`'),
    'train.staged_lr': (ALL, 'a smaller learning rate for the base layers (torchreid)'),
    'train.new_layers': (ALL, 'layers keeping the full rate with `train.staged_lr`'),
    'train.base_lr_mult': (ALL, 'learning-rate multiplier of the base layers with '
                                '`train.staged_lr`'),
    'train.lr_scheduler': (ALL, 'torchreid learning-rate scheduler, stepped once an epoch'),
    'train.stepsize': (ALL, 'epochs at which the rate is multiplied by `train.gamma` '
                            '(`single_step`: every that many epochs)'),
    'train.gamma': (ALL, 'learning-rate decay factor'),
    'train.print_freq': (ALL, 'steps between progress lines'),
    'train.seed': (ALL, 'random seed (Python, numpy, torch and the frame sampler)'),
    'train.amp': (UNSUPERVISED, "autocast of the backbone: '' (float32), `bf16` (CPU or CUDA) or "
                       '`fp16` (CUDA, gradient scaling); the loss runs in float32'),
    'train.ema': (UNSUPERVISED, 'keep, evaluate and save an exponential moving average of the '
                       'trainable weights (the release)'),
    'train.ema_decay': (UNSUPERVISED, 'decay of that average, with TensorFlow\'s num_updates warm-up '
                             '(release 0.9999)'),
    'train.channels_last': (ALL, 'train in channels-last memory format (model and training '
                                 'batches); measured faster at re-id input sizes on the CPU, '
                                 'slower at tiny inputs (docs/benchmarks.md); False: '
                                 'torchreid\'s contiguous layout'),
    'train.dist_timeout': (ALL, 'torchrun: seconds a rank waits for the others before '
                                'failing; 0: torch\'s default (30 min gloo, 10 min NCCL)'),
    'sgd.momentum': (ALL, 'momentum of `sgd`, `rmsprop` and `rmsprop_tf`'),
    'sgd.dampening': (ALL, 'SGD dampening'),
    'sgd.nesterov': (ALL, 'Nesterov momentum for SGD'),
    'rmsprop.alpha': (ALL, 'RMSProp decay of the squared-gradient average'),
    'rmsprop.eps': (ALL, 'epsilon of `rmsprop` and `rmsprop_tf` (torchreid has none)'),
    'adam.beta1': (ALL, 'Adam first-moment decay'),
    'adam.beta2': (ALL, 'Adam second-moment decay'),
    'loss.name': (TOOL, 'the engine: `dal` or `cc` (Cluster Contrast), no identity labels; '
                        'or torchreid\'s supervised '
                        '`softmax` / `triplet` (identity labels) (`--engine`)'),
    'loss.softmax.label_smooth': (SUPERVISED, 'label smoothing of the cross-entropy loss'),
    'loss.triplet.margin': (TRIPLET, 'triplet loss margin'),
    'loss.triplet.weight_t': (TRIPLET, 'weight of the triplet loss'),
    'loss.triplet.weight_x': (TRIPLET, 'weight of the cross-entropy loss beside it'),
    'dal.margin': (DAL, 'hinge margin `m` of both DAL losses (release 0.5)'),
    'dal.eta': (DAL, 'update rate of the intra-camera anchors (release 0.5)'),
    'dal.intra_mutual_neighbors': (DAL, '`k` > 0: tracklets of one camera among each other\'s '
                                        '`k` nearest intra anchors (found each epoch) are not '
                                        'each other\'s negatives; 0: any tracklet (release)'),
    'dal.warmup_epochs': (DAL, 'epochs before cross-camera association starts (release: 2 '
                               'PRID2011 / iLIDS-VID, 1 MARS)'),
    'dal.anchor_init': (DAL, 'anchors start as `zeros` (release) or each tracklet\'s mean '
                             'normalised frame feature (`features`)'),
    'dal.sampling': (DAL, '`frame`: uniform over training frames (release); `tracklet`: '
                          'every tracklet once an epoch, `dal.num_instances` frames each'),
    'dal.num_instances': (DAL, 'frames per tracklet with `dal.sampling tracklet`'),
    'dal.clip_grad_value': (DAL, 'clip gradients by value (release 2.0); 0: off'),
    'dal.diagnostics': (DAL, 'score each epoch\'s associations against identities, read '
                             'separately, for reporting only'),
    'cc.k1': (CC, 'Jaccard neighbourhood size, the tracklet itself included (reference 30)'),
    'cc.k2': (CC, 'query-expansion neighbours; 1: none (reference 6)'),
    'cc.eps': (CC, 'DBSCAN radius in Jaccard distance (reference 0.6); more clusters and '
                   'outliers below, chained clusters above: watch both in the diagnostics'),
    'cc.min_samples': (CC, "DBSCAN's core-point count, the tracklet itself included "
                           '(reference 4; 2 where a person has one tracklet per camera)'),
    'cc.camera_centred': (CC, "cluster features with each camera's mean feature subtracted, "
                              'renormalised'),
    'cc.cross_camera': (CC, 'neighbours, and DBSCAN\'s pairs, from other cameras only'),
    'cc.mutual_neighbors': (CC, "n > 0: DBSCAN's pairs only between tracklets among each "
                                "other's n nearest; 0: off"),
    'cc.outliers': (CC, 'un-clustered tracklets sit out the epoch (`drop`, reference) or '
                        'train as classes of their own (`own_class`)'),
    'cc.pseudo_labels': (CC, '`dbscan`: Jaccard distances and DBSCAN with the options above '
                             '(reference); `assignment`: two cameras only, a one-to-one '
                             'cross-camera assignment (Hungarian method) keeping its confident '
                             'pairs'),
    'cc.assignment_min_similarity': (CC, '`assignment`: keep a pair only if its cosine '
                                         'similarity is at least this (-1: any)'),
    'cc.assignment_min_margin': (CC, '`assignment`: keep a pair only if its similarity exceeds '
                                     "either tracklet's next best in the other camera by this "
                                     '(0: mutual nearest; -2: every pair)'),
    'cc.clusterings_per_epoch': (CC, 're-cluster this many times an epoch, its steps split '
                                     'evenly (reference 1); the learning rate moves per epoch'),
    'cc.feature_frames': (CC, '> 0: at most this many frames of each tracklet, spread evenly, '
                              'make its clustering feature; 0: every frame'),
    'cc.cross_camera_weight': (CC, '> 0: add this times a cross-camera positive term (CAP and '
                                   "PPLR's inter-camera loss: positives the clip's cluster as "
                                   'other cameras see it); 0: off (reference)'),
    'cc.temperature': (CC, 'softmax temperature of the memory loss (reference 0.05)'),
    'cc.momentum': (CC, 'centroid momentum of the memory update (reference 0.1)'),
    'cc.memory_update': (CC, '`all`: every clip moves its centroid in turn; `hard`: only the '
                             "least similar clip of each identity (reference `--use-hard`)"),
    'cc.negatives': (CC, '`all`: a clip\'s loss competes with every cluster (reference); '
                         '`camera`: only with its own and those with a tracklet in its camera'),
    'cc.proxies': (CC, '`cluster`: one memory centroid per cluster (reference); `camera`: one '
                       'per cluster and camera, trained with CAP\'s intra- and inter-camera '
                       'losses (needs `cc.negatives all`)'),
    'cc.clips_per_identity': (CC, 'K clips of `video.seq_len` frames per pseudo-identity a '
                                  'step (`train.batch_size` = P x K x seq_len)'),
    'cc.steps_per_epoch': (CC, 'steps per epoch; 0: as many as a DAL epoch over the same '
                               'frames'),
    'cc.clip_grad_value': (CC, 'clip gradients by value; 0: off (reference)'),
    'cc.diagnostics': (CC, 'score each epoch\'s pseudo-labels against identities, read '
                           'separately, for reporting only'),
    'associate.top_k': (ASSOCIATE, 'best matches in other cameras listed per tracklet '
                                   '(`matches.csv`, `report.html`)'),
    'associate.k1': (ASSOCIATE, 'k-reciprocal neighbourhood (itself included) of the '
                                'camera-aware clustering into global ids'),
    'associate.k2': (ASSOCIATE, 'query expansion of the Jaccard distances'),
    'associate.eps': (ASSOCIATE, 'DBSCAN radius in Jaccard distance: larger joins more '
                                 'tracklets into one identity'),
    'associate.min_samples': (ASSOCIATE, 'DBSCAN\'s core size; tracklets in no cluster are '
                                         'identities of their own'),
    'test.batch_size': (ALL, 'tracklets per batch on torchreid\'s test path'),
    'test.frame_batch_size': (ALL, '> 0: the all-frame fast path, this many frames per '
                                   'loader batch; 0: torchreid\'s test path'),
    'test.protocol': (ALL, '`torchreid`, or `release`: the DAL release\'s evaluation of each '
                           'data set (PRID2011 one way, iLIDS-VID both ways averaged, MARS '
                           'all test tracklets with trapezoidal AP)'),
    'test.both_directions': (ALL, 'two-camera data sets: also rank the query camera by the '
                                  "gallery's and average"),
    'test.dist_metric': (ALL, 'distance between tracklet features'),
    'test.normalize_feature': (ALL, 'L2-normalise features before the distance'),
    'test.ranks': (ALL, 'CMC ranks printed'),
    'test.evaluate': (ALL, 'test only: evaluate `model.load_weights` (or the untrained '
                           'backbone), no training'),
    'test.eval_freq': (ALL, 'evaluate every that many epochs; -1: after training only'),
    'test.start_eval': (ALL, 'first epoch to evaluate after'),
    'test.rerank': (ALL, 'k-reciprocal re-ranking of the distances (torchreid)'),
    'test.visrank': (ALL, 'save ranked results as images (test-only runs)'),
    'test.visrank_topk': (ALL, 'ranks shown by `test.visrank`'),
}

_PROBE_STRING = '\x00not-a-value'


def _probe(check, default: Any) -> str | None:
    """What ``check`` accepts, read from its error for a value it must refuse."""
    if isinstance(default, bool):
        return None
    if isinstance(default, str):
        probes: list[Any] = [_PROBE_STRING]
    elif isinstance(default, (list, tuple)):
        probes = [[_PROBE_STRING]]
    else:
        probes = [-10 ** 9, 10 ** 9]
    for value in probes:
        try:
            check(value)
        except ValueError as err:
            message = re.sub(r',? got .*$', '', str(err), flags=re.S)
            found = re.search(r'\bmust\b.*', message, re.S)
            return found.group(0) if found else message
    return None


def allowed_values(key: str) -> list[str]:
    """The rules a value of ``key`` must meet, as the checks say them (with the defaults)."""
    defaults = dict(_leaves(get_default_config()))
    rules = []
    engines = ', '.join(name for name, checks in ENGINE_CHECKS.items() if key in checks
                        and key not in PLUGIN_CHECKS)
    check = PLUGIN_CHECKS.get(key) or next(
        (checks[key] for checks in ENGINE_CHECKS.values() if key in checks), None)
    if check is not None:
        said = _probe(check, defaults[key])
        if said:
            rules.append(said + (f' ({engines})' if engines else ''))
    for engine in ENGINES:
        cfg = get_default_config()
        cfg.loss.name = engine
        for rule_key, _, message in torchreid_rules(cfg):
            if rule_key == key and message not in rules:
                rules.append(message)
    return rules


def _type_name(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        inner = {type(v).__name__ for v in value}
        return f'list of {inner.pop()}' if len(inner) == 1 else 'list'
    return type(value).__name__


def _cell(text: str) -> str:
    return text.replace('|', '\\|').replace('\n', ' ')


def render_markdown() -> str:
    """``docs/config.md``: one table per config section, every key of the defaults."""
    lines = [
        '# Config reference',
        '',
        '<!-- Generated by `python -m dal_torchreid.experiment.config_reference --markdown > '
        'docs/config.md`; do not edit: a test compares it with the code. -->',
        '',
        'Every key of `dal_torchreid.experiment.config.get_default_config()`: its default, what it '
        'accepts (the checks that refuse other values, run before any data is read; every '
        'value must also have the default\'s type, and numbers must be finite), which '
        'engine reads it (figures in a rule are those of the defaults), and whether the key '
        'is torchreid\'s (its '
        '`scripts/default_config.py`) or the plugin\'s. Configs are YAML files over these '
        'defaults; `KEY VALUE` pairs after `dal-train`\'s options override them, and '
        '`dal-train --print-config [--config-file F] [KEY VALUE ...]` prints the merged '
        'config and exits. Engines: `dal` (`VideoDALEngine`) and `cc` '
        '(`VideoClusterContrastEngine`), without identity labels; `softmax` and `triplet` '
        '(torchreid\'s supervised video engines, with identity labels); `all` is every engine.',
    ]
    section = None
    for key, default in _leaves(get_default_config()):
        head = key.split('.')[0] if '.' in key else 'top level'
        if head != section:
            section = head
            lines += ['', f'## `{section}`' if section != 'top level' else '## Top level', '',
                      '| key | default | accepts | engine | from | meaning |',
                      '|---|---|---|---|---|---|']
        if key not in KEY_DOCS:
            raise KeyError(f'config key {key} has no entry in KEY_DOCS '
                           '(dal_torchreid/config_reference.py): say what it means there')
        engines, meaning = KEY_DOCS[key]
        owner = 'torchreid' if key in TORCHREID_KEYS else 'plugin'
        if key in EXTENDED:
            owner += f' ({EXTENDED[key]})'
        accepts = '; '.join(allowed_values(key)) or _type_name(default)
        lines.append(f'| `{key}` | `{default!r}` | {_cell(accepts)} | {engines} | {owner} | '
                     f'{_cell(meaning)} |')
    return '\n'.join(lines) + '\n'


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument('--markdown', action='store_true', help='print docs/config.md')
    group.add_argument('--check', metavar='FILE', help='exit 1 if FILE differs from the code')
    args = parser.parse_args(argv)
    text = render_markdown()
    if args.markdown:
        sys.stdout.write(text)
        return 0
    try:
        with open(args.check, encoding='utf-8') as f:
            current = f.read()
    except OSError as err:
        print(f'error: cannot read "{args.check}": {err.strerror}', file=sys.stderr)
        return 2
    if current != text:
        print(f'"{args.check}" differs from the code: regenerate it with '
              '`python -m dal_torchreid.experiment.config_reference --markdown`', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
