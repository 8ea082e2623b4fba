"""Where a training step's time goes: per-phase wall times of two engines' steps.

Times ``forward_backward`` of the DAL engine (MARS-scale anchors, as
``dal-benchmark``) and of torchreid's stock ``VideoSoftmaxEngine`` on the same
random frames, the two taking turns, and splits each step into phases with
hooks on the engine's own objects, so the code timed is the engine's, unchanged:

- ``forward``: the model's forward pass (forward pre-hook to forward hook);
- ``gather``: from the model's output to the loss's input (DAL: gathering over
  ranks, a no-op in one process; softmax: nothing);
- ``loss``: the criterion's forward (DAL: with its anchor update);
- ``to_backward``: from the loss to the first parameter gradient (the finite
  check, ``zero_grad`` and the backward of the last layers);
- ``backward``: first to last parameter gradient accumulated;
- ``clip``: last gradient to the optimizer step (DAL's clipping by value);
- ``optimizer``: the optimizer's ``step`` (pre- to post-hook);
- ``after``: the rest (EMA, ``.item()`` of the printed values).

Beside each phase's seconds it records the process's minor page faults (memory
the kernel had to hand over, zeroed, because the allocator had returned it),
which shows whether large temporary tensors are re-faulted in every step.

Usage::

    python -m dal_torchreid.benchmarks.step_phases --threads 2 --steps 20
    python -m dal_torchreid.benchmarks.step_phases --small --threads 1 --steps 5
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import resource
import statistics
import sys
import tempfile
import time
from typing import Callable

import torch

from dal_torchreid.benchmarks import speed

PHASES = ('forward', 'gather', 'loss', 'to_backward', 'backward', 'clip', 'optimizer', 'after')


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


class PhaseTimer:
    """Marks the phases of one engine's training step with hooks on its model,
    criterion, trained parameters and optimizer.

    Args:
        model (nn.Module): the trained model.
        criterion (nn.Module): the loss module the step calls.
        optimizer (Optimizer): the optimizer the step steps.

    Examples::

        timer = PhaseTimer(engine.model, engine.criterion, engine.optimizer)
        phases = timer.time(lambda: engine.forward_backward(batch))
    """

    def __init__(self, model: torch.nn.Module, criterion: torch.nn.Module,
                 optimizer: torch.optim.Optimizer) -> None:
        self.marks: dict[str, tuple[float, int]] = {}
        params = [p for p in model.parameters() if p.requires_grad]
        self.handles = [
            model.register_forward_pre_hook(lambda *_: self._mark('forward_start', once=True)),
            model.register_forward_hook(lambda *_: self._mark('forward_end')),
            criterion.register_forward_pre_hook(lambda *_: self._mark('loss_start', once=True)),
            criterion.register_forward_hook(lambda *_: self._mark('loss_end')),
            optimizer.register_step_pre_hook(lambda *_: self._mark('step_start')),
            optimizer.register_step_post_hook(lambda *_: self._mark('step_end')),
        ] + [p.register_post_accumulate_grad_hook(self._grad) for p in params]

    def _mark(self, name: str, once: bool = False) -> None:
        if not (once and name in self.marks):
            self.marks[name] = (time.perf_counter(), _faults())

    def _grad(self, _param) -> None:
        self._mark('grad_first', once=True)
        self._mark('grad_last')

    def time(self, step: Callable[[], object]) -> dict:
        """Runs ``step()``; returns ``{'total': s, 'faults': n, phase: s, phase + '_faults': n}``."""
        self.marks.clear()
        self._mark('start')
        step()
        self._mark('end')
        order = ['start', 'forward_start', 'forward_end', 'loss_start', 'loss_end', 'grad_first',
                 'grad_last', 'step_start', 'step_end', 'end']
        missing = [m for m in order if m not in self.marks]
        if missing:
            raise RuntimeError(f'the step passed no {missing[0]} mark: not the engine\'s step')
        # 'start' to 'forward_start' (moving the batch) counts as forward
        bounds = ['start'] + order[2:]
        result = {'total': self.marks['end'][0] - self.marks['start'][0],
                  'faults': self.marks['end'][1] - self.marks['start'][1]}
        for phase, (a, b) in zip(PHASES, zip(bounds[:-1], bounds[1:])):
            result[phase] = self.marks[b][0] - self.marks[a][0]
            result[phase + '_faults'] = self.marks[b][1] - self.marks[a][1]
        return result

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def distribution(seconds: list[float]) -> dict:
    """Median, 90th percentile (inclusive interpolation), minimum and maximum."""
    ordered = sorted(seconds)
    p90 = statistics.quantiles(ordered, n=10, method='inclusive')[-1] if len(ordered) > 1 \
        else ordered[0]
    return {'median': statistics.median(ordered), 'p90': p90, 'min': ordered[0],
            'max': ordered[-1], 'steps': len(ordered)}


def measure(settings: speed.Settings, steps: int, warmup: int) -> dict:
    """Per-phase times of the DAL and softmax steps, ``steps`` each after ``warmup``."""
    with tempfile.TemporaryDirectory() as root:
        with contextlib.redirect_stdout(io.StringIO()):
            speed.make_synthetic_dataset('mars', root, settings.data)
        datamanager = speed.build_datamanager(root, settings, 'cpu', 0)
        engines = speed.training_engines(datamanager, settings, 'cpu')
    timers = {name: PhaseTimer(e.model, e.criterion, e.optimizer)
              for name, (e, _) in engines.items()}
    records = {name: [] for name in engines}
    names = list(engines)
    sides = [lambda n=n: timers[n].time(lambda: engines[n][0].forward_backward(engines[n][1]))
             for n in names]
    for r in range(warmup + steps):
        for i in [(r + j) % len(sides) for j in range(len(sides))]:
            record = sides[i]()
            if r >= warmup:
                records[names[i]].append(record)
    for timer in timers.values():
        timer.remove()
    return records


def summary(records: dict) -> dict:
    """Each engine's step-time distribution and each phase's median and maximum."""
    out = {}
    for name, rows in records.items():
        out[name] = {'total': distribution([r['total'] for r in rows]),
                     'faults_median': statistics.median(r['faults'] for r in rows),
                     'phases': {p: {'median': statistics.median(r[p] for r in rows),
                                    'max': max(r[p] for r in rows),
                                    'faults_median': statistics.median(r[p + '_faults']
                                                                       for r in rows)}
                                for p in PHASES}}
    return out


def format_summary(result: dict) -> str:
    lines = []
    for name, s in result.items():
        t = s['total']
        lines.append(f'{name}: step median {t["median"]:.3f} s, p90 {t["p90"]:.3f} s, min '
                     f'{t["min"]:.3f} s, max {t["max"]:.3f} s over {t["steps"]} steps; '
                     f'{s["faults_median"]:.0f} minor page faults per step (median)')
        lines.append(f'  {"phase":<12} {"median s":>9} {"max s":>8} {"faults":>8}')
        for p, v in s['phases'].items():
            lines.append(f'  {p:<12} {v["median"]:>9.4f} {v["max"]:>8.4f} '
                         f'{v["faults_median"]:>8.0f}')
    return '\n'.join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--small', action='store_true', help='dal-benchmark\'s --small settings')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--steps', type=int, default=20, help='timed steps of each engine')
    parser.add_argument('--warmup', type=int, default=3, help='untimed steps of each engine')
    parser.add_argument('--json', default=None, help='also write every step\'s phases here')
    args = parser.parse_args(argv)
    if args.threads < 1 or args.steps < 2 or args.warmup < 0:
        parser.error('--threads must be >= 1, --steps >= 2 and --warmup >= 0')
    torch.set_num_threads(args.threads)
    settings = speed.settings_for(args.small, 'cpu')
    load = speed.load_average()
    records = measure(settings, args.steps, args.warmup)
    result = summary(records)
    print(f'{settings.backbone} {settings.height}x{settings.width}, {settings.frames} frames, '
          f'{args.threads} threads, torch {torch.__version__}; load {load} -> '
          f'{speed.load_average()}')
    print(format_summary(result))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'summary': result, 'steps': records}, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
