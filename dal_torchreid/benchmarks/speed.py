"""Speed of DAL relative to torchreid: three ratios, robust to a busy machine.

Usage::

    dal-benchmark --threads 2 --json log/benchmark.json    # CPU: resnet50, 224x112
    dal-benchmark --device cuda --workers 8 --json log/benchmark_gpu.json
    dal-benchmark --small --threads 1                      # tiny backbone, < 1 min
    dal-benchmark --parts loss,eval --threads 1            # some parts only
    dal-benchmark --parts cluster --threads 2              # Cluster Contrast's clustering
    dal-benchmark --parts search --threads 2               # dal-search over 10k, 100k tracklets
    dal-benchmark --compare log/run1.json log/run2.json    # do two runs agree?
    tools/benchmark_gpu.sh log/benchmark_gpu               # everything on one GPU, < 8 min

- ``train_throughput_ratio``: frames/s of ``VideoDALEngine.forward_backward``
  over frames/s of torchreid's ``VideoSoftmaxEngine.forward_backward``: same
  backbone, optimizer, frames per batch and input size, random tensors in each
  engine's batch format. The DAL engine carries MARS-scale anchors (8,298
  tracklets in 6 cameras, :class:`ScaledAnchorsDALEngine`) and associates.
- ``loss_overhead_fraction``: seconds of one ``DeepAssociationLoss`` step
  (forward with its anchor update, backward to the features; input checks off
  after the first, as a trainer runs it) at MARS scale, 2048-d, 64 frames,
  over seconds of one backbone training step (forward, backward and optimizer
  step on the same number of frames at the benchmark's input size, in the
  plugin's default memory format).
- ``eval_speedup``: seconds of torchreid's ``sample_method='all'``,
  ``batch_size_test=1`` feature extraction over the all-frame fast path
  (``eval_frame_batch_size``) on the same tracklets of a synthetic MARS-layout
  set; both paths' tracklet features are checked to agree. The ranking that
  follows is the same on both paths and is left out.

The two sides of each ratio are timed interleaved, in pairs whose order
alternates (A B, B A, A B, ...), so that a change of the machine's load hits
both sides of a pair alike and a drift cancels over pairs. Untimed warm-up
rounds come first, at least ``warmup`` and more while step times still fall
(up to ``max_warmup``). Each ratio is reported two ways: the median of its
per-pair ratios with their quartiles (the spread is the interquartile range),
and ``low``, the ratio of the two sides' lower quartiles (the evaluation's per
frame). ``report[ratio]`` holds ``low``: interference from other work on the
machine only ever adds time, so a side's lower quartile is its least
disturbed time, while a per-pair ratio is disturbed whenever either of its two
sides is. But when the machine's speed drifts over a run, the lower quartiles
come from its fastest stretch, a few pairs, where the per-pair median cancels
the drift. A target counts as met only when both meet it
(:func:`target_met`); on a quiet machine the two agree. On the CPU the evaluation pairs
are chunks of whole tracklets of about ``eval_batch`` frames (every test frame
once per path); on CUDA they are passes over the whole test set. Every engine
trains with the plugin's defaults (``train.channels_last``); torchreid's as it
ships (contiguous, float32).

The full mode also prints the DAL loss step time and anchor memory against
the number of training tracklets (:mod:`dal_torchreid.benchmarks.loss_scale`)
and a table of training step times: torchreid's stock ``VideoSoftmaxEngine``,
the plugin's supervised engine in contiguous and channels-last format, and DAL
in both formats, float32 and under autocast (``amp`` ``'bf16'`` and, on CUDA,
``'fp16'``).
the ``cluster`` part times Cluster Contrast's clustering step against the number of
tracklets (:mod:`dal_torchreid.benchmarks.cluster_scale`); the ``search`` part times finding one
person in a gallery of 10k and 100k tracklets, features given
(:mod:`dal_torchreid.benchmarks.search_scale`); the ``associate`` part times the
cross-camera association from features to global ids at 1k to 100k tracklets
(:mod:`dal_torchreid.benchmarks.association_scale`). ``--small`` swaps resnet50 at
224x112 with 64-frame batches for resnet18 at 64x48 with 8 frames, a 1/16-scale 256-d loss and a
smaller data set: its figures only show that every part runs. (Not 64x32 or below: there
layer4's kernels reach wholly into padding, where CPU bf16 training is refused, see
:mod:`dal_torchreid.models.conv_padding`.)
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import io
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from torch.utils.data import DataLoader

import torchreid

from dal_torchreid.benchmarks import association_scale, cluster_scale, loss_scale, search_scale
from dal_torchreid.data.datamanager import build_video_datamanager
from dal_torchreid.data.synthetic import SyntheticConfig, make_synthetic_dataset
from dal_torchreid.engine import VideoDALEngine
from dal_torchreid.engine.features import CPU_FRAMES_PER_CALL
from dal_torchreid.engine.memory_format import (
    CHANNELS_LAST, batch_to_memory_format, to_memory_format
)
from dal_torchreid.engine.supervised import RecordedVideoSoftmaxEngine
from dal_torchreid.losses import DeepAssociationLoss

MARS_TRACKLETS = (1816, 1957, 1321, 750, 1880, 574)
LOSS_DIM = 2048
RATIOS = ('train_throughput_ratio', 'loss_overhead_fraction', 'eval_speedup')
TARGETS = {  # per device: (comparison, target) of each ratio's TARGET_STATISTIC
    'cpu': {'train_throughput_ratio': ('>=', 1.1), 'loss_overhead_fraction': ('<=', 0.02),
            'eval_speedup': ('>=', 1.0)},
    'cuda': {'train_throughput_ratio': ('>=', 0.95), 'loss_overhead_fraction': ('<=', 0.02),
             'eval_speedup': ('>=', 3.0)},
}
TARGET_STATISTIC = 'low'  # of ratio_summary: what report[ratio] holds (see target_met)
# the three ratios, then the rest
PARTS = ('train', 'loss', 'eval', 'scale', 'formats', 'cluster', 'search', 'associate')
# what a run without --parts measures: the clustering curve (minutes to 128k tracklets on a
# CPU) and the search of a gallery run when asked for, --parts cluster / search
DEFAULT_PARTS = tuple(p for p in PARTS if p not in ('cluster', 'search', 'associate'))
DATA_PARTS = ('train', 'eval', 'formats')  # the parts that read the synthetic data set
AMP_TIMED = ('', 'bf16', 'fp16')  # '' is float32
SETTLE = 0.03  # warm-up goes on while a side's step is this much faster than its best before
# largest |fast - torchreid| tracklet feature difference, relative to the largest
# |feature|, before the benchmark refuses its figures (CUDA convolutions use TF32)
FEATURE_TOLERANCE = {'cpu': 1e-4, 'cuda': 5e-2}


@dataclass(frozen=True)
class Settings:
    """What one benchmark mode measures, and how many times."""

    backbone: str
    height: int
    width: int
    frames: int            # frames per training batch
    seq_len: int           # frames per tracklet in the softmax batch
    pairs: int             # timed (A, B) pairs of each training ratio
    calls: int             # calls per timed side of a pair (their mean is one sample)
    warmup: int            # untimed rounds of each side first, at least
    max_warmup: int        # ... and at most, while step times still fall (see interleaved)
    loss_calls: int        # loss steps per pair of the overhead ratio (their mean)
    eval_batch: int        # frames per model call on the fast path
    eval_chunk: int        # frames (whole tracklets) per evaluation pair; 0: the whole set
    eval_passes: int       # passes over the test set
    format_rounds: int     # timed rounds of the memory format and autocast table
    data: SyntheticConfig  # the MARS-layout set
    loss_tracklets: tuple = MARS_TRACKLETS  # anchors per camera of the DAL loss
    loss_dim: int = LOSS_DIM                # feature dimension of the loss benchmark
    scale_tracklets: tuple = loss_scale.TRACKLETS  # sizes of the loss scale curve
    scale_dim: int = LOSS_DIM
    scale_frames: int = 64
    scale_steps: int = 3   # timed loss steps per size (median)
    cluster_tracklets: tuple = cluster_scale.TRACKLETS  # sizes of the clustering step
    cluster_dim: int = cluster_scale.DIM
    search_tracklets: tuple = search_scale.SIZES  # gallery sizes of the search
    search_dims: tuple = search_scale.DIMS
    associate_tracklets: tuple = association_scale.TRACKLETS  # sizes of the association


FULL = Settings('resnet50', 224, 112, frames=64, seq_len=8, pairs=11, calls=1, warmup=2,
                max_warmup=6, loss_calls=3, eval_batch=128, eval_chunk=128, eval_passes=1,
                format_rounds=3,
                data=SyntheticConfig.for_layout('mars', ids=24, cameras=6, tracklets_per_camera=1,
                                                distractors=12, junk=0, min_frames=4,
                                                max_frames=16, height=128, width=64))
# a GPU step takes milliseconds: more, longer samples, and whole passes at evaluation
FULL_CUDA = dataclasses.replace(FULL, pairs=15, calls=5, warmup=3, max_warmup=8, loss_calls=20,
                                eval_chunk=0, eval_passes=7, format_rounds=10, scale_steps=9)
SMALL = Settings('resnet18', 64, 48, frames=8, seq_len=4, pairs=5, calls=1, warmup=1,
                 max_warmup=3, loss_calls=2, eval_batch=16, eval_chunk=16, eval_passes=1, format_rounds=2,
                 data=SyntheticConfig.for_layout('mars', ids=6, cameras=3, tracklets_per_camera=1,
                                                 distractors=2, junk=0, min_frames=2,
                                                 max_frames=5, height=64, width=48),
                 loss_tracklets=tuple(n // 16 for n in MARS_TRACKLETS), loss_dim=256,
                 scale_tracklets=loss_scale.SMALL_TRACKLETS, scale_dim=128, scale_frames=16,
                 scale_steps=2, cluster_tracklets=cluster_scale.SMALL_TRACKLETS, cluster_dim=128,
                 search_tracklets=(1000, 10_000), search_dims=(128,),
                 associate_tracklets=(1000,))


def settings_for(small: bool, device: str) -> Settings:
    """The settings of a mode on a device (``--small`` is the same everywhere)."""
    if small:
        return SMALL
    return FULL_CUDA if device == 'cuda' else FULL


def _sync(device: str) -> None:
    if device == 'cuda':
        torch.cuda.synchronize()


def timed(fn: Callable[[], object], calls: int, device: str) -> float:
    """Mean wall seconds of ``calls`` calls of ``fn()``, the device synchronised around."""
    _sync(device)
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    _sync(device)
    return (time.perf_counter() - start) / calls


def interleaved(sides: Sequence[Callable[[], float]], rounds: int, warmup: int = 0,
                max_warmup: int | None = None, settle: float = SETTLE,
                warmup_seconds: list | None = None) -> list[list[float]]:
    """Seconds of each side over ``rounds`` rounds, the sides taking turns.

    Each side is a callable that runs and times itself (see :func:`timed`).
    Every round runs every side once, the order rotating by one each round
    (two sides: A B, B A, A B, ...), so a side is not always first or last.
    Untimed warm-up rounds come first: at least ``warmup``, then more while
    step times still fall (a side's last warm-up time more than ``settle``
    below its best earlier one), up to ``max_warmup`` rounds (default
    ``warmup``: exactly that many). ``warmup_seconds``, a list, receives each
    warm-up round's times. Returns one list of seconds per side.
    """
    if rounds < 1:
        raise ValueError(f'rounds must be >= 1, got {rounds}')
    max_warmup = warmup if max_warmup is None else max(max_warmup, warmup)
    k = len(sides)

    def one_round(r: int) -> list[float]:
        times = [0.0] * k
        for i in [(r + j) % k for j in range(k)]:
            times[i] = sides[i]()
        return times

    warm = [] if warmup_seconds is None else warmup_seconds
    warm.clear()
    while len(warm) < max_warmup:
        warm.append(one_round(len(warm)))
        if len(warm) >= max(warmup, 2):
            best = [min(x[i] for x in warm[:-1]) for i in range(k)]
            if all(warm[-1][i] >= (1 - settle) * best[i] for i in range(k)):
                break
    timed_rounds = [one_round(len(warm) + r) for r in range(rounds)]
    return [[t[i] for t in timed_rounds] for i in range(k)]


def ratio_summary(numerators: Sequence[float], denominators: Sequence[float]) -> dict:
    """Median and quartiles of the per-pair ratios ``numerators[i] / denominators[i]``,
    and the ratio of the two sides' lower quartiles and of their minima.

    Returns ``{'median', 'q1', 'q3', 'iqr', 'pairs', 'low', 'min'}``, ``pairs``
    being the ratios themselves in the order measured, ``low`` the lower quartile
    of the numerators over that of the denominators and ``min`` the same of the
    minima (for these the pairs must be equal work: seconds of the same step, or
    per frame). Quartiles interpolate linearly between the sorted values
    (``statistics.quantiles``, inclusive method).
    """
    if len(numerators) != len(denominators) or not numerators:
        raise ValueError(f'need as many numerators as denominators, at least one: got '
                         f'{len(numerators)} and {len(denominators)}')
    ratios = [n / d for n, d in zip(numerators, denominators)]
    q1, med, q3 = _quartiles(ratios)
    return {'median': med, 'q1': q1, 'q3': q3, 'iqr': q3 - q1, 'pairs': ratios,
            'low': _quartiles(numerators)[0] / _quartiles(denominators)[0],
            'min': min(numerators) / min(denominators)}


def _quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, med, q3 = statistics.quantiles(values, n=4, method='inclusive')
    return q1, med, q3


def tracklet_chunks(lengths: Sequence[int], max_frames: int) -> list[list[int]]:
    """Consecutive tracklets grouped into chunks of at most ``max_frames`` frames (a
    longer tracklet is a chunk of its own); ``max_frames`` 0 puts all in one chunk."""
    if max_frames <= 0:
        return [list(range(len(lengths)))]
    chunks, frames = [[]], 0
    for t, n in enumerate(lengths):
        if chunks[-1] and frames + n > max_frames:
            chunks.append([])
            frames = 0
        chunks[-1].append(t)
        frames += n
    return chunks


def build_datamanager(root: str, settings: Settings, device: str, workers: int):
    """A MARS-layout data manager with torchreid's all-frame test protocol."""
    with contextlib.redirect_stdout(io.StringIO()):
        return build_video_datamanager(
            root=root, sources='mars', height=settings.height, width=settings.width,
            transforms=[], norm_mean=[0.5] * 3, norm_std=[0.5] * 3, use_gpu=device == 'cuda',
            batch_size_train=2, batch_size_test=1, workers=workers,
            seq_len=settings.seq_len, sample_method='all'
        )


