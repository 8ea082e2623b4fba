"""VideoDALEngine: unsupervised video re-id by Deep Association Learning.

Distributed training: under ``torch.distributed`` (one process per device;
pass the bare model, the engine wraps it in ``DistributedDataParallel``
after freezing its classifier, which DAL does not train), ``batch_size`` counts
frames per process, the sampler shards each global batch over the ranks,
and the features, tracklet labels and cameras of all ranks are gathered
before each anchor update, so every rank holds the same anchors. Only rank 0
writes checkpoints and TensorBoard logs.

Checkpoints (``save_dir/model/``, :mod:`dal_torchreid.engine.checkpoint`):
``checkpoint-latest.pth.tar``, rewritten atomically after every epoch, holds
weights, optimizer, scheduler, anchors, EMA, epoch, random states and what the
anchors belong to; the per-epoch ``model.pth.tar-N`` the weights only. ``start = engine.resume(path)``
then ``engine.run(start_epoch=start, ...)`` continues a run exactly.

Each evaluation also stores the full CMC curve and mAP of every target in
``engine.test_results``; ``engine.frames_seen`` counts training frames. After
each step ``engine.criterion.last_step`` holds the intra loss, cross loss and
association count, which torchreid's progress lines print as ``intra``,
``cross`` and ``assoc`` and TensorBoard records under ``Train/``.
"""
from __future__ import annotations

import warnings

import torch

from dal_torchreid.data.tracklet_frames import (
    BATCH_SIZE, NUM_INSTANCES, SAMPLING, build_tracklet_frame_loader
)
from dal_torchreid.engine.diagnostics import AssociationMonitor, association_line, count_associations
from dal_torchreid.engine.distributed import (
    broadcast_seed, gather_global_batch, is_main_process
)
from dal_torchreid.engine.embedding import unwrap_model
from dal_torchreid.engine.features import anchor_features
from dal_torchreid.engine.label_free_statistics import CycleConsistencyMonitor
from dal_torchreid.engine.memory_format import extraction_format
from dal_torchreid.engine.optimization import CLIP_GRAD_VALUE
from dal_torchreid.engine.unsupervised import UnsupervisedVideoEngine
from dal_torchreid.losses import ETA, INTRA_MUTUAL_NEIGHBORS, MARGIN, DeepAssociationLoss
from dal_torchreid.metrics import check_pooling_method

WARMUP_EPOCHS = 2  # the release: 2 for PRID2011/iLIDS-VID, 1 for MARS
ANCHOR_INITS = ('zeros', 'features')
ANCHOR_INIT = 'zeros'  # the release's


def check_warmup_epochs(warmup_epochs: int) -> None:
    if warmup_epochs < 0:
        raise ValueError(f'warmup_epochs must be >= 0, got {warmup_epochs}')


def check_anchor_init(anchor_init: str) -> None:
    if anchor_init not in ANCHOR_INITS:
        raise ValueError(f'anchor_init must be one of {list(ANCHOR_INITS)}, got {anchor_init!r}')


