"""VideoClusterContrastEngine: unsupervised video re-id by camera-aware Cluster Contrast.

Each epoch: every training tracklet's feature (all frames, eval mode,
``pooling_method``, L2-normalised) -> pseudo-identities
(:func:`~dal_torchreid.cluster.cluster_tracklets`: sparse k-reciprocal Jaccard
distances, DBSCAN, camera-aware options) -> a memory of one centroid per
pseudo-identity (:class:`~dal_torchreid.losses.ClusterMemory`). Then steps of
``P`` pseudo-identities x ``K`` clips x ``seq_len`` frames
(:class:`~dal_torchreid.data.pseudo_identity_sampler.PseudoIdentityClipSampler`):
each clip's pooled embedding against the memory (cross-entropy over
similarities / temperature), then the centroids move toward the batch.

Training reads no identity: frames come from the label-free
:class:`~dal_torchreid.data.TrackletFrameDataset`, pseudo-labels from the
clustering. Under ``torch.distributed`` every rank extracts the features of
its share of the tracklets, the features are gathered, rank 0's pseudo-labels
are broadcast (so all ranks hold the same), and each step's clip features and
labels are gathered into the global batch before the loss and the memory
update, so every rank holds the same memory. Checkpoints hold the memory and
the pseudo-labels beside everything DAL's hold.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader

from dal_torchreid.cluster import (
    EPS, K1, K2, METHOD, MIN_MARGIN, MIN_SAMPLES, MIN_SIMILARITY, MUTUAL_NEIGHBORS, OUTLIERS,
    ClusteringSettings, check_cross_camera, check_pseudo_labels, cluster_tracklets
)
from dal_torchreid.data.frames import (
    FEATURE_FRAMES, AllFramesDataset, check_feature_frames, evenly_spaced
)
from dal_torchreid.engine.diagnostics import cluster_line, cluster_statistics
from dal_torchreid.data.pseudo_identity_sampler import (
    CLIPS_PER_IDENTITY, STEPS_PER_EPOCH, PseudoIdentityClipSampler
)
from dal_torchreid.data.tracklet_frames import BATCH_SIZE, TrackletFrameDataset
from dal_torchreid.engine.distributed import (
    broadcast_from_main, broadcast_seed, gather_global_batch, gather_shards, is_main_process,
    shard
)
from dal_torchreid.engine.embedding import unwrap_model
from dal_torchreid.engine.features import extract_tracklet_features
from dal_torchreid.engine.memory_format import extraction_format
from dal_torchreid.engine.phase_timer import PhaseTimer
from dal_torchreid.engine.unsupervised import UnsupervisedVideoEngine
from dal_torchreid.losses import (
    CROSS_CAMERA_WEIGHT, MEMORY_UPDATE, MOMENTUM, NEGATIVES, PROXIES, TEMPERATURE, ClusterMemory
)
from dal_torchreid.metrics import check_pooling_method, pool_frames

SEQ_LEN = 4
FEATURE_FRAME_BATCH = 64  # frames per call when clustering, unless eval_frame_batch_size says
CLUSTERINGS_PER_EPOCH = 1  # the reference's
PHASES = {'features': 'feature extraction', 'neighbours': 'neighbour search',
          'grouping': 'Jaccard + DBSCAN (or assignment)', 'training': 'training steps'}


def check_clusterings_per_epoch(clusterings: int) -> None:
    if clusterings < 1:
        raise ValueError(f'clusterings_per_epoch must be >= 1, got {clusterings}')


def split_steps(steps: int, parts: int) -> list[int]:
    """``steps`` in ``parts`` near-equal consecutive shares (the larger ones last)."""
    return [steps * (p + 1) // parts - steps * p // parts for p in range(parts)]


class VideoClusterContrastEngine(UnsupervisedVideoEngine):
    r"""Camera-aware Cluster Contrast for video re-id, without identity labels.

    Args:
        datamanager (VideoDataManager): its training tracklets (without identities),
            transforms and worker settings are used; its test loaders evaluate.
        model (nn.Module): a torchreid backbone with one ``classifier``; training uses
            the classifier's input, the embedding.
        optimizer (Optimizer): over ``model``'s parameters.
        scheduler (LRScheduler, optional): learning-rate scheduler.
        use_gpu (bool, optional): use a GPU. Default is True.
        batch_size (int, optional): frames per step and process, ``P x K x seq_len``.
        seq_len (int, optional): frames per training clip (``video.seq_len``).
        clips_per_identity (int, optional): ``K`` clips per pseudo-identity a step.
        steps_per_epoch (int, optional): 0: the steps of a DAL epoch over the same frames.
        k1, k2 (int, optional): Jaccard neighbourhood and query expansion (reference 30, 6).
        eps, min_samples (optional): DBSCAN's (reference 0.6, 4).
        camera_centred (bool, optional): cluster camera-centred features.
        cross_camera (bool, optional): neighbours, and DBSCAN's pairs, from other cameras only
            (refused for a training set of one camera: nothing would cluster).
        mutual_neighbors (int, optional): n > 0: DBSCAN's pairs only between tracklets each
            among the other's n nearest; 0: off (reference).
        outliers (str, optional): ``'drop'`` (reference) or ``'own_class'``.
        pseudo_labels (str, optional): ``'dbscan'`` (reference; the options above) or
            ``'assignment'`` (two cameras: confident pairs of a one-to-one assignment,
            :mod:`~dal_torchreid.cluster.assignment`; ``camera_centred`` and ``outliers``
            apply).
        assignment_min_similarity, assignment_min_margin (float, optional): the pairs
            ``'assignment'`` keeps.
        clusterings_per_epoch (int, optional): re-cluster this many times an epoch, its
            steps split evenly between them (reference 1).
        feature_frames (int, optional): > 0: at most this many frames of each tracklet,
            spread evenly, give its clustering feature; 0: every frame (reference).
        cross_camera_weight (float, optional): > 0: adds the cross-camera positive term
            (:func:`~dal_torchreid.losses.cluster_memory.cross_camera_loss`), 0: off.
        temperature, momentum (float, optional): the memory's (reference 0.05, 0.1).
        memory_update (str, optional): ``'all'`` (reference) or ``'hard'``.
        negatives (str, optional): ``'all'`` (reference): every cluster is a negative;
            ``'camera'``: only the clusters with a member tracklet in the clip's camera.
        proxies (str, optional): ``'cluster'`` (reference): a centroid per cluster;
            ``'camera'``: a proxy per cluster and camera, CAP's losses.
        pooling_method (str, optional): frames to a tracklet or clip feature:
            ``'avg'``, ``'max'`` or ``'release'``.
        clip_grad_value (float, optional): clip gradients by value; None: off (reference).
        seed (int, optional): seeds the clip sampler.
        skip_bad_frames (bool, optional): skip unreadable frames with a warning.
        amp (str, optional): ``'bf16'`` or ``'fp16'`` (CUDA) autocast of the backbone.
        ema_decay (float, optional): evaluate and save a moving average of the weights.
        cluster_monitor (ClusterMonitor, optional): scores each epoch's pseudo-labels
            against identities, for reporting only (:mod:`dal_torchreid.engine.diagnostics`).
        **evaluation: ``eval_frame_batch_size``, ``protocol``, ``both_directions`` and
            ``channels_last``.

    The clustering and memory defaults are the reference implementation's
    (alibaba/cluster-contrast-reid, image data), not camera-aware; the example passes the
    camera-aware settings of ``configs/cc_*.yaml``. Each epoch prints its number of
    clusters, classes and outliers (with ``cluster_monitor``, also pair precision and
    recall).

    Examples::

        import dal_torchreid  # registers torchreid.engine.VideoClusterContrastEngine
        model = dal_torchreid.models.build_model('resnet50', num_classes=1, pretrained=True)
        optimizer = torchreid.optim.build_optimizer(model, optim='adam', lr=3.5e-4)
        engine = torchreid.engine.VideoClusterContrastEngine(
            datamanager, model, optimizer, batch_size=64, seq_len=4, clips_per_identity=4,
            k1=10, k2=3, min_samples=2, camera_centred=True, cross_camera=True,
            mutual_neighbors=1, outliers='own_class', negatives='camera',
            eval_frame_batch_size=256
        )
        engine.run(save_dir='log/cc-resnet50-prid2011', max_epoch=20)
    """

    method = 'cc'

    def __init__(self, datamanager, model, optimizer, scheduler=None, use_gpu=True,
                 batch_size=BATCH_SIZE, seq_len=SEQ_LEN, clips_per_identity=CLIPS_PER_IDENTITY,
                 steps_per_epoch=STEPS_PER_EPOCH, k1=K1, k2=K2, eps=EPS, min_samples=MIN_SAMPLES,
                 camera_centred=False, cross_camera=False,
                 mutual_neighbors=MUTUAL_NEIGHBORS, outliers=OUTLIERS, pseudo_labels=METHOD,
                 assignment_min_similarity=MIN_SIMILARITY, assignment_min_margin=MIN_MARGIN,
                 clusterings_per_epoch=CLUSTERINGS_PER_EPOCH, feature_frames=FEATURE_FRAMES,
                 cross_camera_weight=CROSS_CAMERA_WEIGHT, temperature=TEMPERATURE, momentum=MOMENTUM, memory_update=MEMORY_UPDATE,
                 negatives=NEGATIVES, proxies=PROXIES, pooling_method='avg',
                 clip_grad_value=None, seed=None, skip_bad_frames=False, amp=None,
                 ema_decay=None, cluster_monitor=None, **evaluation):
        super().__init__(datamanager, use_gpu, **evaluation)
        check_clusterings_per_epoch(clusterings_per_epoch)
        check_feature_frames(feature_frames)
        check_pooling_method(pooling_method)
        self.clustering = ClusteringSettings(
            k1=int(k1), k2=int(k2), eps=float(eps), min_samples=int(min_samples),
            camera_centred=bool(camera_centred), cross_camera=bool(cross_camera),
            mutual_neighbors=int(mutual_neighbors), outliers=outliers, method=pseudo_labels,
            min_similarity=float(assignment_min_similarity),
            min_margin=float(assignment_min_margin))
        self.clusterings_per_epoch = int(clusterings_per_epoch)
        self.feature_frames = int(feature_frames)
        self.timer = PhaseTimer()
        self.epoch_times: list[dict] = []  # seconds per phase (PHASES) of each epoch
        self._last_part = True
        self.pooling_method, self.seq_len = pooling_method, int(seq_len)
        trainset = TrackletFrameDataset.from_datamanager(datamanager,
                                                         skip_bad_frames=skip_bad_frames)
        check_cross_camera(cross_camera, trainset.num_cameras)
        sampler = PseudoIdentityClipSampler(
            trainset, batch_size, seq_len, clips_per_identity, steps_per_epoch,
            seed=broadcast_seed(seed), num_replicas=self.world_size, rank=self.rank)
        if pseudo_labels == 'assignment' and trainset.num_cameras != 2:
            raise ValueError(f'cc.pseudo_labels "assignment" pairs the tracklets of two cameras; '
                             f'the training set has {trainset.num_cameras}: use "dbscan"')
        self.epoch_steps = sampler.steps
        if 0 < self.epoch_steps < self.clusterings_per_epoch:  # 0 steps: budget.py says
            raise ValueError(f'clusterings_per_epoch {clusterings_per_epoch} exceeds the '
                             f'{self.epoch_steps} steps of an epoch')
        base = datamanager.train_loader
        self.train_loader = DataLoader(trainset, batch_sampler=sampler,
                                       num_workers=base.num_workers, pin_memory=base.pin_memory)
        # (camera, tracklet within camera) -> tracklet index, to label a batch's frames
        cameras = torch.tensor(trainset.tracklet_camera)
        self._tracklet_camera = cameras
        self._tracklet_index = torch.full(
            (trainset.num_cameras, max(trainset.tracklets_per_camera)), -1, dtype=torch.long)
        self._tracklet_index[cameras, torch.tensor(trainset.tracklet_label)] = torch.arange(
            trainset.num_tracklets)
        self.setup_model(model, optimizer, scheduler, clip_grad_value, amp, ema_decay)
        self.criterion = ClusterMemory(self.embedding.feature_dim, temperature, momentum,
                                       memory_update, negatives, proxies,
                                       tracklet_cameras=cameras,
                                       cross_camera_weight=cross_camera_weight)
        if self.use_gpu:
            self.criterion.cuda()
        self.cluster_monitor = cluster_monitor
        self.setup_checkpoints(trainset, self.criterion)

    def monitor(self):
        return self.cluster_monitor

    def parse_data_for_train(self, data):
        return data['img'], data['tracklet'], data['camid']

    def tracklet_features(self) -> torch.Tensor:
        """Every training tracklet's L2-normalised feature ``(N, D)`` (all frames, or
        ``feature_frames`` spread evenly; eval mode, test transforms), each rank
        extracting its share, gathered on all ranks."""
        trainset = self.train_loader.dataset
        mine = shard(trainset.num_tracklets)
        frames = AllFramesDataset([evenly_spaced(trainset.tracklet_paths[t], self.feature_frames)
                                   for t in mine],
                                  self.datamanager.transform_te, trainset.reader.skip_bad_frames,
                                  name='training tracklet')
        feats, _ = extract_tracklet_features(
            unwrap_model(self.model), frames, self.eval_frame_batch_size or FEATURE_FRAME_BATCH,
            self.pooling_method, use_gpu=self.use_gpu,
            num_workers=self.train_loader.num_workers,
            channels_last=extraction_format(self.channels_last))
        return F.normalize(gather_shards(feats, trainset.num_tracklets), dim=1)

    def cluster(self) -> np.ndarray:
        """The epoch's pseudo-labels (rank 0's on every rank); rebuilds the memory and
        gives the labels to the sampler."""
        with self.timer.phase('features'):
            feats = self.tracklet_features()
        if not torch.isfinite(feats).all():
            raise FloatingPointError(f'the training tracklet features hold NaN or infinite '
                                     f'values before epoch {self.epoch + 1}: nothing to cluster')
        cameras = torch.tensor(self.train_loader.dataset.tracklet_camera)
        labels = torch.from_numpy(cluster_tracklets(feats, cameras, self.clustering,
                                                    phase=self.timer.phase))
        labels = broadcast_from_main(labels)
        check_pseudo_labels(labels.numpy(), cameras.numpy(), self.criterion.by_camera,
                            self.epoch + 1, self.clustering)
        self.criterion.rebuild(feats, labels)
        self.train_loader.batch_sampler.set_labels(labels.numpy())
        return labels.numpy()

    def train(self, print_freq=10, fixbase_epoch=0, open_layers=None):
        """One epoch: ``clusterings_per_epoch`` times, cluster then train a share of the
        epoch's steps; the learning rate moves once, at the epoch's end."""
        sampler = self.train_loader.batch_sampler
        parts = split_steps(self.epoch_steps, self.clusterings_per_epoch)
        self.timer.reset()
        for part, steps in enumerate(parts):
            labels = self.cluster()
            if self.cluster_monitor is not None:  # scored against identities, for reporting
                self.cluster_monitor.end_epoch(self.epoch + 1, labels, self.writer,
                                               clustering=part + 1, clusterings=len(parts))
            elif is_main_process():
                which = self.epoch + 1 if len(parts) == 1 else \
                    f'epoch {self.epoch + 1} clustering {part + 1}/{len(parts)}'
                print(cluster_line(which, cluster_statistics(labels)))
            sampler.steps = steps
            sampler.set_epoch(self.epoch * len(parts) + part)  # one clip stream per share
            self._last_part = part == len(parts) - 1
            with self.timer.phase('training'):
                super().train(print_freq=print_freq, fixbase_epoch=fixbase_epoch,
                              open_layers=open_layers)
        self.record_epoch_times()
        self.write_latest_checkpoint()

    def update_lr(self):
        """torchreid's, once an epoch: after the epoch's last share of steps."""
        if self._last_part:
            super().update_lr()

    def record_epoch_times(self) -> dict:
        """Prints the epoch's seconds per phase and keeps them in ``epoch_times``."""
        seconds = self.timer.reset()
        times = dict({name: round(seconds.get(name, 0.0), 3) for name in PHASES},
                     epoch=self.epoch + 1)
        self.epoch_times.append(times)
        print(f'=> epoch {self.epoch + 1} time: ' + ', '.join(
            f'{label} {times[name]:.1f} s' for name, label in PHASES.items()))
        return times

    def forward_backward(self, data):
        imgs, tracklets, camids = self.parse_data_for_train(data)
        self.count_frames(imgs)
        clips = imgs.size(0) // self.seq_len
        index = self._tracklet_index[camids, tracklets].view(clips, self.seq_len)[:, 0]
        labels = self.criterion.labels.cpu()[index]
        if self.use_gpu:
            imgs, labels, index = imgs.cuda(), labels.cuda(), index.cuda()
        imgs = self.training_format(imgs)
        with self.step.autocast():
            features = self.embedding(imgs)
        features = F.normalize(
            pool_frames(features.float().view(clips, self.seq_len, -1), self.pooling_method), dim=1)
        features, labels, index = gather_global_batch(features, labels, index)
        cameras = self._tracklet_camera[index.cpu()]
        loss = self.criterion(features, labels, cameras)
        if not torch.isfinite(loss):
            raise FloatingPointError(f'Cluster Contrast loss is {loss.item()} at epoch '
                                     f'{self.epoch + 1}, step {self.batch_idx + 1}')
        # DDP averages gradients over ranks: the world size restores the global loss's sum
        self.step(loss * self.world_size)
        self.criterion.update(features, labels, cameras)
        return {'loss': loss.item()}
