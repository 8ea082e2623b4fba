"""Speed of DAL relative to torchreid, as three ratios measured in one run.

Usage::

    dal-benchmark --json log/benchmark.json            # resnet50, 224x112
    dal-benchmark --small --device cpu                 # tiny backbone, < 1 min

- ``train_throughput_ratio``: frames/s of ``VideoDALEngine.forward_backward``
  over frames/s of torchreid's ``VideoSoftmaxEngine.forward_backward``: same
  backbone, optimizer, frames per batch and input size, random tensors in each
  engine's batch format. The DAL engine carries MARS-scale anchors
  (8,298 tracklets in 6 cameras) and associates (warm-up over).
- ``loss_overhead_fraction``: seconds of ``DeepAssociationLoss`` (forward with
  its anchor update, and backward to the features) at MARS scale, 2048-d, 64
  frames, over seconds of one backbone training step (forward, backward and
  optimizer step on the same frames at the benchmark's input size).
- ``eval_speedup``: wall time of torchreid's ``sample_method='all'``,
  ``batch_size_test=1`` evaluation over the all-frame fast path
  (``eval_frame_batch_size``), on a synthetic MARS-layout set.

``--small`` swaps resnet50 at 224x112 with 64-frame batches for resnet18 at
32x16 with 8 frames, a 1/16-scale 256-d loss and a smaller data set; its
figures only show that the benchmark runs and are not held against the targets.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Callable

import torch

import torchreid

import dal_torchreid  # noqa: F401  (registers the plugin)
from dal_torchreid.data.synthetic import SyntheticConfig, make_synthetic_dataset
from dal_torchreid.engine import VideoDALEngine
from dal_torchreid.losses import DeepAssociationLoss

MARS_TRACKLETS = (1816, 1957, 1321, 750, 1880, 574)
LOSS_DIM = 2048
TARGETS = {
    'train_throughput_ratio': ('>=', 0.95),
    'loss_overhead_fraction': ('<=', 0.02),
    'eval_speedup': ('>=', 3.0),
}


@dataclass(frozen=True)
class Settings:
    """What one benchmark mode measures."""

    backbone: str
    height: int
    width: int
    frames: int           # frames per training batch
    seq_len: int          # frames per tracklet in the softmax batch
    steps: int            # timed training steps per engine
    warmup: int           # untimed steps first
    eval_batch: int       # frames per model call on the fast path
    data: SyntheticConfig  # the MARS-layout set
    loss_tracklets: tuple = MARS_TRACKLETS  # anchors per camera of the DAL loss
    loss_dim: int = LOSS_DIM                # feature dimension of the loss benchmark


FULL = Settings('resnet50', 224, 112, frames=64, seq_len=8, steps=3, warmup=1, eval_batch=128,
                data=SyntheticConfig.for_layout('mars', ids=24, cameras=6, tracklets_per_camera=1,
                                                distractors=12, junk=0, min_frames=4,
                                                max_frames=16, height=128, width=64))
SMALL = Settings('resnet18', 32, 16, frames=8, seq_len=4, steps=2, warmup=1, eval_batch=64,
                 data=SyntheticConfig.for_layout('mars', ids=6, cameras=3, tracklets_per_camera=1,
                                                 distractors=2, junk=0, min_frames=2,
                                                 max_frames=5, height=32, width=16),
                 loss_tracklets=tuple(n // 16 for n in MARS_TRACKLETS), loss_dim=256)


def _sync(device: str) -> None:
    if device == 'cuda':
        torch.cuda.synchronize()


def seconds_per_call(fn: Callable[[], object], calls: int, warmup: int, device: str) -> float:
    """Mean wall seconds of ``fn()`` over ``calls`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    _sync(device)
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    _sync(device)
    return (time.perf_counter() - start) / calls


def build_datamanager(root: str, settings: Settings, device: str, workers: int):
    """A MARS-layout data manager with torchreid's all-frame test protocol."""
    with contextlib.redirect_stdout(io.StringIO()):
        return torchreid.data.VideoDataManager(
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
    data: a training step at MARS scale on a small synthetic set."""

    def __init__(self, *args, tracklets_per_camera=MARS_TRACKLETS, **kwargs):
        super().__init__(*args, **kwargs)
        self.criterion = DeepAssociationLoss(tracklets_per_camera, self.embedding.feature_dim)
        self.criterion.to('cuda' if self.use_gpu else 'cpu')


def train_throughput_ratio(datamanager, settings: Settings, device: str) -> dict:
    """DAL and softmax ``forward_backward`` frames/s on the same random batches."""
    use_gpu = device == 'cuda'
    n, s = settings.frames, settings.seq_len
    if n % s:
        raise ValueError('frames ({}) must be a multiple of seq_len ({})'.format(n, s))
    imgs = torch.randn(n, 3, settings.height, settings.width)

    model = _model(settings, 1, device)
    counts = settings.loss_tracklets
    dal = ScaledAnchorsDALEngine(datamanager, model, _optimizer(model), use_gpu=use_gpu,
                                 warmup_epochs=0, batch_size=2, tracklets_per_camera=counts)
    camids = torch.randint(len(counts), (n,))
    tracklets = (torch.rand(n) * torch.tensor(counts)[camids]).long()
    dal_batch = {'img': imgs, 'tracklet': tracklets, 'camid': camids}
    dal.model.train()
    t_dal = seconds_per_call(lambda: dal.forward_backward(dal_batch), settings.steps,
                             settings.warmup, device)
    dal = model = None  # free them before the softmax engine

    num_pids = datamanager.num_train_pids
    model = _model(settings, num_pids, device)
    softmax = torchreid.engine.VideoSoftmaxEngine(datamanager, model, _optimizer(model),
                                                  use_gpu=use_gpu)
    softmax_batch = {'img': imgs.view(n // s, s, *imgs.shape[1:]),
                     'pid': torch.randint(num_pids, (n // s,))}
    softmax.model.train()
    t_softmax = seconds_per_call(lambda: softmax.forward_backward(softmax_batch), settings.steps,
                                 settings.warmup, device)
    return {'train_throughput_ratio': t_softmax / t_dal,
            'dal_frames_per_s': n / t_dal, 'softmax_frames_per_s': n / t_softmax}


def loss_overhead_fraction(settings: Settings, device: str) -> dict:
    """DAL loss step (MARS scale unless ``--small``) over one backbone training step."""
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
        criterion(feats, tracklets, camids, associate=True).backward()

    t_loss = seconds_per_call(loss_step, settings.steps + 1, settings.warmup, device)

    model = _model(settings, 1, device).train()
    optimizer = _optimizer(model)
    imgs = torch.randn(settings.frames, 3, settings.height, settings.width, device=device)
    targets = torch.zeros(settings.frames, dtype=torch.long, device=device)

    def backbone_step():
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(imgs), targets).backward()
        optimizer.step()

    t_step = seconds_per_call(backbone_step, settings.steps, settings.warmup, device)
    return {'loss_overhead_fraction': t_loss / t_step,
            'loss_step_s': t_loss, 'backbone_step_s': t_step}


def eval_speedup(datamanager, settings: Settings, device: str) -> dict:
    """torchreid's one-tracklet-per-batch evaluation over the all-frame fast path."""
    times, results = {}, {}
    for name, batch in (('torchreid', 0), ('fast', settings.eval_batch)):
        model = _model(settings, 1, device)  # the same seeded weights for both
        engine = VideoDALEngine(datamanager, model, _optimizer(model), use_gpu=device == 'cuda',
                                batch_size=2, eval_frame_batch_size=batch)
        engine.model.eval()
        with torch.no_grad():  # first-call costs (allocator, kernels) out of both timings
            engine.model(torch.randn(settings.eval_batch, 3, settings.height, settings.width,
                                     device=device))
        with contextlib.redirect_stdout(io.StringIO()):
            _sync(device)
            start = time.perf_counter()
            engine.test()
            _sync(device)
        times[name] = time.perf_counter() - start
        results[name] = engine.test_results['mars']
    if abs(results['fast']['mAP'] - results['torchreid']['mAP']) > 1e-6:
        raise RuntimeError(f'fast evaluation mAP {results["fast"]["mAP"]} differs from '
                           f'torchreid\'s {results["torchreid"]["mAP"]}')
    frames = sum(len(item[0]) for name in ('query', 'gallery')
                 for item in datamanager.test_loader['mars'][name].dataset.data)
    return {'eval_speedup': times['torchreid'] / times['fast'], 'eval_torchreid_s': times['torchreid'],
            'eval_fast_s': times['fast'], 'eval_frames': frames}


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


def run_benchmark(small: bool = False, device: str = 'cpu', workers: int = 0,
                  threads: int | None = None, workdir: str | None = None) -> dict:
    """Measures the three ratios; returns them with their raw timings and the machine.

    ``threads`` sets torch's intra-op CPU threads for the run (restored after).
    """
    if device == 'cuda' and not torch.cuda.is_available():
        raise RuntimeError('--device cuda was asked for, but torch sees no CUDA device')
    if threads is not None and threads < 1:
        raise ValueError('threads must be >= 1, got {}'.format(threads))
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _run(SMALL if small else FULL, small, device, workers, workdir)
    finally:
        torch.set_num_threads(previous)


def _run(settings: Settings, small: bool, device: str, workers: int, workdir: str | None) -> dict:
    with tempfile.TemporaryDirectory(dir=workdir) as root:
        with contextlib.redirect_stdout(io.StringIO()):
            make_synthetic_dataset('mars', root, settings.data)
        datamanager = build_datamanager(root, settings, device, workers)
        report = {'mode': 'small' if small else 'full', 'backbone': settings.backbone,
                  'input': [settings.height, settings.width], 'frames_per_batch': settings.frames}
        for measure, args in ((train_throughput_ratio, (datamanager, settings, device)),
                              (loss_overhead_fraction, (settings, device)),
                              (eval_speedup, (datamanager, settings, device))):
            print('=> {} ...'.format(measure.__name__), flush=True)
            report.update(measure(*args))
    report['machine'] = machine_info(device)
    return report


def format_table(report: dict) -> str:
    """The three ratios against their targets, and the machine."""
    lines = ['{:<24} {:>10} {:>8}  {}'.format('metric', 'value', 'target', 'met')]
    for key, (op, target) in TARGETS.items():
        value = report[key]
        met = value >= target if op == '>=' else value <= target
        lines.append('{:<24} {:>10.4f} {:>8}  {}'.format(key, value, op + str(target),
                                                         'yes' if met else 'no'))
    m = report['machine']
    lines.append('mode {}: {} at {}x{}, {} frames/batch'.format(
        report['mode'], report['backbone'], *report['input'], report['frames_per_batch']))
    lines.append('machine: {} ({} cpus){}, torch {}, {} threads, device {}'.format(
        m['cpu'], m['cpu_count'], ', ' + m['gpu'] if m['gpu'] else '', m['torch'],
        m['threads'], m['device']))
    return '\n'.join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--small', action='store_true',
                        help='tiny backbone, input and data set (under a minute on a CPU)')
    parser.add_argument('--json', default=None, help='also write the results to this file')
    parser.add_argument('--device', default='cpu', choices=('cpu', 'cuda'))
    parser.add_argument('--workers', type=int, default=0, help='data loader workers at evaluation')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (default: torch\'s own choice)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    report = run_benchmark(small=args.small, device=args.device, workers=args.workers,
                           threads=args.threads)
    for key in TARGETS:
        if not (math.isfinite(report[key]) and report[key] > 0):
            raise RuntimeError('benchmark measured {} = {}'.format(key, report[key]))
    print(format_table(report))
    if args.json:
        dirname = os.path.dirname(os.path.abspath(args.json))
        os.makedirs(dirname, exist_ok=True)
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=2)
        print('results written to "{}"'.format(args.json))
    return 0


if __name__ == '__main__':
    sys.exit(main())
