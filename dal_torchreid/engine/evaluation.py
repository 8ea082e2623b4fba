"""What every engine of the plugin records: training frames and full test results.

torchreid's ``Engine._evaluate`` prints the CMC curve and returns only rank-1
and mAP. :class:`RecordingMixin` runs the same pipeline (the engine's
``parse_data_for_eval`` and ``extract_features``, torchreid's distance matrix,
re-ranking, ``evaluate_rank`` and ranked-result visualisation) and also stores
``engine.test_results[name] = {'cmc': [...], 'mAP': float}`` so tools can write
every metric without evaluating twice. It also counts the frames every
training step processes in ``engine.frames_seen``.

With ``eval_frame_batch_size > 0`` features come from the all-frame fast
path instead (:func:`~dal_torchreid.engine.features.extract_tracklet_features`):
every frame of every tracklet goes through the model in batches of that many
frames across tracklet boundaries, then frames are pooled per tracklet. The
result is the ``(num_tracklets, D)`` matrix of torchreid's ``sample_method='all'``,
``batch_size_test=1`` protocol, computed without one model call per tracklet.
"""
from __future__ import annotations

import os.path as osp
import time

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

import torchreid

from dal_torchreid.data.frames import AllFramesDataset
from dal_torchreid.engine.distributed import world
from dal_torchreid.engine.features import extract_tracklet_features

EVAL_FRAME_BATCH_SIZE = 0  # torchreid's own test path


def check_eval_frame_batch_size(eval_frame_batch_size: int) -> None:
    if eval_frame_batch_size < 0:
        raise ValueError('eval_frame_batch_size must be >= 0 (0: torchreid\'s path), '
                         f'got {eval_frame_batch_size}')


def cmc_at(cmc, rank: int) -> float:
    """CMC value at a 1-based rank; past a small gallery's end the curve is flat."""
    return float(cmc[min(rank, len(cmc)) - 1])


def frames_in(imgs: Tensor) -> int:
    """Frames in a training batch: ``B * S`` for tracklets ``(B, S, C, H, W)``, else ``B``."""
    return imgs.shape[0] * (imgs.shape[1] if imgs.dim() == 5 else 1)


