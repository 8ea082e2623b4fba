"""VideoDALEngine: unsupervised video re-id by Deep Association Learning."""
from __future__ import annotations

import copy
import os.path as osp
import warnings

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

import torchreid

from dal_torchreid.data.tracklet_frames import SAMPLING_MODES, build_tracklet_frame_loader
from dal_torchreid.engine.checkpoint import (
    capture_rng_states, load_checkpoint, restore_rng_states, save_checkpoint_atomic
)
from dal_torchreid.engine.distributed import (
    NullWriter, broadcast_seed, gather_global_batch, is_main_process, world
)
from dal_torchreid.engine.ema import ModelEMA
from dal_torchreid.engine.embedding import EmbeddingReader, unwrap_model
from dal_torchreid.engine.evaluation import RecordedEvaluationMixin, pool_by_tracklet
from dal_torchreid.losses import DeepAssociationLoss

ANCHOR_INITS = ('zeros', 'features')
AMP_DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16}
LATEST_CHECKPOINT = 'checkpoint-latest.pth.tar'


class VideoDALEngine(RecordedEvaluationMixin, torchreid.engine.Engine):
    r"""Deep Association Learning engine for video re-id, without identity labels.

    Trains on single frames labelled only by (camera, tracklet within camera),
    built from the data manager's training tracklets with their person ids
    dropped, and evaluates with torchreid's own video test pipeline.

    Args:
        datamanager (VideoDataManager): torchreid video data manager; its training
            transforms and worker settings are used, its identity labels are not.
        model (nn.Module): any ``torchreid.models.build_model`` backbone (built with
            ``loss='softmax'`` or ``'triplet'``); DAL trains on its embedding.
        optimizer (Optimizer): an optimizer over ``model``'s parameters.
        scheduler (LRScheduler, optional): learning-rate scheduler. Default is None.
        use_gpu (bool, optional): use gpu. Default is True.
        margin (float, optional): hinge margin. Default is 0.5.
        eta (float, optional): intra-anchor update rate. Default is 0.5.
        warmup_epochs (int, optional): epochs before cross-camera association
            starts. Default is 2 (the release: 2 for PRID2011/iLIDS-VID, 1 for MARS).
        anchor_init (str, optional): ``'zeros'`` (release) or ``'features'`` (each
            tracklet's mean frame feature from the model before training).
        sampling (str, optional): ``'frame'`` (uniform over frames, release) or
            ``'tracklet'`` (every tracklet equally often, ``num_instances`` frames).
        batch_size (int, optional): frames per training batch. Default is 64.
        num_instances (int, optional): frames per tracklet for ``'tracklet'`` sampling.
        pooling_method (str, optional): ``'avg'`` or ``'max'`` tracklet pooling at test.
        clip_grad_value (float, optional): clip gradients by value (release: 2.0);
            None disables clipping.
        seed (int, optional): seeds the frame sampler; None follows torch's generator.
        skip_bad_frames (bool, optional): skip unreadable training frames with a
            warning instead of stopping with an error naming the file.
        amp (str, optional): ``'bf16'`` (CPU or CUDA) or ``'fp16'`` (CUDA, with
            gradient scaling) autocast for the backbone; None trains in float32.
        ema_decay (float, optional): keep an exponential moving average of the
            weights with this decay (release: 0.9999), evaluate it and save it in
            checkpoints; None evaluates the trained weights.

    Distributed training: under ``torch.distributed`` (one process per device;
    pass the bare model, the engine wraps it in ``DistributedDataParallel``
    after freezing its classifier, which DAL does not train), ``batch_size`` counts
    frames per process, the sampler shards each global batch over the ranks,
    and the features, tracklet labels and cameras of all ranks are gathered
    before each anchor update, so every rank holds the same anchors. Only rank 0
    writes checkpoints and TensorBoard logs.

    Checkpoints (``save_dir/model/``) hold weights, optimizer, scheduler,
    anchors, EMA, epoch and random states; ``checkpoint-latest.pth.tar`` is
    rewritten atomically after every epoch. ``start = engine.resume(path)``
    then ``engine.run(start_epoch=start, ...)`` continues a run exactly.

    Each evaluation also stores the full CMC curve and mAP of every target in
    ``engine.test_results``. After each step ``engine.criterion.last_step`` holds the intra loss, cross
    loss and association count, which torchreid's progress lines print as
    ``intra``, ``cross`` and ``assoc`` and TensorBoard records under ``Train/``.

    Examples::

        import torchreid
        import dal_torchreid  # registers torchreid.engine.VideoDALEngine

        datamanager = torchreid.data.VideoDataManager(
            root='reid-data', sources='prid2011', height=224, width=112,
            transforms=[], norm_mean=[0.5] * 3, norm_std=[0.5] * 3,
            batch_size_test=1, sample_method='all'
        )
        model = torchreid.models.build_model(
            name='resnet50', num_classes=1, loss='softmax', pretrained=True
        )
        optimizer = torchreid.optim.build_optimizer(model, optim='adam', lr=3e-4)
        engine = torchreid.engine.VideoDALEngine(
            datamanager, model, optimizer, warmup_epochs=2, batch_size=64
        )
        engine.run(save_dir='log/dal-resnet50-prid2011', max_epoch=20)
    """

    def __init__(self, datamanager, model, optimizer, scheduler=None, use_gpu=True,
                 margin=0.5, eta=0.5, warmup_epochs=2, anchor_init='zeros',
                 sampling='frame', batch_size=64, num_instances=4, pooling_method='avg',
                 clip_grad_value=2.0, seed=None, skip_bad_frames=False, amp=None,
                 ema_decay=None):
        super().__init__(datamanager, use_gpu)
        if warmup_epochs < 0:
            raise ValueError('warmup_epochs must be >= 0, got {}'.format(warmup_epochs))
        if anchor_init not in ANCHOR_INITS:
            raise ValueError('anchor_init must be one of {}, got {!r}'.format(ANCHOR_INITS, anchor_init))
        if sampling not in SAMPLING_MODES:
            raise ValueError('sampling must be one of {}, got {!r}'.format(SAMPLING_MODES, sampling))
        if pooling_method not in ('avg', 'max'):
            raise ValueError('pooling_method must be "avg" or "max", got {!r}'.format(pooling_method))
        if amp not in (None, 'off') and amp not in AMP_DTYPES:
            raise ValueError('amp must be None, "bf16" or "fp16", got {!r}'.format(amp))
        if amp == 'fp16' and not self.use_gpu:
            raise ValueError('amp "fp16" needs CUDA; use "bf16" on the CPU')
        self.warmup_epochs = int(warmup_epochs)
        self.anchor_init = anchor_init
        self.pooling_method = pooling_method
        self.clip_grad_value = clip_grad_value
        self.amp_dtype = AMP_DTYPES.get(amp)
        self.scaler = torch.amp.GradScaler('cuda', enabled=amp == 'fp16')
        rank, self.world_size = world()
        self.train_loader = build_tracklet_frame_loader(
            datamanager, batch_size=batch_size, sampling=sampling, num_instances=num_instances,
            seed=broadcast_seed(seed), skip_bad_frames=skip_bad_frames,
            num_replicas=self.world_size, rank=rank
        )
        trainset = self.train_loader.dataset
        if trainset.num_cameras < 2:
            warnings.warn('the training set has a single camera: cross-camera association '
                          'is impossible, DAL trains with intra-camera association only')
        self.ema = None if ema_decay is None else ModelEMA(model, ema_decay)
        self.embedding = EmbeddingReader(model)
        # DAL never trains the classifier: frozen, DDP does not wait for its gradients
        self.embedding.classifier.requires_grad_(False)
        if self.world_size > 1 and not isinstance(model, DistributedDataParallel):
            model = DistributedDataParallel(
                model, device_ids=[torch.cuda.current_device()] if self.use_gpu else None)
            self.embedding.model = model  # forward through the wrapper, which syncs gradients
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.register_model('model', model, optimizer, scheduler)
        self.criterion = DeepAssociationLoss(
            trainset.tracklets_per_camera, self.embedding.feature_dim, margin=margin, eta=eta
        )
        if self.use_gpu:
            self.criterion.cuda()
        self._anchors_ready = anchor_init == 'zeros'
        self._save_dir = None
        self.association_monitor = None
        self.association_history: list[dict] = []
        self._epoch_associations: list[torch.Tensor] = []

    # torchreid's own video feature pooling, shared with VideoSoftmaxEngine
    extract_features = torchreid.engine.VideoSoftmaxEngine.extract_features

    def parse_data_for_train(self, data):
        return data['img'], data['tracklet'], data['camid']

    def run(self, save_dir='log', *args, **kwargs):
        """torchreid's ``Engine.run``; records ``save_dir`` for per-epoch checkpoints."""
        self._save_dir = save_dir
        if not is_main_process():
            self.writer = NullWriter()
        return super().run(save_dir, *args, **kwargs)

    def train(self, print_freq=10, fixbase_epoch=0, open_layers=None):
        if not self._anchors_ready:
            self.initialize_anchors_from_features()
        self.train_loader.sampler.set_epoch(self.epoch)
        self._epoch_associations = []
        super().train(print_freq=print_freq, fixbase_epoch=fixbase_epoch, open_layers=open_layers)
        if self.association_monitor is not None:
            self._report_associations()
        if self._save_dir is not None:
            self._write_checkpoint(self.epoch, None, LATEST_CHECKPOINT)

    def test(self, *args, **kwargs):
        """torchreid's test on the EMA weights if kept, else the unwrapped model."""
        trained = self.model
        self.model = self.ema.module if self.ema is not None else unwrap_model(trained)
        try:
            return super().test(*args, **kwargs)
        finally:
            self.model = trained

    def forward_backward(self, data):
        imgs, tracklets, camids = self.parse_data_for_train(data)
        if self.use_gpu:
            imgs, tracklets, camids = imgs.cuda(), tracklets.cuda(), camids.cuda()
        device = 'cuda' if self.use_gpu else 'cpu'
        with torch.autocast(device, dtype=self.amp_dtype or torch.float32,
                            enabled=self.amp_dtype is not None):
            features = self.embedding(imgs)
        features, tracklets, camids = gather_global_batch(features, tracklets, camids)
        associate = self.epoch >= self.warmup_epochs
        loss = self.criterion(features, tracklets, camids, associate=associate)
        if not torch.isfinite(loss):
            raise FloatingPointError('DAL loss is {} at epoch {}, step {}'.format(
                loss.item(), self.epoch + 1, self.batch_idx + 1))
        self.optimizer.zero_grad()
        # DDP averages gradients over ranks; each rank's share of the global loss
        # reaches only its own features, so scaling by the world size restores the sum
        self.scaler.scale(loss * self.world_size).backward()
        if self.clip_grad_value is not None:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_value_(self.model.parameters(), self.clip_grad_value)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.ema is not None:
            self.ema.update(self.model)
        step = self.criterion.last_step
        if self.association_monitor is not None:
            self._epoch_associations.append(step.associations.cpu())
        return {'loss': loss.item(), 'intra': step.loss_intra.item(),
                'cross': step.loss_cross.item(), 'assoc': step.num_associations}

    def _report_associations(self) -> None:
        rows = torch.cat(self._epoch_associations) if self._epoch_associations \
            else torch.zeros(0, 4, dtype=torch.long)
        stats = dict(self.association_monitor(rows), epoch=self.epoch + 1)
        self.association_history.append(stats)
        print('=> epoch {epoch} associations: {num_associations} tracklet pairs, '
              'precision {precision:.1%}, recall {recall:.1%}'.format(**stats))
        if self.writer is not None:
            for key in ('num_associations', 'precision', 'recall'):
                self.writer.add_scalar('Train/assoc_' + key, stats[key], self.epoch)

    @torch.no_grad()
    def initialize_anchors_from_features(self) -> None:
        """Sets every anchor to its tracklet's mean L2-normalised frame embedding.

        Uses the model as it is (before training) in eval mode and the data
        manager's test transforms, so the result does not depend on augmentation.
        """
        trainset = copy.copy(self.train_loader.dataset)
        trainset.transform = self.datamanager.transform_te
        loader = DataLoader(trainset, batch_size=self.train_loader.batch_size, shuffle=False,
                            num_workers=self.train_loader.num_workers)
        model = unwrap_model(self.model)
        was_training = model.training
        model.eval()
        sums, start = None, 0
        for data in loader:
            imgs = data['img'].cuda() if self.use_gpu else data['img']
            feats = torch.nn.functional.normalize(model(imgs).float(), dim=1).cpu()
            idx = torch.from_numpy(trainset.frame_tracklet[start:start + len(feats)])
            sums = pool_by_tracklet(feats, idx, trainset.num_tracklets, 'avg', out=sums)
            start += len(feats)
        model.train(was_training)
        counts = torch.bincount(torch.from_numpy(trainset.frame_tracklet),
                                minlength=trainset.num_tracklets).unsqueeze(1)
        means = sums / counts
        # tracklets are labelled per camera in order of appearance, so a camera's
        # tracklets in source order are its anchors in label order
        cameras = torch.tensor(trainset.tracklet_camera)
        per_camera = [means[cameras == c] for c in range(trainset.num_cameras)]
        self.criterion.initialize_anchors(per_camera)
        self._anchors_ready = True

    def save_model(self, epoch, rank1, save_dir, is_best=False):
        """Writes ``save_dir/model/model.pth.tar-<epoch+1>`` atomically, anchors included."""
        self._save_dir = save_dir
        fpath = self._write_checkpoint(epoch, rank1, 'model.pth.tar-{}'.format(epoch + 1))
        if is_best:
            self._write_checkpoint(epoch, rank1, 'model-best.pth.tar')
        return fpath

    def _write_checkpoint(self, epoch, rank1, name):
        if not is_main_process():
            return None
        state = {
            'state_dict': unwrap_model(self.model).state_dict(),
            'epoch': epoch + 1,
            'rank1': None if rank1 is None else float(rank1),
            'optimizer': self.optimizer.state_dict(),
            'scheduler': None if self.scheduler is None else self.scheduler.state_dict(),
            'dal': self.criterion.state_dict(),
            'ema': None if self.ema is None else self.ema.state_dict(),
            'scaler': self.scaler.state_dict(),
            'rng': capture_rng_states(),
        }
        fpath = osp.join(self._save_dir, 'model', name)
        save_checkpoint_atomic(state, fpath)
        print('Checkpoint saved to "{}"'.format(fpath))
        return fpath

    def resume(self, fpath: str) -> int:
        """Restores weights, optimizer, scheduler, anchors, epoch and RNG states.

        Returns the epoch to pass to ``run(start_epoch=...)``.
        """
        state = load_checkpoint(fpath)
        missing = [k for k in ('state_dict', 'epoch', 'optimizer', 'dal') if k not in state]
        if missing:
            raise KeyError('checkpoint "{}" is not a DAL checkpoint: missing {}'.format(fpath, missing))
        unwrap_model(self.model).load_state_dict(state['state_dict'])
        self.optimizer.load_state_dict(state['optimizer'])
        if self.scheduler is not None and state.get('scheduler') is not None:
            self.scheduler.load_state_dict(state['scheduler'])
        self.criterion.load_state_dict(state['dal'])
        if self.ema is not None:
            if state.get('ema') is None:
                raise KeyError('checkpoint "{}" holds no EMA weights, but this engine keeps '
                               'an EMA (ema_decay={})'.format(fpath, self.ema.decay))
            self.ema.load_state_dict(state['ema'])
        if state.get('scaler'):
            self.scaler.load_state_dict(state['scaler'])
        if 'rng' in state:
            restore_rng_states(state['rng'])
        self._anchors_ready = True
        self.epoch = int(state['epoch'])
        print('Resumed from "{}" (epoch {})'.format(fpath, self.epoch))
        return self.epoch
