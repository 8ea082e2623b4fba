"""torchreid's test pipeline, keeping the full CMC curve and mAP of each target.

torchreid's ``Engine._evaluate`` prints the CMC curve and returns only rank-1
and mAP. :class:`RecordedEvaluationMixin` runs the same pipeline (the engine's
``parse_data_for_eval`` and ``extract_features``, torchreid's distance matrix,
re-ranking, ``evaluate_rank`` and ranked-result visualisation) and also stores
``engine.test_results[name] = {'cmc': [...], 'mAP': float}`` so tools can write
every metric without evaluating twice.

With ``engine.eval_frame_batch_size > 0`` features come from the all-frame fast
path instead (:class:`AllFramesDataset`,
:func:`dal_torchreid.metrics.pool_by_tracklet`): every frame
of every tracklet goes through the model in batches of that many frames across
tracklet boundaries, then frames are pooled per tracklet. The result is the
``(num_tracklets, D)`` matrix of torchreid's ``sample_method='all'``,
``batch_size_test=1`` protocol (the release's uses all frames too), computed
without one model call per tracklet.
"""
from __future__ import annotations

import os.path as osp
import time
from typing import Callable, Sequence

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

import torchreid

from dal_torchreid.data.frame_reading import read_frame
from dal_torchreid.metrics.pooling import finalize_pooled, pool_by_tracklet


def cmc_at(cmc, rank: int) -> float:
    """CMC value at a 1-based rank; past a small gallery's end the curve is flat."""
    return float(cmc[min(rank, len(cmc)) - 1])


class AllFramesDataset(Dataset):
    r"""Every frame of a list of torchreid video tracklets, one item per frame.

    Args:
        tracklets (sequence): torchreid tracklets ``(img_paths, pid, camid, ...)``,
            e.g. ``loader.dataset.data`` of a query or gallery loader.
        transform (callable, optional): applied to each PIL image (the test
            transforms of the loader's dataset).

    ``dataset[i]`` is ``(img, t)``: frame ``i`` in tracklet order and the index
    ``t`` of its tracklet. Tracklet sampling settings (``sample_method``,
    ``seq_len``) are ignored: all frames are always used.

    Examples::

        queryset = datamanager.test_loader['prid2011']['query'].dataset
        frames = AllFramesDataset(queryset.data, queryset.transform)
        img, t = frames[0]
    """

    def __init__(self, tracklets: Sequence[tuple], transform: Callable | None = None) -> None:
        paths, frame_tracklet = [], []
        for t, item in enumerate(tracklets):
            if len(item[0]) == 0:
                raise ValueError('test tracklet {} (pid {}, camera {}) has no frames'
                                 .format(t, item[1], item[2]))
            paths.extend(item[0])
            frame_tracklet.extend([t] * len(item[0]))
        self.img_paths = paths
        self.frame_tracklet = np.asarray(frame_tracklet, dtype=np.int64)
        self.num_tracklets = len(tracklets)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.img_paths)

    def __getitem__(self, index: int) -> tuple:
        img = read_frame(self.img_paths[index])  # one try: a bad file is an error naming it
        if self.transform is not None:
            img = self.transform(img)
        return img, int(self.frame_tracklet[index])


class RecordedEvaluationMixin:
    """Mixin for a torchreid ``Engine``: evaluation that records its results.

    Attributes:
        eval_frame_batch_size (int): 0 (default) evaluates with torchreid's own
            path: the loaders' sampling and the engine's ``extract_features``.
            A positive value uses the all-frame fast path: features of ALL
            frames of every query and gallery tracklet, computed by
            ``self.model`` in eval mode in batches of this many frames, pooled
            per tracklet by ``self.pooling_method`` (``'avg'``, ``'max'`` or
            ``'release'``, :mod:`dal_torchreid.metrics.pooling`).
            It ignores the loaders' ``sample_method``, ``seq_len`` and batch
            size and the engine's ``extract_features``, and equals torchreid's
            ``sample_method='all'``, ``batch_size_test=1`` result (the release
            protocol with ``'release'``). Both paths print the same result lines.

    Examples::

        engine = torchreid.engine.VideoDALEngine(datamanager, model, optimizer)
        engine.eval_frame_batch_size = 256  # all frames, 256 frames per model call
        engine.test()
        print(engine.test_results['prid2011']['cmc'][0])
    """

    test_results: dict
    eval_frame_batch_size: int = 0

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
        method = getattr(self, 'pooling_method', 'avg')
        tracklets = data_loader.dataset.data
        frames = AllFramesDataset(tracklets, data_loader.dataset.transform)
        if len(frames) == 0:
            raise ValueError('the test loader of {} has no tracklets'
                             .format(type(data_loader.dataset).__name__))
        loader = DataLoader(frames, batch_size=int(self.eval_frame_batch_size), shuffle=False,
                            num_workers=data_loader.num_workers,
                            pin_memory=data_loader.pin_memory)
        pooled = None
        elapsed = 0.0
        was_training = self.model.training
        self.model.eval()
        try:
            for imgs, tracklet in loader:
                if self.use_gpu:
                    imgs, tracklet = imgs.cuda(), tracklet.cuda()
                start = time.time()
                feats = self.model(imgs).float()
                pooled = pool_by_tracklet(feats, tracklet, frames.num_tracklets, method, pooled)
                elapsed += time.time() - start
        finally:
            self.model.train(was_training)
        counts = torch.bincount(torch.from_numpy(frames.frame_tracklet),
                                minlength=frames.num_tracklets)
        pooled = finalize_pooled(pooled.cpu(), counts, method)
        pids = np.asarray([item[1] for item in tracklets])
        camids = np.asarray([item[2] for item in tracklets])
        return pooled, pids, camids, elapsed

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
        if not hasattr(self, 'test_results') or self.test_results is None:
            self.test_results = {}
        self.test_results[dataset_name] = {'cmc': [float(v) for v in cmc], 'mAP': float(mAP)}
        if visrank:
            torchreid.utils.visualize_ranked_results(
                distmat, self.datamanager.fetch_test_loaders(dataset_name),
                self.datamanager.data_type, width=self.datamanager.width,
                height=self.datamanager.height,
                save_dir=osp.join(save_dir, 'visrank_' + dataset_name), topk=visrank_topk
            )
        return float(cmc[0]), float(mAP)