class RecordingMixin:
    """Mixin for a torchreid ``Engine``: counts training frames, records test results.

    Put it before the torchreid engine class; it takes one keyword argument and
    passes the others on to the engine.

    Args:
        eval_frame_batch_size (int, optional): 0 (default) evaluates with torchreid's own
            path: the loaders' sampling and the engine's ``extract_features``.
            A positive value uses the all-frame fast path: features of ALL
            frames of every query and gallery tracklet, computed by
            ``self.model`` in eval mode in batches of this many frames, pooled
            per tracklet by ``self.pooling_method`` (``'avg'`` or ``'max'``).
            It ignores the loaders' ``sample_method``, ``seq_len`` and batch
            size and the engine's ``extract_features``, and equals torchreid's
            ``sample_method='all'``, ``batch_size_test=1`` result (the release
            protocol with ``'avg'``). Both paths print the same result lines.

    ``engine.frames_seen`` counts the training frames of all processes (every
    rank of a distributed run); ``engine.test_results`` holds the last
    evaluation of each target.

    Examples::

        engine = torchreid.engine.VideoDALEngine(datamanager, model, optimizer,
                                                 eval_frame_batch_size=256)
        engine.test()
        print(engine.test_results['prid2011']['cmc'][0])
    """

    def __init__(self, *args, eval_frame_batch_size: int = EVAL_FRAME_BATCH_SIZE, **kwargs):
        super().__init__(*args, **kwargs)
        check_eval_frame_batch_size(eval_frame_batch_size)
        self.eval_frame_batch_size = int(eval_frame_batch_size)
        self.frames_seen = 0
        self.test_results: dict = {}

    def count_frames(self, imgs: Tensor) -> None:
        """Adds a training batch's frames, over all processes, to ``frames_seen``."""
        self.frames_seen += frames_in(imgs) * world()[1]

    def forward_backward(self, data):
        self.count_frames(data['img'])
        return super().forward_backward(data)

    def _extract(self, data_loader):
        if self.eval_frame_batch_size > 0:
            return self._extract_all_frames(data_loader)
        feats, pids, camids = [], [], []
        elapsed = 0.0
        for data in data_loader:
            imgs, pid, camid = self.parse_data_for_eval(data)
            if self.use_gpu:
                imgs = imgs.cuda()
            start = time.time()
            feats.append(self.extract_features(imgs).float().cpu())
            elapsed += time.time() - start
            pids.extend(pid.tolist())
            camids.extend(camid.tolist())
        return torch.cat(feats, 0), np.asarray(pids), np.asarray(camids), elapsed

    def _extract_all_frames(self, data_loader):
        """The fast path: (features, pids, camids, model seconds) of a test loader."""
        tracklets = data_loader.dataset.data
        frames = AllFramesDataset([item[0] for item in tracklets], data_loader.dataset.transform,
                                  name='test tracklet')
        feats, elapsed = extract_tracklet_features(
            self.model, frames, self.eval_frame_batch_size,
            pooling_method=getattr(self, 'pooling_method', 'avg'), use_gpu=self.use_gpu,
            num_workers=data_loader.num_workers, pin_memory=data_loader.pin_memory)
        pids = np.asarray([item[1] for item in tracklets])
        camids = np.asarray([item[2] for item in tracklets])
        return feats, pids, camids, elapsed

    @torch.no_grad()
    def _evaluate(self, dataset_name='', query_loader=None, gallery_loader=None,
                  dist_metric='euclidean', normalize_feature=False, visrank=False,
                  visrank_topk=10, save_dir='', use_metric_cuhk03=False,
                  ranks=(1, 5, 10, 20), rerank=False):
        print('Extracting features from query set ...')
        qf, q_pids, q_camids, tq = self._extract(query_loader)
        print('Done, obtained {}-by-{} matrix'.format(qf.size(0), qf.size(1)))
        print('Extracting features from gallery set ...')
        gf, g_pids, g_camids, tg = self._extract(gallery_loader)
        print('Done, obtained {}-by-{} matrix'.format(gf.size(0), gf.size(1)))
        print('Feature extraction: {:.2f} s'.format(tq + tg))
        if normalize_feature:
            qf, gf = F.normalize(qf, p=2, dim=1), F.normalize(gf, p=2, dim=1)
        distmat = torchreid.metrics.compute_distance_matrix(qf, gf, dist_metric).numpy()
        if rerank:
            distmat_qq = torchreid.metrics.compute_distance_matrix(qf, qf, dist_metric).numpy()
            distmat_gg = torchreid.metrics.compute_distance_matrix(gf, gf, dist_metric).numpy()
            distmat = torchreid.utils.re_ranking(distmat, distmat_qq, distmat_gg)
        cmc, mAP = torchreid.metrics.evaluate_rank(
            distmat, q_pids, g_pids, q_camids, g_camids, use_metric_cuhk03=use_metric_cuhk03
        )
        print('** Results **')
        print('mAP: {:.1%}'.format(mAP))
        print('CMC curve')
        for r in ranks:
            print('Rank-{:<3}: {:.1%}'.format(r, cmc_at(cmc, r)))
        self.test_results[dataset_name] = {'cmc': [float(v) for v in cmc], 'mAP': float(mAP)}
        if visrank:
            torchreid.utils.visualize_ranked_results(
                distmat, self.datamanager.fetch_test_loaders(dataset_name),
                self.datamanager.data_type, width=self.datamanager.width,
                height=self.datamanager.height,
                save_dir=osp.join(save_dir, 'visrank_' + dataset_name), topk=visrank_topk
            )
        return float(cmc[0]), float(mAP)
