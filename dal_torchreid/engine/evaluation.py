"""What every engine of the plugin records: training frames and full test results.

torchreid's ``Engine._evaluate`` prints the CMC curve and returns only rank-1
and mAP. :class:`RecordingMixin` runs the same pipeline (the engine's
``parse_data_for_eval`` and ``extract_features``, torchreid's distance matrix,
re-ranking, ``evaluate_rank`` and ranked-result visualisation) and also stores
``engine.test_results[name] = {'cmc': [...], 'mAP': float}`` so tools can write
every metric without evaluating twice. It also counts the frames every
training step processes in ``engine.frames_seen``, and, being the one class
every engine of the plugin shares, puts the registered model and every training
batch in the plugin's memory format (``channels_last``,
:mod:`~dal_torchreid.engine.memory_format`).

With ``eval_frame_batch_size > 0`` features come from the all-frame fast
path instead (:func:`~dal_torchreid.engine.features.extract_tracklet_features`):
every frame of every tracklet goes through the model in batches of that many
frames across tracklet boundaries, then frames are pooled per tracklet. The
result is the ``(num_tracklets, D)`` matrix of torchreid's ``sample_method='all'``,
``batch_size_test=1`` protocol, computed without one model call per tracklet.
"""
from __future__ import annotations

import itertools
import os.path as osp
import time
import warnings

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

import torchreid

from dal_torchreid.data.frames import AllFramesDataset
from dal_torchreid.engine.distributed import NullWriter, world
from dal_torchreid.engine.features import extract_tracklet_features
from dal_torchreid.engine.embedding import unwrap_model
from dal_torchreid.engine.memory_format import (
    CHANNELS_LAST, batch_to_memory_format, check_channels_last, check_channels_last_model,
    extraction_format, to_memory_format
)
from dal_torchreid.metrics import (
    PROTOCOL, check_protocol, evaluate_both_directions, evaluate_release_protocol, pool_frames,
    release_evaluation
)
from dal_torchreid.engine.visrank import visualize_ranked_tracklets

EVAL_FRAME_BATCH_SIZE = 0  # torchreid's own test path
EVALUATION_NAMES = {
    'one_direction': 'query camera ranks the gallery',
    'both_directions': 'average of both cameras as the query',
    'all_tracklets': 'release protocol: all test tracklets ranked, trapezoidal AP',
}


def check_eval_frame_batch_size(eval_frame_batch_size: int) -> None:
    if eval_frame_batch_size < 0:
        raise ValueError('eval_frame_batch_size must be >= 0 (0: torchreid\'s path), '
                         f'got {eval_frame_batch_size}')


def cmc_at(cmc, rank: int) -> float:
    """CMC value at a 1-based rank; past a small gallery's end the curve is flat."""
    return float(cmc[min(rank, len(cmc)) - 1])


def non_finite_tensors(model: torch.nn.Module) -> tuple[list[str], int]:
    """(names of the parameters and floating-point buffers of ``model`` that hold NaN or
    infinite values, how many there are in all); one host synchronisation."""
    named = [(name, t) for name, t in itertools.chain(model.named_parameters(),
                                                      model.named_buffers())
             if t.is_floating_point()]
    if not named:
        return [], 0
    finite = torch.stack([torch.isfinite(t).all() for _, t in named]).cpu().tolist()
    return [name for (name, _), ok in zip(named, finite) if not ok], len(named)


def frames_in(imgs: Tensor) -> int:
    """Frames in a training batch: ``B * S`` for tracklets ``(B, S, C, H, W)``, else ``B``."""
    return imgs.shape[0] * (imgs.shape[1] if imgs.dim() == 5 else 1)


def warn_small_gallery(name: str, num_tracklets: int, num_people: int, ranks) -> None:
    """Warns when ranks at or past a gallery's number of people are reported: they rank
    (nearly) the whole gallery, so they say little (a gallery of one person scores 1.0)."""
    trivial = [r for r in ranks if r >= num_people]
    if trivial:
        names = [f'rank-{r}' for r in trivial]
        listed = names[0] if len(names) == 1 else ', '.join(names[:-1]) + ' and ' + names[-1]
        warnings.warn(f'{name}: the gallery holds {num_tracklets} tracklet'
                      f'{"s" if num_tracklets != 1 else ""} of {num_people} '
                      f'{"people" if num_people != 1 else "person"}; {listed} '
                      f'{"rank" if len(names) > 1 else "ranks"} the whole gallery and say little')


