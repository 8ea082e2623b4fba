"""Experiment results: ``results.json``, a results table and CMC curve plots.

A results record is a plain dict, written as ``<save_dir>/results.json`` (numbers to six
significant digits, :func:`rounded`)::

    {
      "engine": "dal", "backbone": "resnet50", "epochs": 64, "seed": 1,
      "test_only": false, "wall_time_s": 812.4, "frames_seen": 1280000,
      "init_weights": "imagenet", "config_sha1": "3f2a...",
      "targets": {
        "prid2011": {"rank1": 0.85, "rank5": 0.95, "rank10": 0.97,
                     "rank20": 0.99, "mAP": 0.88, "cmc": [0.85, ...],
                     "num_query": 89, "num_gallery": 89, "num_gallery_people": 89}
      }
    }

``init_weights`` is ``"random"``, ``"imagenet"``, the ``model.load_weights`` file or
the resumed checkpoint; ``config_sha1`` identifies the config as requested (a finished
run of the same config has the same).

Ranks and mAP are fractions in [0, 1]; past a small gallery's end the CMC
curve is flat, so ``rank20`` of a 10-tracklet gallery is its last value.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import tempfile
from typing import Mapping, Sequence

from dal_torchreid.engine.checkpoint import MODEL_DIR
from dal_torchreid.engine.evaluation import cmc_at
from dal_torchreid.files.errors import default_file_mode, write_error

RESULTS_FILENAME = 'results.json'
CONFIG_FILENAME = 'config.yaml'  # the run's config, written when it starts
# What a run leaves in its save_dir besides its logs, results first: what a new run moves
# aside (dal_torchreid.files.save_dir.set_aside_run).
EARLIER_RUN = (RESULTS_FILENAME, MODEL_DIR, 'associations.png', 'clusters.png', CONFIG_FILENAME)
REPORTED_RANKS = (1, 5, 10, 20)


def target_metrics(cmc: Sequence[float], mAP: float, **extra) -> dict:
    """``rank1``, ``rank5``, ``rank10``, ``rank20``, ``mAP`` and the full ``cmc`` of one target.

    ``extra`` (as the engines record it) is kept: ``evaluation`` (how the target
    was ranked), ``mAP_step`` (the release protocol's non-interpolated mAP) and
    ``directions`` (each direction's metrics, themselves as this function gives).
    """
    metrics = {f'rank{r}': cmc_at(cmc, r) for r in REPORTED_RANKS}
    metrics['mAP'] = float(mAP)
    metrics['cmc'] = [float(v) for v in cmc]
    for key, value in extra.items():
        metrics[key] = ({d: target_metrics(**m) for d, m in value.items()}
                        if key == 'directions' else value)
    return metrics


def make_record(test_results: Mapping[str, Mapping], **fields) -> dict:
    """A results record from an engine's ``test_results`` and run ``fields``.

    Args:
        test_results (dict): ``{target: {'cmc': [...], 'mAP': float}}``, as the
            engines of :mod:`dal_torchreid.engine` record them.
        **fields: ``engine``, ``backbone``, ``epochs``, ``seed``, ``wall_time_s``,
            ``frames_seen`` and anything else to keep with the numbers.

    Examples::

        record = make_record(engine.test_results, engine='dal', backbone='resnet50',
                             epochs=20, seed=1, wall_time_s=300.0, frames_seen=64000)
        write_results(record, 'log/dal')
    """
    record = dict(fields)
    record['targets'] = {name: target_metrics(**res) for name, res in test_results.items()}
    return record


SIGNIFICANT_DIGITS = 6  # of results.json's numbers: float32 metrics carry noise past that


def rounded(value, digits: int = SIGNIFICANT_DIGITS):
    """``value`` with every float (in dicts and lists too) to ``digits`` significant digits,
    except under ``config`` (the run's settings, kept as given)."""
    if isinstance(value, float):
        return float(f'{value:.{digits}g}')
    if isinstance(value, dict):
        return {k: v if k == 'config' else rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v, digits) for v in value]
    return value


def write_results(record: Mapping, save_dir: str) -> str:
    """Writes ``record`` to ``<save_dir>/results.json`` atomically, through a temporary
    file of this write's own; returns the path. A failed write (a full disk) is a
    :class:`~dal_torchreid.files.errors.WriteError` naming the file."""
    return write_text(json.dumps(rounded(dict(record)), indent=2) + '\n', save_dir,
                      RESULTS_FILENAME)


def write_config(cfg, save_dir: str) -> str:
    """Writes the run's config (a yacs ``CfgNode``) to ``<save_dir>/config.yaml`` when the
    run starts, as fast-reid does: ``dal-train --config-file`` of it repeats the run."""
    return write_text(cfg.dump(), save_dir, CONFIG_FILENAME)


def write_text(text: str, save_dir: str, name: str) -> str:
    """Writes ``text`` to ``<save_dir>/<name>`` atomically; returns the path."""
    os.makedirs(save_dir, exist_ok=True)
    path = osp.join(save_dir, name)
    fd, tmp = tempfile.mkstemp(prefix='.' + name + '-', suffix='.tmp', dir=save_dir)
    try:
        os.fchmod(fd, default_file_mode())
        with os.fdopen(fd, 'w') as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as err:
        raise write_error(path, err) from err
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    return path


def read_results(path: str) -> dict:
    """Reads a ``results.json`` file (or ``<dir>/results.json``)."""
    if osp.isdir(path):
        path = osp.join(path, RESULTS_FILENAME)
    if not osp.isfile(path):
        raise FileNotFoundError(f'results file "{path}" does not exist')
    with open(path) as f:
        return json.load(f)


def format_table(records: Mapping[str, Mapping], target: str | None = None) -> str:
    """A text table of rank-1, rank-5 and mAP (percent) of labelled records.

    Args:
        records (dict): ``{label: record}``.
        target (str, optional): the target data set to show; default the first
            of each record.
    """
    lines = [f'{"method":<12} {"rank-1":>8} {"rank-5":>8} {"mAP":>8} {"frames seen":>12} '
             f'{"time s":>8}']
    for label, record in records.items():
        targets = record['targets']
        if not targets:
            lines.append(f'{label:<12} {"n/a":>8}')
            continue
        m = targets[target] if target is not None else next(iter(targets.values()))
        lines.append(f'{label:<12} {100 * m["rank1"]:>7.1f}% {100 * m["rank5"]:>7.1f}% '
                     f'{100 * m["mAP"]:>7.1f}% {int(record.get("frames_seen", 0)):>12d} '
                     f'{float(record.get("wall_time_s", 0.0)):>8.0f}')
    return '\n'.join(lines)


def plot_cmc_curves(curves: Mapping[str, Sequence[float]], path: str,
                    max_rank: int = 20, title: str | None = None) -> str:
    """Draws CMC curves ``{label: cmc}`` (ranks 1..max_rank) into the PNG file ``path``.

    Uses matplotlib's Agg backend, so it needs no display.
    """
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
    for label, cmc in curves.items():
        ranks = list(range(1, max_rank + 1))
        ax.plot(ranks, [100 * cmc_at(cmc, r) for r in ranks], marker='o', markersize=3,
                label=label)
    ax.set_xlabel('rank')
    ax.set_ylabel('matching rate (%)')
    ax.set_xlim(1, max_rank)
    ax.set_xticks(sorted({1, *range(5, max_rank + 1, 5)}))
    ax.set_ylim(0, 100)
    ax.grid(True, alpha=0.3)
    ax.legend(loc='lower right')
    if title:
        ax.set_title(title)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


ENGINE_NAMES = {'dal': 'DAL', 'cc': 'Cluster Contrast', 'softmax': 'softmax (identity labels)',
                'triplet': 'triplet (identity labels)'}


def epoch_figure(history: Sequence[Mapping], bars: str, bar_label: str, lines: Sequence[str],
                 title: str = '', warmup_epochs: int = 0):
    """A matplotlib figure of per-epoch bars of ``history[..][bars]`` beside lines of the
    percentages ``lines``: titled ``title``, whole-number epochs, the legend beside the
    axes (never over the data), and the first ``warmup_epochs`` shaded as warm-up, their
    values left out rather than drawn as zeros."""
    import matplotlib
    matplotlib.use('Agg')
    from matplotlib import pyplot as plt
    from matplotlib.ticker import MaxNLocator

    shown = [h for h in history if h['epoch'] > warmup_epochs]
    epochs = [h['epoch'] for h in shown]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=100)
    left.bar(epochs, [h[bars] for h in shown], color='tab:gray')
    left.set_ylabel(bar_label)
    for key in lines:
        right.plot(epochs, [100 * h[key] for h in shown], marker='o',
                   label=key.replace('_', ' '))
    right.set_ylabel('%')
    right.set_ylim(0, 100)
    right.grid(True, alpha=0.3)
    last = max([h['epoch'] for h in history], default=1)
    for ax in (left, right):
        ax.set_xlabel('epoch')
        ax.set_xlim(0.5, last + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if warmup_epochs:
            ax.axvspan(0.5, min(warmup_epochs, last) + 0.5, color='tab:orange', alpha=0.15,
                       label='warm-up')
    right.legend(loc='upper left', bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _save_figure(fig, path: str) -> str:
    from matplotlib import pyplot as plt
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_associations(history: Sequence[Mapping], path: str, title: str = '',
                      warmup_epochs: int = 0) -> str:
    """Plots per-epoch association count, precision and recall into the PNG ``path``.

    ``history`` is ``AssociationMonitor.history`` (one
    :func:`dal_torchreid.engine.diagnostics.association_metrics` dict per epoch); the first
    ``warmup_epochs`` (no association yet) are shaded, not drawn as zeros.
    """
    return _save_figure(epoch_figure(history, 'num_associations', 'cross-camera associations',
                                     ('precision', 'recall'), title, warmup_epochs), path)


def plot_clusters(history: Sequence[Mapping], path: str, title: str = '') -> str:
    """Plots per-epoch clusters, outlier fraction and pair precision / recall of the pseudo-labels
    into the PNG ``path``; ``history`` is ``ClusterMonitor.history``
    (:func:`dal_torchreid.engine.diagnostics.pair_metrics` dicts with their ``epoch``)."""
    return _save_figure(epoch_figure(history, 'num_clusters', 'clusters of 2+ tracklets',
                                     ('precision', 'recall', 'outlier_fraction'), title), path)


def summarize_splits(records: Sequence[Mapping]) -> dict:
    """Mean and standard deviation over splits of each target's metrics.

    Returns ``{target: {metric: {'mean': m, 'std': s, 'values': [...]}}}`` for
    ``rank1 .. rank20`` and ``mAP`` (population standard deviation).
    """
    import numpy as np

    if not records:
        raise ValueError('summarize_splits needs at least one record')
    summary = {}
    for name in records[0]['targets']:
        summary[name] = {}
        for metric in [f'rank{r}' for r in REPORTED_RANKS] + ['mAP']:
            values = [float(rec['targets'][name][metric]) for rec in records]
            summary[name][metric] = {'mean': float(np.mean(values)),
                                     'std': float(np.std(values)), 'values': values}
    return summary