class VideoDALEngine(UnsupervisedVideoEngine):
    r"""Deep Association Learning engine for video re-id, without identity labels.

    Trains on single frames labelled only by (camera, tracklet within camera),
    built from the data manager's training tracklets with their person ids
    dropped, and evaluates with torchreid's own video test pipeline.

    Args:
        datamanager (VideoDataManager): its training tracklets (without identities),
            training transforms and worker settings are used.
        model (nn.Module): a ``torchreid.models.build_model`` backbone with one
            ``classifier``; DAL trains on the classifier's input, the embedding.
        optimizer (Optimizer): over ``model``'s parameters.
        scheduler (LRScheduler, optional): learning-rate scheduler.
        use_gpu (bool, optional): use a GPU. Default is True.
        margin (float, optional): hinge margin (release 0.5).
        eta (float, optional): intra-anchor update rate (release 0.5).
        intra_mutual_neighbors (int, optional): ``k > 0``: at the start of each epoch,
            tracklets of one camera whose intra anchors are among each other's ``k``
            nearest are kept out of each other's negatives for the epoch (a person
            seen twice in one camera); 0: the release's negatives.
        warmup_epochs (int, optional): epochs before cross-camera association starts
            (release: 2 for PRID2011 and iLIDS-VID, 1 for MARS).
        anchor_init (str, optional): ``'zeros'`` (release) or ``'features'``.
        sampling (str, optional): ``'frame'`` (release) or ``'tracklet'``.
        batch_size (int, optional): frames per step and process (release 64).
        num_instances (int, optional): frames per tracklet for ``'tracklet'`` sampling.
        pooling_method (str, optional): tracklet pooling at test: ``'avg'``, ``'max'`` or
            ``'release'`` (normalise frames, max, normalise).
        clip_grad_value (float, optional): clip gradients by value (release 2.0); 0: off.
        seed (int, optional): seeds the frame sampler.
        skip_bad_frames (bool, optional): skip unreadable frames with a warning,
            instead of stopping with an error naming the file.
        amp (str, optional): ``'bf16'`` or ``'fp16'`` (CUDA) autocast of the backbone.
        ema_decay (float, optional): evaluate and save an exponential moving average
            of the weights with this decay (release 0.9999); None: the weights.
        **evaluation: ``eval_frame_batch_size``, ``protocol``, ``both_directions`` and
            ``channels_last`` (:class:`~dal_torchreid.engine.evaluation.RecordingMixin`).
        association_monitor (AssociationMonitor, optional): scores each epoch's
            associations, for reporting only (:mod:`dal_torchreid.engine.diagnostics`).

    Examples::

        import dal_torchreid  # registers torchreid.engine.VideoDALEngine
        datamanager = torchreid.data.VideoDataManager(
            root='reid-data', sources='prid2011', height=224, width=112,
            transforms=[], norm_mean=[0.5] * 3, norm_std=[0.5] * 3,
            batch_size_test=1, sample_method='all'
        )
        model = torchreid.models.build_model('resnet50', num_classes=1, pretrained=True)
        optimizer = torchreid.optim.build_optimizer(model, optim='adam', lr=3e-4)
        engine = torchreid.engine.VideoDALEngine(
            datamanager, model, optimizer, warmup_epochs=2, batch_size=64,
            eval_frame_batch_size=256
        )
        engine.run(save_dir='log/dal-resnet50-prid2011', max_epoch=20)
    """

    method = 'dal'

    def __init__(self, datamanager, model, optimizer, scheduler=None, use_gpu=True,
                 margin=MARGIN, eta=ETA, intra_mutual_neighbors=INTRA_MUTUAL_NEIGHBORS,
                 warmup_epochs=WARMUP_EPOCHS, anchor_init=ANCHOR_INIT,
                 sampling=SAMPLING, batch_size=BATCH_SIZE, num_instances=NUM_INSTANCES,
                 pooling_method='avg', clip_grad_value=CLIP_GRAD_VALUE, seed=None,
                 skip_bad_frames=False, amp=None, ema_decay=None, association_monitor=None,
                 **evaluation):
        super().__init__(datamanager, use_gpu, **evaluation)
        check_warmup_epochs(warmup_epochs)
        check_anchor_init(anchor_init)
        check_pooling_method(pooling_method)
        self.warmup_epochs = int(warmup_epochs)
        self.pooling_method = pooling_method
        self.train_loader = build_tracklet_frame_loader(
            datamanager, batch_size=batch_size, sampling=sampling, num_instances=num_instances,
            seed=broadcast_seed(seed), skip_bad_frames=skip_bad_frames,
            num_replicas=self.world_size, rank=self.rank
        )
        trainset = self.train_loader.dataset
        if trainset.num_cameras < 2:
            warnings.warn('the training set has a single camera: cross-camera association '
                          'is impossible, DAL trains with intra-camera association only')
        self.setup_model(model, optimizer, scheduler, clip_grad_value, amp, ema_decay)
        self.criterion = DeepAssociationLoss(
            trainset.tracklets_per_camera, self.embedding.feature_dim, margin=margin, eta=eta,
            intra_mutual_neighbors=intra_mutual_neighbors
        )
        if self.use_gpu:
            self.criterion.cuda()
        self.association_monitor = association_monitor
        self._associations: list[torch.Tensor] = []  # this epoch's, without a monitor
        self._anchors_ready = anchor_init == 'zeros'
        self.setup_checkpoints(trainset, self.criterion)

    def monitor(self):
        return self.association_monitor

    def parse_data_for_train(self, data):
        return data['img'], data['tracklet'], data['camid']

    def run(self, save_dir='log', *args, **kwargs):
        """:meth:`UnsupervisedVideoEngine.run`; warns when ``max_epoch`` ends before
        cross-camera association starts."""
        max_epoch = kwargs.get('max_epoch', 0)
        if not kwargs.get('test_only') and 0 < max_epoch <= self.warmup_epochs:
            warnings.warn(f'dal.warmup_epochs {self.warmup_epochs} >= train.max_epoch '
                          f'{max_epoch}: cross-camera association never starts, DAL trains with '
                          'intra-camera association only')
        return super().run(save_dir, *args, **kwargs)

    def train(self, print_freq=10, fixbase_epoch=0, open_layers=None):
        if not self._anchors_ready:
            self.initialize_anchors_from_features()
        if self.criterion.intra_mutual_neighbors:
            pairs = self.criterion.find_mutual_neighbors()
            if is_main_process():
                print(f'=> epoch {self.epoch + 1}: {pairs} pairs of tracklets of one camera are '
                      'mutual nearest neighbours, kept out of each other\'s negatives')
            if isinstance(self.association_monitor, AssociationMonitor):  # reporting only
                self.association_monitor.score_spared(self.criterion.spared_negatives,
                                                      self.criterion.tracklets_per_camera)
        self.train_loader.sampler.set_epoch(self.epoch)
        super().train(print_freq=print_freq, fixbase_epoch=fixbase_epoch, open_layers=open_layers)
        if self.association_monitor is not None:  # scored against identities, for reporting
            if isinstance(self.association_monitor, CycleConsistencyMonitor):  # none: the anchors
                self.association_monitor.observe_anchors(*self.criterion.tracklet_anchors())
            self.association_monitor.end_epoch(self.epoch + 1, self.writer)
        elif is_main_process():
            rows = torch.cat(self._associations) if self._associations else torch.zeros(0, 4)
            print(association_line(self.epoch + 1,
                                   {'num_associations': count_associations(rows.cpu())}))
        self._associations = []
        self.write_latest_checkpoint()

    def forward_backward(self, data):
        imgs, tracklets, camids = self.parse_data_for_train(data)
        self.count_frames(imgs)
        if self.use_gpu:
            imgs, tracklets, camids = imgs.cuda(), tracklets.cuda(), camids.cuda()
        imgs = self.training_format(imgs)
        with self.step.autocast():
            features = self.embedding(imgs)
        features, tracklets, camids = gather_global_batch(features, tracklets, camids)
        associate = self.epoch >= self.warmup_epochs
        loss = self.criterion(features, tracklets, camids, associate=associate)
        self.criterion.validate_inputs = False  # checked once; later steps never wait on the host
        if not torch.isfinite(loss):
            raise FloatingPointError(f'DAL loss is {loss.item()} at epoch {self.epoch + 1}, '
                                     f'step {self.batch_idx + 1}')
        # DDP averages gradients over ranks; each rank's share of the global loss
        # reaches only its own features, so scaling by the world size restores the sum
        self.step(loss * self.world_size)
        step = self.criterion.last_step
        if self.association_monitor is not None:
            self.association_monitor.add(step.associations)
            if isinstance(self.association_monitor, AssociationMonitor):  # identities: score them
                self.association_monitor.add_negatives(step.frame_pairs, step.negatives)
        else:
            self._associations.append(step.associations.detach())
        return {'loss': loss.item(), 'intra': step.loss_intra.item(),
                'cross': step.loss_cross.item(), 'assoc': step.num_associations}

    def initialize_anchors_from_features(self) -> None:
        """Sets every anchor to its tracklet's mean L2-normalised frame embedding, from
        the model before training, in eval mode, with the test transforms."""
        self.criterion.initialize_anchors(anchor_features(
            unwrap_model(self.model), self.train_loader, self.datamanager.transform_te,
            self.use_gpu, extraction_format(self.channels_last)))
        self._anchors_ready = True

    def resume(self, fpath: str, evaluation: bool = False) -> int:
        """Restores weights, optimizer, scheduler, anchors, EMA, epoch and RNG states,
        refusing a checkpoint of another training set, split or backbone; returns the
        epoch to pass to ``run(start_epoch=...)`` (``evaluation``: weights and EMA only)."""
        epoch = super().resume(fpath, evaluation)
        self._anchors_ready = True
        return epoch