def _model(settings: Settings, num_classes: int, device: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = torchreid.models.build_model(settings.backbone, num_classes=num_classes,
                                         loss='softmax', pretrained=False)
    return model.to(device)


def _optimizer(model: torch.nn.Module):
    return torchreid.optim.build_optimizer(model, optim='adam', lr=3e-4)


class ScaledAnchorsDALEngine(VideoDALEngine):
    """The DAL engine with anchors for ``tracklets_per_camera`` tracklets, whatever its
    data: a training step at MARS scale on a small synthetic set.

    Args:
        tracklets_per_camera (sequence of int): anchors per camera (MARS's by default);
            every other argument is :class:`~dal_torchreid.engine.VideoDALEngine`'s.

    Examples::

        engine = ScaledAnchorsDALEngine(datamanager, model, optimizer, use_gpu=False)
        engine.forward_backward({'img': imgs, 'tracklet': tracklets, 'camid': camids})
    """

    def __init__(self, *args, tracklets_per_camera: Sequence[int] = MARS_TRACKLETS, **kwargs):
        super().__init__(*args, **kwargs)
        self.criterion = DeepAssociationLoss(tracklets_per_camera, self.embedding.feature_dim)
        self.criterion.to('cuda' if self.use_gpu else 'cpu')


def _dal_engine(datamanager, settings: Settings, device: str, amp: str | None = None,
                channels_last: bool = CHANNELS_LAST):
    model = _model(settings, 1, device)
    engine = ScaledAnchorsDALEngine(datamanager, model, _optimizer(model), use_gpu=device == 'cuda',
                                    warmup_epochs=0, batch_size=2, amp=amp or None,
                                    channels_last=channels_last,
                                    tracklets_per_camera=settings.loss_tracklets)
    engine.model.train()
    return engine


def _dal_batch(settings: Settings, imgs: torch.Tensor) -> dict:
    counts = settings.loss_tracklets
    camids = torch.randint(len(counts), (imgs.size(0),))
    tracklets = (torch.rand(imgs.size(0)) * torch.tensor(counts)[camids]).long()
    return {'img': imgs, 'tracklet': tracklets, 'camid': camids}


def training_engines(datamanager, settings: Settings, device: str) -> dict:
    """``{'dal': (engine, batch), 'softmax': (engine, batch)}``: the DAL engine and
    torchreid's stock ``VideoSoftmaxEngine``, in training mode, each with the same
    random frames in its batch format."""
    n, s = settings.frames, settings.seq_len
    if n % s:
        raise ValueError(f'frames ({n}) must be a multiple of seq_len ({s})')
    torch.manual_seed(0)
    imgs = torch.randn(n, 3, settings.height, settings.width)
    dal = _dal_engine(datamanager, settings, device)
    num_pids = datamanager.num_train_pids
    model = _model(settings, num_pids, device)
    softmax = torchreid.engine.VideoSoftmaxEngine(datamanager, model, _optimizer(model),
                                                  use_gpu=device == 'cuda')
    softmax.model.train()
    softmax_batch = {'img': imgs.view(n // s, s, *imgs.shape[1:]),
                     'pid': torch.randint(num_pids, (n // s,))}
    return {'dal': (dal, _dal_batch(settings, imgs)), 'softmax': (softmax, softmax_batch)}


def train_throughput_ratio(datamanager, settings: Settings, device: str) -> dict:
    """DAL and softmax ``forward_backward`` on the same random frames, interleaved."""
    n = settings.frames
    engines = training_engines(datamanager, settings, device)
    (dal, dal_batch), (softmax, softmax_batch) = engines['dal'], engines['softmax']
    t_dal, t_softmax = interleaved(
        [lambda: timed(lambda: dal.forward_backward(dal_batch), settings.calls, device),
         lambda: timed(lambda: softmax.forward_backward(softmax_batch), settings.calls, device)],
        settings.pairs, settings.warmup, settings.max_warmup)
    return {'train_throughput_ratio': ratio_summary(t_softmax, t_dal),
            'dal_step_s': t_dal, 'softmax_step_s': t_softmax,
            'dal_frames_per_s': n / statistics.median(t_dal),
            'softmax_frames_per_s': n / statistics.median(t_softmax)}


def loss_overhead_fraction(settings: Settings, device: str) -> dict:
    """DAL loss step (MARS scale unless ``--small``) over one backbone training step,
    interleaved: each pair is ``loss_calls`` loss steps (mean) and one backbone step."""
    torch.manual_seed(0)
    counts = settings.loss_tracklets
    criterion = DeepAssociationLoss(counts, settings.loss_dim).to(device)
    with torch.no_grad():
        for anchors in criterion.intra_anchors + criterion.cross_anchors:
            anchors.normal_()
    camids = torch.randint(len(counts), (settings.frames,), device=device)
    tracklets = (torch.rand(settings.frames, device=device)
                 * torch.tensor(counts, device=device)[camids]).long()
    feats = torch.randn(settings.frames, settings.loss_dim, device=device, requires_grad=True)

    def loss_step():
        feats.grad = None
        criterion(feats, tracklets, camids, associate=True).backward()
        criterion.validate_inputs = False  # the first batch was checked, as a trainer does

    model = to_memory_format(_model(settings, 1, device).train(), CHANNELS_LAST)
    optimizer = _optimizer(model)
    imgs = batch_to_memory_format(
        torch.randn(settings.frames, 3, settings.height, settings.width, device=device),
        CHANNELS_LAST)  # the backbone step as the plugin's engines train it
    targets = torch.zeros(settings.frames, dtype=torch.long, device=device)

    def backbone_step():
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(imgs), targets).backward()
        optimizer.step()

    t_loss, t_step = interleaved(
        [lambda: timed(loss_step, settings.loss_calls, device),
         lambda: timed(backbone_step, settings.calls, device)],
        settings.pairs, settings.warmup, settings.max_warmup)
    return {'loss_overhead_fraction': ratio_summary(t_loss, t_step),
            'loss_step_s': t_loss, 'backbone_step_s': t_step}


def eval_speedup(datamanager, settings: Settings, device: str, workers: int) -> dict:
    """torchreid's one-tracklet-per-call feature extraction over the all-frame fast
    path, interleaved over chunks of the test set's tracklets (or whole passes)."""
    loaders = datamanager.test_loader['mars']
    testset = loaders['query'].dataset
    items = list(testset.data) + list(loaders['gallery'].dataset.data)
    lengths = [len(item[0]) for item in items]
    chunks = tracklet_chunks(lengths, settings.eval_chunk) * settings.eval_passes
    model = _model(settings, 1, device).eval()
    engines = {name: VideoDALEngine(datamanager, model, _optimizer(model),
                                    use_gpu=device == 'cuda', batch_size=2,
                                    eval_frame_batch_size=batch)
               for name, batch in (('torchreid', 0), ('fast', settings.eval_batch))}
    features = {}

    def extract(name: str, chunk: Sequence[int]) -> float:
        dataset = copy.copy(testset)  # torchreid's VideoDataset over these tracklets
        dataset.data = [items[t] for t in chunk]
        loader = DataLoader(dataset, batch_size=1, shuffle=False, num_workers=workers,
                            pin_memory=device == 'cuda')
        with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
            _sync(device)
            start = time.perf_counter()
            feats = engines[name]._extract(loader)[0]
            _sync(device)
            seconds = time.perf_counter() - start
        features[name] = feats
        return seconds

    with torch.no_grad():  # first-call costs (allocator, kernels, loaders) out of the timings
        model(torch.randn(settings.eval_batch, 3, settings.height, settings.width, device=device))
    for name in engines:
        extract(name, [0])
    t_torchreid, t_fast, difference = [], [], 0.0
    for i, chunk in enumerate(chunks):
        order = ('torchreid', 'fast') if i % 2 == 0 else ('fast', 'torchreid')
        seconds = {name: extract(name, chunk) for name in order}
        t_torchreid.append(seconds['torchreid'])
        t_fast.append(seconds['fast'])
        ref, fast = features['torchreid'], features['fast']
        difference = max(difference, float((fast - ref).abs().max() / ref.abs().max()))
    if not difference <= FEATURE_TOLERANCE[device]:
        raise RuntimeError(f'fast evaluation features differ from torchreid\'s by {difference:.2e} '
                           f'of their largest value (tolerance {FEATURE_TOLERANCE[device]:.0e})')
    frames = [sum(lengths[t] for t in chunk) for chunk in chunks]
    per_frame = [[t / f for t, f in zip(side, frames)] for side in (t_torchreid, t_fast)]
    return {'eval_speedup': ratio_summary(*per_frame),  # chunks differ: per frame
            'eval_torchreid_s': t_torchreid, 'eval_fast_s': t_fast,
            'eval_total_speedup': sum(t_torchreid) / sum(t_fast),
            'eval_pair_frames': frames,
            'eval_frames': sum(lengths), 'eval_feature_difference': difference,
            'eval_frames_per_call': (settings.eval_batch if device == 'cuda'
                                     else min(settings.eval_batch, CPU_FRAMES_PER_CALL))}


def scale_curve(settings: Settings, device: str) -> dict:
    """DAL loss step time and anchor memory against the number of training tracklets
    (:func:`dal_torchreid.benchmarks.loss_scale.step_seconds`), with a line fitted."""
    cameras, dim, frames = len(MARS_TRACKLETS), settings.scale_dim, settings.scale_frames
    rows = []
    for n in settings.scale_tracklets:
        seconds, peak = loss_scale.step_seconds(n, cameras, dim, frames, settings.scale_steps,
                                                settings.warmup, torch.device(device))
        rows.append({'tracklets': n, 'step_s': seconds,
                     'anchor_mib': loss_scale.anchor_bytes(n, dim) / loss_scale.MIB,
                     'peak_mib': None if peak is None else peak / loss_scale.MIB})
    sizes = [float(r['tracklets']) for r in rows]
    seconds = [r['step_s'] for r in rows]
    a, b = loss_scale.fit_line(sizes, seconds)
    big = loss_scale.EXTRAPOLATE_TO
    return {'dim': dim, 'frames': frames, 'cameras': cameras, 'rows': rows,
            'fit_ms': a * 1e3, 'fit_ms_per_1k': b * 1e6,
            'fit_worst_deviation': max(abs(a + b * n - t) / t for n, t in zip(sizes, seconds)),
            'exponent': math.log(seconds[-1] / seconds[-2]) / math.log(sizes[-1] / sizes[-2]),
            'extrapolated': {'tracklets': big, 'step_s': a + b * big,
                             'anchor_mib': loss_scale.anchor_bytes(big, dim) / loss_scale.MIB}}


def _format_sides(device: str) -> tuple[list[tuple[str, str, bool]], dict]:
    """(engine, amp, channels_last) of every training step the formats table times, and
    the autocast modes skipped on this device with why. torchreid's engine trains as it
    ships (float32, contiguous); the plugin's supervised engine has no autocast."""
    amps, skipped = [], {}
    for amp in AMP_TIMED:
        if amp == 'fp16' and device != 'cuda':
            skipped[amp] = 'fp16 autocast needs CUDA (the engine refuses it on the CPU)'
        elif amp == 'bf16' and device == 'cuda' and not torch.cuda.is_bf16_supported():
            skipped[amp] = f'{torch.cuda.get_device_name()} does not support bfloat16'
        else:
            amps.append(amp)
    sides = [('torchreid', '', False)] + [('supervised', '', cl) for cl in (False, True)]
    sides += [('dal', amp, cl) for amp in amps for cl in (False, True)]
    return sides, skipped


def format_step_times(datamanager, settings: Settings, device: str) -> dict:
    """Training step seconds of torchreid's stock ``VideoSoftmaxEngine``, the plugin's
    supervised engine (``RecordedVideoSoftmaxEngine``) and DAL, each in the memory formats
    and (DAL) autocast modes measured, all taking turns on the same random frames;
    speed-ups are medians of per-round ratios over the stock engine's step."""
    n, s = settings.frames, settings.seq_len
    sides, skipped = _format_sides(device)
    torch.manual_seed(0)
    imgs = torch.randn(n, 3, settings.height, settings.width)
    num_pids = datamanager.num_train_pids
    clips = {'img': imgs.view(n // s, s, *imgs.shape[1:]), 'pid': torch.randint(num_pids, (n // s,))}
    steps = []
    for engine, amp, channels_last in sides:
        if engine == 'dal':
            steps.append((_dal_engine(datamanager, settings, device, amp, channels_last),
                          _dal_batch(settings, imgs)))
            continue
        model = _model(settings, num_pids, device)
        extra = {} if engine == 'torchreid' else {'channels_last': channels_last}
        kind = (torchreid.engine.VideoSoftmaxEngine if engine == 'torchreid'
                else RecordedVideoSoftmaxEngine)
        steps.append((kind(datamanager, model, _optimizer(model), use_gpu=device == 'cuda',
                           **extra), clips))
    for e, _ in steps:
        e.model.train()
    seconds = interleaved(
        [lambda e=e, b=b: timed(lambda: e.forward_backward(b), settings.calls, device)
         for e, b in steps], settings.format_rounds, settings.warmup, settings.max_warmup)
    rows = []
    for (engine, amp, channels_last), t in zip(sides, seconds):
        rows.append({'engine': engine, 'amp': amp or 'fp32', 'channels_last': channels_last,
                     'step_s': statistics.median(t), 'frames_per_s': n / statistics.median(t),
                     'speedup': ratio_summary(seconds[0], t), 'seconds': t})
    return {'skipped': skipped, 'rows': rows}


def machine_info(device: str) -> dict:
    """CPU model, accelerator, torch version and threads of this run."""
    cpu = platform.processor() or platform.machine()
    if os.path.exists('/proc/cpuinfo'):
        with open('/proc/cpuinfo') as f:
            names = [line.split(':', 1)[1].strip() for line in f if line.startswith('model name')]
        cpu = names[0] if names else cpu
    return {'cpu': cpu, 'cpu_count': os.cpu_count(), 'torch': torch.__version__,
            'threads': torch.get_num_threads(), 'device': device,
            'gpu': torch.cuda.get_device_name() if device == 'cuda' else None}


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, where the system reports them."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def run_benchmark(small: bool = False, device: str = 'cpu', workers: int = 0,
                  threads: int | None = None, workdir: str | None = None,
                  parts: Sequence[str] = DEFAULT_PARTS) -> dict:
    """Measures the chosen ``parts`` (:data:`PARTS`); returns the report.

    ``threads`` sets torch's intra-op CPU threads for the run (restored after).
    """
    if device == 'cuda' and not torch.cuda.is_available():
        raise RuntimeError('--device cuda was asked for, but torch sees no CUDA device')
    if threads is not None and threads < 1:
        raise ValueError(f'threads must be >= 1, got {threads}')
    unknown = sorted(set(parts) - set(PARTS))
    if unknown or not parts:
        raise ValueError(f'parts must be a non-empty selection of {list(PARTS)}, got {list(parts)}')
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _run(settings_for(small, device), small, device, workers, workdir, parts)
    finally:
        torch.set_num_threads(previous)


def _run(settings: Settings, small: bool, device: str, workers: int, workdir: str | None,
         parts: Sequence[str]) -> dict:
    start = time.perf_counter()
    report = {'mode': 'small' if small else 'full', 'device': device,
              'backbone': settings.backbone, 'input': [settings.height, settings.width],
              'frames_per_batch': settings.frames, 'parts': list(parts),
              'settings': {k: v for k, v in dataclasses.asdict(settings).items() if k != 'data'},
              'targets': TARGETS[device], 'load': {}}
    with tempfile.TemporaryDirectory(dir=workdir) as root:
        datamanager = None
        if any(part in parts for part in DATA_PARTS):
            with contextlib.redirect_stdout(io.StringIO()):
                make_synthetic_dataset('mars', root, settings.data)
            datamanager = build_datamanager(root, settings, device, workers)
        measures = [
            ('train', 'train_throughput_ratio', train_throughput_ratio,
             (datamanager, settings, device)),
            ('loss', 'loss_overhead_fraction', loss_overhead_fraction, (settings, device)),
            ('eval', 'eval_speedup', eval_speedup, (datamanager, settings, device, workers)),
            ('scale', 'loss_scale', scale_curve, (settings, device)),
            ('formats', 'formats', format_step_times, (datamanager, settings, device)),
            ('cluster', 'cluster_scale', cluster_scale.scale_rows,
             (settings.cluster_tracklets, settings.cluster_dim, torch.get_num_threads())),
            ('search', 'search_scale', search_scale.scale_rows,
             (settings.search_tracklets, settings.search_dims, torch.get_num_threads())),
            ('associate', 'association_scale', association_scale.scale_rows,
             (settings.associate_tracklets, torch.get_num_threads())),
        ]
        for part, name, measure, args in measures:
            if part not in parts:
                continue
            load = load_average()
            print(f'=> {name} ... (load {load})', flush=True)
            part_start = time.perf_counter()
            result = measure(*args)
            report['load'][name] = {'start': load, 'end': load_average(),
                                    'seconds': time.perf_counter() - part_start}
            if name in RATIOS:
                report.setdefault('spread', {})[name] = result[name]
                report[name] = result.pop(name)[TARGET_STATISTIC]
                report.setdefault('timings', {}).update(result)
            else:
                report[name] = result
    report['machine'] = machine_info(device)
    report['seconds'] = time.perf_counter() - start
    return report


def target_met(summary: dict, op: str, target: float) -> bool:
    """Whether both the ``low`` ratio (robust to interference, which only adds time)
    and the median of per-pair ratios (robust to a drift of the machine's speed over
    the run) meet the target: a run where they disagree was disturbed, and is not
    evidence that it is met."""
    values = (summary['low'], summary['median'])
    return all(v >= target for v in values) if op == '>=' else all(v <= target for v in values)


def format_report(report: dict) -> str:
    """The ratios (median, quartiles, target), the scale curve, the autocast step
    times and the machine, as printed by :func:`main`."""
    lines = []
    if 'spread' in report:
        lines.append(f'{"ratio":<24} {"low":>8} {"target":>7} met {"median":>8} {"q1":>8} '
                     f'{"q3":>8} {"IQR":>7} {"pairs":>5}')
        for key in RATIOS:
            if key not in report['spread']:
                continue
            op, target = report['targets'][key]
            s = report['spread'][key]
            met = target_met(s, op, target)
            lines.append(f'{key:<24} {s["low"]:>8.4f} {op + str(target):>7} '
                         f'{"yes" if met else "no ":>3} {s["median"]:>8.4f} {s["q1"]:>8.4f} '
                         f'{s["q3"]:>8.4f} {s["iqr"]:>7.4f} {len(s["pairs"]):>5}')
        lines.append('(low: ratio of the two sides\' lower quartiles; median, q1, q3: of the '
                     'per-pair ratios; a target is met when both low and median meet it)')
        t = report['timings']
        if 'dal_step_s' in t:
            lines.append(f'train: DAL {t["dal_frames_per_s"]:.2f} frames/s, softmax '
                         f'{t["softmax_frames_per_s"]:.2f} frames/s (median steps '
                         f'{statistics.median(t["dal_step_s"]):.3f} s, '
                         f'{statistics.median(t["softmax_step_s"]):.3f} s)')
        if 'loss_step_s' in t:
            lines.append(f'loss: step {statistics.median(t["loss_step_s"]) * 1e3:.2f} ms, backbone '
                         f'step {statistics.median(t["backbone_step_s"]):.3f} s (medians)')
        if 'eval_fast_s' in t:
            lines.append(f'eval: torchreid {sum(t["eval_torchreid_s"]):.2f} s, fast '
                         f'{sum(t["eval_fast_s"]):.2f} s over {len(t["eval_fast_s"])} pairs '
                         f'({t["eval_frames"]} frames per pass; total ratio '
                         f'{t["eval_total_speedup"]:.3f}; fast path: {t["eval_frames_per_call"]} '
                         f'frames per model call); features agree within '
                         f'{t["eval_feature_difference"]:.1e} of their largest value')
    if 'loss_scale' in report:
        s = report['loss_scale']
        peak = any(r['peak_mib'] is not None for r in s['rows'])
        lines.append(f'DAL loss step (forward + anchor update + backward), {s["cameras"]} '
                     f'cameras, D = {s["dim"]}, {s["frames"]} frames:')
        lines.append(f'{"tracklets":>10} {"step ms":>9} {"anchors MiB":>12}'
                     + (f' {"peak MiB":>9}' if peak else ''))
        for r in s['rows']:
            lines.append(f'{r["tracklets"]:>10} {r["step_s"] * 1e3:>9.2f} {r["anchor_mib"]:>12.1f}'
                         + (f' {r["peak_mib"]:>9.1f}' if peak else ''))
        e = s['extrapolated']
        lines.append(f'fit: {s["fit_ms"]:.2f} ms + {s["fit_ms_per_1k"]:.3f} ms per 1k tracklets '
                     f'(largest deviation {s["fit_worst_deviation"]:.0%}); between the two '
                     f'largest sizes time grows as tracklets^{s["exponent"]:.2f} (1.00 is linear)')
        lines.append(f'{e["tracklets"]:,} tracklets: {e["anchor_mib"]:,.0f} MiB of anchors, '
                     f'about {e["step_s"] * 1e3:,.0f} ms per step')
    if 'formats' in report:
        a = report['formats']
        lines.append(f'training step, {report["frames_per_batch"]} frames ({report["backbone"]} '
                     f'{report["input"][0]}x{report["input"][1]}), speed-up over torchreid\'s '
                     'stock VideoSoftmaxEngine:')
        lines.append(f'{"engine":<11} {"amp":>5} {"format":>14} {"step s":>8} {"frames/s":>9} '
                     f'{"low":>6} {"median":>7} {"IQR":>7}')
        for m in a['rows']:
            memory = 'channels-last' if m['channels_last'] else 'contiguous'
            lines.append(f'{m["engine"]:<11} {m["amp"]:>5} {memory:>14} {m["step_s"]:>8.3f} '
                         f'{m["frames_per_s"]:>9.2f} {m["speedup"]["low"]:>6.3f} '
                         f'{m["speedup"]["median"]:>7.3f} {m["speedup"]["iqr"]:>7.3f}')
        for name, reason in a['skipped'].items():
            lines.append(f'{name:>5} skipped: {reason}')
    if 'cluster_scale' in report:
        lines.append(cluster_scale.format_rows(report['cluster_scale']))
    if 'search_scale' in report:
        lines.append(search_scale.format_rows(report['search_scale']))
    if 'association_scale' in report:
        lines.append(association_scale.format_rows(report['association_scale']['rows'],
                                                   report['association_scale']['threads']))
    m = report['machine']
    lines.append(f'mode {report["mode"]}: {report["backbone"]} at {report["input"][0]}x'
                 f'{report["input"][1]}, {report["frames_per_batch"]} frames/batch, '
                 f'{report["seconds"]:.0f} s')
    lines.append(f'machine: {m["cpu"]} ({m["cpu_count"]} cpus){", " + m["gpu"] if m["gpu"] else ""}'
                 f', torch {m["torch"]}, {m["threads"]} threads, device {m["device"]}')
    lines.append('load (1/5/15 min) at each part\'s start: ' + '; '.join(
        f'{name} {v["start"]}' for name, v in report['load'].items()))
    return '\n'.join(lines)


def compare_reports(first: dict, second: dict) -> list[dict]:
    """Whether two runs agree: per ratio measured by both, their medians and
    quartiles, and ``agree`` when the two interquartile ranges overlap; with each
    run's ``low`` ratio (None in a report from before it was measured)."""
    rows = []
    for key in RATIOS:
        if key not in first.get('spread', {}) or key not in second.get('spread', {}):
            continue
        a, b = first['spread'][key], second['spread'][key]
        rows.append({'ratio': key, 'first': a['median'], 'second': b['median'],
                     'first_iqr': [a['q1'], a['q3']], 'second_iqr': [b['q1'], b['q3']],
                     'first_low': a.get('low'), 'second_low': b.get('low'),
                     'agree': a['q1'] <= b['q3'] and b['q1'] <= a['q3']})
    return rows


def _read_report(path: str) -> dict:
    """The report at ``path``; ``ValueError`` naming the file unless it is a JSON object
    whose ``spread`` (if any) gives each ratio numeric ``median``, ``q1``, ``q3`` (and
    ``low``, or null), as :func:`compare_reports` reads them."""
    try:
        with open(path) as f:
            report = json.load(f)
    except (OSError, ValueError) as err:
        raise ValueError(f'--compare: cannot read benchmark report "{path}": {err}') from err
    where = f'--compare: "{path}" is not a dal-benchmark --json report'
    if not isinstance(report, dict):
        raise ValueError(f'{where}: it holds a JSON {type(report).__name__}, not an object')
    spread = report.get('spread', {})
    if not isinstance(spread, dict):
        raise ValueError(f'{where}: "spread" holds a {type(spread).__name__}, not an object')
    number = (int, float)
    for key in RATIOS:
        entry = spread.get(key)
        if entry is None:
            continue
        if not (isinstance(entry, dict) and all(isinstance(entry.get(q), number)
                                                for q in ('median', 'q1', 'q3'))
                and isinstance(entry.get('low'), number + (type(None),))):
            raise ValueError(f'{where}: "spread"."{key}" must hold numbers median, q1, q3 '
                             f'(and low), got {json.dumps(entry)[:80]}')
    return report


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--small', action='store_true',
                        help='tiny backbone, input and data set (under a minute on a CPU)')
    parser.add_argument('--json', default=None, help='also write the report to this file')
    parser.add_argument('--device', default='cpu', choices=('cpu', 'cuda'))
    parser.add_argument('--workers', type=int, default=0, help='data loader workers at evaluation')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (default: torch\'s own choice)')
    parser.add_argument('--parts', default=','.join(DEFAULT_PARTS),
                        help=f'comma-separated parts to run, of {",".join(PARTS)} (default: all '
                             'but cluster and search)')
    parser.add_argument('--compare', nargs=2, metavar=('FIRST', 'SECOND'), default=None,
                        help='measure nothing: say whether two reports\' ratios agree')
    args = parser.parse_args(argv)
    args.parts = [p.strip() for p in args.parts.split(',') if p.strip()]
    unknown = [p for p in args.parts if p not in PARTS]
    if unknown or not args.parts:
        chosen = ','.join(args.parts) or 'none'
        parser.error(f'--parts: choose from {",".join(PARTS)}, got {chosen}')
    if args.workers < 0 or (args.threads is not None and args.threads < 1):
        parser.error('--workers must be >= 0 and --threads >= 1')
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: torch sees no CUDA device')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.compare:
        try:
            rows = compare_reports(*(_read_report(p) for p in args.compare))
        except ValueError as err:
            print(f'error: {err}', file=sys.stderr)
            return 2
        if not rows:
            print('error: --compare: the two reports share no measured ratio', file=sys.stderr)
            return 2
        print(f'{"ratio":<24} {"first (q1-q3), low":>36} {"second (q1-q3), low":>36}  agree')
        for r in rows:
            cells = [f'{r[k]:.4f} ({r[k + "_iqr"][0]:.4f}-{r[k + "_iqr"][1]:.4f}), '
                     + ('-' if r[k + '_low'] is None else f'{r[k + "_low"]:.4f}')
                     for k in ('first', 'second')]
            print(f'{r["ratio"]:<24} {cells[0]:>36} {cells[1]:>36}  '
                  f'{"yes" if r["agree"] else "no"}')
        return 0
    report = run_benchmark(small=args.small, device=args.device, workers=args.workers,
                           threads=args.threads, parts=args.parts)
    for key in RATIOS:
        if key in report and not (math.isfinite(report[key]) and report[key] > 0):
            raise RuntimeError(f'benchmark measured {key} = {report[key]}')
    print(format_report(report))
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=2)
        print(f'report written to "{args.json}"')
    return 0


if __name__ == '__main__':
    sys.exit(main())