# RecordingMixin's own keyword arguments, which every engine of the plugin takes
EVALUATION_ARGUMENTS = ('eval_frame_batch_size', 'protocol', 'both_directions', 'channels_last')


class RecordingMixin:
    """Mixin for a torchreid ``Engine``: counts training frames, records test results.

    Put it before the torchreid engine class; it takes four keyword arguments
    and passes the others on to the engine. Tracklet features are pooled by the
    engine's ``pooling_method`` on both paths: ``'avg'``, ``'max'`` or
    ``'release'`` (normalise each frame, element-wise max, normalise).

    Args:
        eval_frame_batch_size (int, optional): 0 (default) evaluates with torchreid's own
            path: the loaders' sampling and ``extract_features``. A positive value
            uses the all-frame fast path: ALL frames of every query and gallery
            tracklet through the model in eval mode, this many per call, pooled
            per tracklet; it ignores the loaders' ``sample_method``, ``seq_len``
            and batch size, and equals torchreid's ``sample_method='all'``,
            ``batch_size_test=1`` result. Both paths print the same result lines.
        protocol (str, optional): ``'torchreid'`` (default) or ``'release'``: the
            DAL release's evaluation of each data set (PRID2011: camera A ranks
            camera B; iLIDS-VID: both cameras as the query, averaged; MARS: all
            test tracklets ranked, trapezoidal AP; :mod:`dal_torchreid.metrics`).
        both_directions (bool, optional): for a two-camera data set, also rank the
            query camera by the gallery's and average the two CMC curves and mAPs.
        channels_last (bool, optional): train in channels-last memory format (the
            registered model and every training batch,
            :mod:`~dal_torchreid.engine.memory_format`); False: contiguous, as torchreid.
            A model that cannot run in it (``mudeep``) is refused when registered, with
            :class:`~dal_torchreid.engine.memory_format.MemoryFormatError` saying so.

    ``engine.frames_seen`` counts the training frames of all processes (every
    rank of a distributed run); ``engine.test_results`` holds the last
    evaluation of each target (``cmc``, ``mAP``, ``evaluation``, and each
    direction's or the step-wise mAP where they apply), ``engine.evaluations``
    every evaluation's epoch (0: test only) and each target's rank-1 and mAP. NaN or infinite test
    features are an error, never a score; so are NaN or infinite weights after
    a training epoch (before its checkpoints are written) or before an evaluation
    (:meth:`check_finite_weights`). An evaluation during training that fails otherwise
    saves the weights it was given first (``model.pth.tar-<epoch>``, as torchreid would
    have after it), so a training run never loses its weights to its evaluation.

    Examples::

        engine = torchreid.engine.VideoDALEngine(datamanager, model, optimizer,
                                                 eval_frame_batch_size=256)
        engine.test()
        print(engine.test_results['prid2011']['cmc'][0])
    """

    def __init__(self, *args, eval_frame_batch_size: int = EVAL_FRAME_BATCH_SIZE,
                 protocol: str = PROTOCOL, both_directions: bool = False,
                 channels_last: bool = CHANNELS_LAST, **kwargs):
        check_channels_last(channels_last)
        self.channels_last = channels_last  # before torchreid's __init__ registers the model
        super().__init__(*args, **kwargs)
        check_eval_frame_batch_size(eval_frame_batch_size)
        check_protocol(protocol)
        self.eval_frame_batch_size = int(eval_frame_batch_size)
        self.protocol, self.both_directions = protocol, bool(both_directions)
        self.frames_seen = 0
        self.test_results: dict = {}
        self.evaluations: list[dict] = []  # every evaluation: its epoch, rank-1 and mAP
        self._test_only = False

    def run(self, save_dir='log', *args, **kwargs):
        """torchreid's ``Engine.run``; its TensorBoard writer is closed however the run
        ends (torchreid closes it only after a run that finished), so a failed run's
        log is flushed and written before the error reaches the caller, and the next
        ``run`` logs into its own ``save_dir`` rather than the first run's."""
        self._test_only = bool(kwargs.get('test_only'))
        try:
            return super().run(save_dir, *args, **kwargs)
        finally:
            self.close_writer()

    def close_writer(self) -> None:
        """Flushes and closes the TensorBoard writer, if one is open, and forgets it."""
        writer = self.writer
        if writer is not None and not isinstance(writer, NullWriter):
            writer.close()
            self.writer = None

    def register_model(self, name='model', model=None, optim=None, sched=None):
        """torchreid's ``register_model``; the model trains in the engine's memory format,
        refused in one line if it cannot run in channels-last format (one frame tried)."""
        if self.channels_last:
            dm = self.datamanager
            check_channels_last_model(unwrap_model(model), dm.height, dm.width,
                                      remedy='pass channels_last=False to the engine '
                                      '(train.channels_last False)')
        to_memory_format(model, self.channels_last)
        super().register_model(name, model, optim, sched)

    def count_frames(self, imgs: Tensor) -> None:
        """Adds a training batch's frames, over all processes, to ``frames_seen``."""
        self.frames_seen += frames_in(imgs) * world()[1]

    def training_format(self, imgs: Tensor) -> Tensor:
        """A training batch of frames or clips in the engine's memory format."""
        return batch_to_memory_format(imgs, self.channels_last)

    def forward_backward(self, data):
        self.count_frames(data['img'])
        return super().forward_backward(dict(data, img=self.training_format(data['img'])))

    def check_finite_weights(self, when: str) -> None:
        """Raises ``FloatingPointError`` naming ``when`` if a weight or buffer of the
        model is NaN or infinite: a diverged model is never saved or scored."""
        bad, total = non_finite_tensors(self.model)
        if bad:
            raise FloatingPointError(
                f'the model diverged: {len(bad)} of its {total} weight and buffer tensors '
                f'hold NaN or infinite values {when} (first "{bad[0]}"); nothing of it is '
                f'saved or evaluated ({self.divergence_hint()})')

    def divergence_hint(self) -> str:
        """What to try after a divergence (engines with more causes extend it)."""
        return 'a smaller learning rate may help'

    def train(self, *args, **kwargs):
        """torchreid's epoch of training, then :meth:`check_finite_weights` (so before
        anything saves the epoch's weights)."""
        super().train(*args, **kwargs)
        self.check_finite_weights(f'after epoch {self.epoch + 1}')

    def test(self, *args, **kwargs):
        """:meth:`check_finite_weights`, then torchreid's test; nothing (None) without a
        target data set (training on tracklets without identities, or on a footage
        set's ground-truth view: torchreid's test would fail on no loader)."""
        self.check_finite_weights('before evaluation')
        if not self.test_loader:
            print('=> No evaluation: no target data set with identities')
            return None
        epoch = 0 if self._test_only else self.epoch + 1
        self.evaluations.append({'epoch': epoch, 'targets': {}})
        try:
            return super().test(*args, **kwargs)
        except Exception as err:
            if not self._test_only and kwargs.get('save_dir') and not isinstance(
                    err, FloatingPointError):  # a diverged model is never saved
                self.save_before_failure(err, kwargs['save_dir'])
            raise

    def save_before_failure(self, err: Exception, save_dir: str) -> None:
        """Saves the trained weights (``save_model``, with no rank-1) when the evaluation
        after epoch ``self.epoch + 1`` failed with ``err``, and says where."""
        path = self.save_model(self.epoch, None, save_dir)
        said = (f'the evaluation after epoch {self.epoch + 1} failed '
                f'({type(err).__name__}); the trained weights were saved first'
                + (f': "{path}"' if path else f' under "{save_dir}"'))
        print(f'=> {said}')
        if hasattr(err, 'add_note'):  # Python 3.11+: the traceback says it too
            err.add_note(said)

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
                                  name='test tracklet',  # the loader's bad-frame policy
                                  skip_bad_frames=getattr(data_loader.dataset,
                                                          'skip_bad_frames', False))
        feats, elapsed = extract_tracklet_features(
            self.model, frames, self.eval_frame_batch_size,
            pooling_method=getattr(self, 'pooling_method', 'avg'), use_gpu=self.use_gpu,
            num_workers=data_loader.num_workers, pin_memory=data_loader.pin_memory,
            channels_last=extraction_format(self.channels_last))
        pids = np.asarray([item[1] for item in tracklets])
        camids = np.asarray([item[2] for item in tracklets])
        return feats, pids, camids, elapsed

    def extract_features(self, input):
        """Tracklet features of clips ``(B, S, C, H, W)`` pooled by ``self.pooling_method``
        (torchreid's path; ``'release'`` included), or frame features of ``(B, C, H, W)``."""
        if input.dim() != 5:
            return self.model(input)
        b, s = input.shape[:2]
        feats = self.model(input.flatten(0, 1)).view(b, s, -1)
        return pool_frames(feats, getattr(self, 'pooling_method', 'avg'))

    def _evaluation_mode(self, dataset_name: str) -> str:
        mode = release_evaluation(dataset_name) if self.protocol == 'release' else 'one_direction'
        return 'both_directions' if self.both_directions and mode == 'one_direction' else mode

    @torch.no_grad()
    def _evaluate(self, dataset_name='', query_loader=None, gallery_loader=None,
                  dist_metric='euclidean', normalize_feature=False, visrank=False,
                  visrank_topk=10, save_dir='', use_metric_cuhk03=False,
                  ranks=(1, 5, 10, 20), rerank=False):
        mode = self._evaluation_mode(dataset_name)
        if mode == 'all_tracklets' and (rerank or visrank):
            raise ValueError('test.protocol "release" on MARS ranks all test tracklets; '
                             're-ranking and visrank work with torchreid\'s protocol only')
        print('Extracting features from query set ...')
        qf, q_pids, q_camids, tq = self._extract(query_loader)
        print(f'Done, obtained {qf.size(0)}-by-{qf.size(1)} matrix')
        print('Extracting features from gallery set ...')
        gf, g_pids, g_camids, tg = self._extract(gallery_loader)
        print(f'Done, obtained {gf.size(0)}-by-{gf.size(1)} matrix')
        print(f'Feature extraction: {tq + tg:.2f} s')
        for side, feats in (('query', qf), ('gallery', gf)):
            if not torch.isfinite(feats).all():
                raise FloatingPointError(f'{dataset_name}: the {side} features hold NaN or '
                                         'infinite values; the model diverged, no score is reported')
        if normalize_feature:
            qf, gf = F.normalize(qf, p=2, dim=1), F.normalize(gf, p=2, dim=1)
        distmat = torchreid.metrics.compute_distance_matrix(qf, gf, dist_metric).numpy()
        reverse = None
        if rerank:
            distmat_qq = torchreid.metrics.compute_distance_matrix(qf, qf, dist_metric).numpy()
            distmat_gg = torchreid.metrics.compute_distance_matrix(gf, gf, dist_metric).numpy()
            if mode == 'both_directions':
                reverse = torchreid.utils.re_ranking(distmat.T, distmat_gg, distmat_qq)
            distmat = torchreid.utils.re_ranking(distmat, distmat_qq, distmat_gg)
        record = {}
        if mode == 'all_tracklets':
            result = evaluate_release_protocol(qf, gf, q_pids, g_pids, q_camids, g_camids,
                                               dist_metric)
            cmc, mAP, record['mAP_step'] = result['cmc'], result['mAP'], result['mAP_step']
        elif mode == 'both_directions':
            result = evaluate_both_directions(distmat, q_pids, g_pids, q_camids, g_camids,
                                              reverse, use_metric_cuhk03=use_metric_cuhk03)
            cmc, mAP = result['cmc'], result['mAP']
            record['directions'] = {
                d: {'cmc': [float(v) for v in result[d]['cmc']], 'mAP': result[d]['mAP']}
                for d in ('query_to_gallery', 'gallery_to_query')}
        else:
            cmc, mAP = torchreid.metrics.evaluate_rank(
                distmat, q_pids, g_pids, q_camids, g_camids, use_metric_cuhk03=use_metric_cuhk03)
        print(f'** Results ** ({EVALUATION_NAMES[mode]})')
        print(f'mAP: {mAP:.1%}')
        print('CMC curve')
        for r in ranks:
            print(f'Rank-{r:<3}: {cmc_at(cmc, r):.1%}')
        num_people = len(set(g_pids.tolist()))
        warn_small_gallery(dataset_name, len(g_pids), num_people, ranks)
        self.test_results[dataset_name] = dict(
            cmc=[float(v) for v in cmc], mAP=float(mAP), evaluation=mode, **record,
            num_query=len(q_pids), num_gallery=len(g_pids), num_gallery_people=num_people)
        if self.evaluations:
            self.evaluations[-1]['targets'][dataset_name] = {
                'rank1': cmc_at(cmc, 1), 'mAP': float(mAP)}
        if visrank and self.datamanager.data_type == 'video':  # one picture per query
            visualize_ranked_tracklets(
                distmat, self.datamanager.fetch_test_loaders(dataset_name),
                width=self.datamanager.width, height=self.datamanager.height,
                save_dir=osp.join(save_dir, 'visrank_' + dataset_name), topk=visrank_topk)
        elif visrank:
            torchreid.utils.visualize_ranked_results(
                distmat, self.datamanager.fetch_test_loaders(dataset_name),
                self.datamanager.data_type, width=self.datamanager.width,
                height=self.datamanager.height,
                save_dir=osp.join(save_dir, 'visrank_' + dataset_name), topk=visrank_topk
            )
        return float(cmc[0]), float(mAP)
