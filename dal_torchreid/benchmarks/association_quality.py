"""The cross-camera association's quality: DBSCAN against the constrained agglomerative
association of :mod:`dal_torchreid.footage.linking` (threshold found without labels,
camera links learned from the footage), on synthetic footage with ground truth.

The figures of docs/experiments.md, per setting and seed (data set ``<setting>_s<seed>``):
``route``, 40 people walking 1-4 adjacent cameras of a route of 4 (900 frames) in 8
outfits, where appearance confuses people dressed alike and transit times tell them
apart; ``random``, the footage demo's (:data:`~dal_torchreid.demo.footage.DEMO_FOOTAGE`),
3 cameras visited in any order, where camera links have little to learn.
Each step is skipped when its output exists: footage and tracklets (``dal-make-tracklets
--min-conf 0.5``) under ``ROOT``; DAL trained without labels (``configs/own_footage.yaml``,
7-14 minutes on 2 cores) into ``SAVE/NAME``; features of DAL and of the untrained
(ImageNet) backbone in ``SAVE/NAME/features.npz``. On the same features: DBSCAN,
agglomerative with camera links ``auto`` and ``off``, and for comparison only the best
fixed threshold chosen WITH the ground truth over a grid; ``route`` also with the untrained
features. Scores: cross-camera pairwise F1 / P / R and the multi-camera IDF1 of the
tracker's boxes relabelled with the global ids (:mod:`dal_torchreid.footage.scores`).
Prints a JSON line per data set, the tables and whether the issue's targets are met.
``--association FIELD=VALUE ...`` sets fields of the agglomerative runs'
:class:`~dal_torchreid.footage.linking.AssociationSettings` (e.g. ``k_within=0``).

Example::

    python -m dal_torchreid.benchmarks.association_quality --root reid-data \\
        --save-dir log/association-quality --seeds 1,2,3 --settings route,random --threads 1
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import os.path as osp
import subprocess
import sys
import time

import numpy as np
import torch
import torchreid

from dal_torchreid.data.synthetic.footage import FootageConfig, make_synthetic_footage
from dal_torchreid.demo.footage import DEFAULT_CONFIG, DEMO_FOOTAGE, DEMO_TRACKLETS
from dal_torchreid.experiment.builder import build_model
from dal_torchreid.experiment.config import load_config
from dal_torchreid.footage import make_tracklets, read_footage_tracklets, read_mot_file
from dal_torchreid.footage.association import tracklet_features
from dal_torchreid.footage.evaluation import test_transform
from dal_torchreid.footage.linking import (
    AssociationSettings, footage_times, link_scored, link_tracklets, score_pairs
)
from dal_torchreid.footage.manifest import dataset_sources, frame_widths
from dal_torchreid.footage.scores import (
    concatenate_cameras, idf1, pairwise_scores, read_ground_truth, tracklet_persons
)

ROUTE = FootageConfig(people=40, cameras=4, frames=900, layout='route', outfits=8, visits=(1, 4))
SETTINGS = ('route', 'random')
GRID = tuple(np.round(np.arange(-2, 6.001, 0.1), 2).tolist())
"""Fixed thresholds the best (chosen with the ground truth) is picked from."""
AUTO, OFF = 'agglomerative, links auto', 'agglomerative, links off'
DBSCAN = 'dbscan'


def footage_config(setting: str, seed: int) -> FootageConfig:
    return dataclasses.replace({'route': ROUTE, 'random': DEMO_FOOTAGE}[setting], seed=seed)


def final_checkpoint(save_dir: str, name: str, epochs: int) -> str | None:
    path = osp.join(save_dir, name, 'model', f'model.pth.tar-{epochs}')
    return path if osp.isfile(path) else None


def prepare(root: str, save_dir: str, setting: str, seed: int, epochs: int) -> tuple[str, list]:
    """The data set and DAL's final checkpoint of ``setting`` and ``seed``, made when
    absent; returns the checkpoint and what was reused."""
    name, reused = f'{setting}_s{seed}', []
    if osp.isdir(osp.join(root, name)):
        reused.append('data')
    else:
        base = osp.join(root, name + '-footage')
        make_synthetic_footage(osp.join(base, 'footage'), osp.join(base, 'tracks'),
                               footage_config(setting, seed))
        make_tracklets(osp.join(base, 'footage'), osp.join(base, 'tracks'), root, name,
                       DEMO_TRACKLETS, stream=sys.stderr)
    checkpoint = final_checkpoint(save_dir, name, epochs)
    if checkpoint:
        reused.append('checkpoint')
    else:
        tool = osp.join(osp.dirname(sys.executable), 'dal-train')
        subprocess.run([tool if osp.isfile(tool) else 'dal-train', '--config-file',
                        DEFAULT_CONFIG, '--root', root, '-s', name, '--engine', 'dal',
                        'data.save_dir', osp.join(save_dir, name), 'train.seed', str(seed)],
                       check=True, stdout=sys.stderr, cwd=osp.dirname(osp.dirname(DEFAULT_CONFIG)))
        checkpoint = final_checkpoint(save_dir, name, epochs)
        if checkpoint is None:
            raise RuntimeError(f'dal-train left no model.pth.tar-{epochs} in {save_dir}/{name}')
    return checkpoint, reused


def features_of(root: str, name: str, tracklets, weights: str) -> np.ndarray:
    """Tracklet features of the backbone with ``model.load_weights weights`` ('': the
    untrained one, with the config's ImageNet weights)."""
    cfg = load_config(DEFAULT_CONFIG, ['data.root', root, 'data.sources', [name],
                                       'data.targets', [], 'model.load_weights', weights])
    with contextlib.redirect_stdout(sys.stderr):  # torchreid's messages: stdout holds results
        torchreid.utils.set_random_seed(1)
        model = build_model(cfg, num_classes=1)
        return tracklet_features(model, tracklets, test_transform(cfg), cfg.video.pooling_method,
                                 256).numpy()


def cached_features(path: str, root: str, name: str, tracklets, checkpoint: str,
                    reused: list) -> dict:
    if osp.isfile(path):
        with np.load(path) as d:
            if str(d['checkpoint']) == checkpoint and len(d['dal']) == len(tracklets):
                reused.append('features')
                return {'dal': d['dal'], 'untrained': d['untrained']}
    out = {'dal': features_of(root, name, tracklets, checkpoint),
           'untrained': features_of(root, name, tracklets, '')}
    np.savez(path, checkpoint=checkpoint, **out)
    return out


def ground_truth(root: str, name: str, tracklets) -> tuple[list, callable]:
    """The true person of each tracklet and the multi-camera IDF1 of global ids (the
    tracker's boxes relabelled with them, as dal-associate writes them)."""
    src = dataset_sources(root, name)
    cameras = sorted({t.camera for t in tracklets})
    gt = {c: read_ground_truth(src['footage'], c) for c in cameras}
    tracker = {c: read_mot_file(osp.join(src['tracks'], c + '.txt'))[:, :6] for c in cameras}

    def id_f1(ids) -> float:
        glob = {(t.camera, t.track): int(i) + 1 for t, i in zip(tracklets, ids)}
        pred, lengths = {}, {}
        for c in cameras:
            rows = tracker[c][[(c, int(r[1])) in glob for r in tracker[c]]].copy()
            rows[:, 1] = [glob[(c, int(r[1]))] for r in rows]
            pred[c] = rows
            lengths[c] = int(max(gt[c][:, 0].max(initial=0), rows[:, 0].max(initial=0)))
        return idf1(concatenate_cameras(gt, lengths), concatenate_cameras(pred, lengths))['IDF1']
    return tracklet_persons(src['footage'], src['tracks'], tracklets, gt), id_f1


def evaluate(times, features, truth, id_f1=None, links=('auto', 'off'), grid=GRID,
             base: AssociationSettings = AssociationSettings()) -> list[dict]:
    """Rows of scores of one feature set: DBSCAN, then agglomerative (``base`` with each of
    ``links``, label-free threshold) and the best fixed threshold of ``grid`` (plus the
    label-free one) by the ground truth's pairwise F1."""
    def scores(ids) -> dict:
        s = pairwise_scores(ids, truth, times.cameras)
        out = {k: round(s[k], 4) for k in ('f1', 'precision', 'recall')}
        return dict(out, idf1=None if id_f1 is None else round(float(id_f1(ids)), 4))

    rows = [dict(method=DBSCAN, **scores(
        link_tracklets(times, features, AssociationSettings(method='dbscan')).ids))]
    for mode in links:
        settings = dataclasses.replace(base, camera_links=mode)
        scored = score_pairs(times, features, settings)
        result = link_scored(times, scored, settings)
        found = result.record['threshold']
        sweep = [(pairwise_scores(link_scored(times, scored, dataclasses.replace(
            settings, threshold=float(t))).ids, truth, times.cameras)['f1'], t)
            for t in sorted(set(grid) | ({found} if found is not None else set()))]
        best = max(sweep, key=lambda x: x[0])
        rows.append(dict(method=AUTO if mode == 'auto' else OFF, **scores(result.ids),
                         threshold=found, links_used=bool(result.record['camera_links']['used']),
                         best_fixed_f1=round(best[0], 4), best_fixed_threshold=best[1]))
    return rows


def figures(rows, setting, features, method, key='f1') -> list[float]:
    return [r[key] for r in rows
            if (r['setting'], r['features'], r['method']) == (setting, features, method)]


def target_lines(rows) -> list[str]:
    """The issue's targets, met or not on the means over seeds (each seed's figure listed)."""
    def show(*runs):
        return ' vs '.join(f'{np.mean(v):.3f} ({", ".join(f"{x:.3f}" for x in v)})' for v in runs)
    agglo, dbscan = figures(rows, 'route', 'dal', AUTO), figures(rows, 'route', 'dal', DBSCAN)
    untrained = figures(rows, 'route', 'untrained', AUTO)
    shuffled = figures(rows, 'random', 'dal', AUTO), figures(rows, 'random', 'dal', DBSCAN)
    checks = [('route: DAL agglomerative F1 >= 0.90', (agglo,), lambda a: a >= 0.90),
              ('route: DAL agglomerative F1 >= DAL DBSCAN F1 + 0.10', (agglo, dbscan),
               lambda a, b: a >= b + 0.10),
              ('route: DAL agglomerative F1 >= untrained agglomerative F1', (agglo, untrained),
               lambda a, b: a >= b),
              ('random: agglomerative (links auto) F1 >= 0.97 x DBSCAN F1', shuffled,
               lambda a, b: a >= 0.97 * b)]
    checks += [(f'{s}: label-free threshold F1 (DAL, links auto) within 0.05 of the best fixed '
                'threshold\'s', (figures(rows, s, 'dal', AUTO),
                                 figures(rows, s, 'dal', AUTO, 'best_fixed_f1')),
                lambda a, b: b - a <= 0.05) for s in SETTINGS]
    return [f'{"met" if holds(*map(np.mean, runs)) else "NOT met"}: {what}: {show(*runs)}'
            for what, runs, holds in checks if all(runs)]


def markdown(rows) -> str:
    """A row per data set, features and association; then the means over seeds."""
    def cell(v, fmt='{:.3f}'):
        return '-' if v is None else ('yes' if v else 'no') if isinstance(v, bool) \
            else fmt.format(v)

    keys = ('f1', 'precision', 'recall', 'idf1')
    lines = ['| data set | features | association | F1 | P | R | IDF1 | threshold | links used '
             '| best fixed F1 (threshold) |', '|' + '---|' * 10]
    for r in rows:
        best = f'{r["best_fixed_f1"]:.3f} ({r["best_fixed_threshold"]:.2f})' \
            if 'best_fixed_f1' in r else '-'
        lines.append(' | '.join(['', r['data_set'], r['features'], r['method']]
                                + [cell(r[k]) for k in keys]
                                + [cell(r.get('threshold'), '{:.2f}'), cell(r.get('links_used')),
                                   best, '']))
    lines += ['', '| setting | features | association | seeds | F1 | P | R | IDF1 '
              '| best fixed F1 |', '|' + '---|' * 9]
    for key in dict.fromkeys((r['setting'], r['features'], r['method']) for r in rows):
        group = [r for r in rows if (r['setting'], r['features'], r['method']) == key]
        means = [np.mean([r[k] for r in group]) if all(r.get(k) is not None for r in group)
                 else None for k in keys + ('best_fixed_f1',)]
        lines.append(' | '.join(['', *key, str(len(group))] + [cell(m) for m in means] + ['']))
    return '\n'.join(line.strip() for line in lines)


def run(root: str, save_dir: str, seeds, settings,
        base: AssociationSettings = AssociationSettings()) -> list[dict]:
    epochs = load_config(DEFAULT_CONFIG).train.max_epoch
    rows = []
    for setting in settings:
        for seed in seeds:
            start, name = time.time(), f'{setting}_s{seed}'
            checkpoint, reused = prepare(root, save_dir, setting, seed, epochs)
            tracklets = read_footage_tracklets(osp.join(root, name))
            cameras = sorted({t.camera for t in tracklets})
            times = footage_times(tracklets, frame_widths(dataset_sources(root, name), cameras))
            features = cached_features(osp.join(save_dir, name, 'features.npz'), root, name,
                                       tracklets, checkpoint, reused)
            truth, id_f1 = ground_truth(root, name, tracklets)
            found = []
            for key in ('dal', 'untrained') if setting == 'route' else ('dal',):
                for row in evaluate(times, features[key], truth, id_f1,
                                    ('auto', 'off') if key == 'dal' else ('auto',),
                                    base=base):
                    found.append(dict(data_set=name, setting=setting, seed=seed, features=key,
                                      **row))
            print(json.dumps({'data_set': name, 'tracklets': len(tracklets),
                              'checkpoint': checkpoint, 'reused': reused,
                              'seconds': round(time.time() - start, 1), 'rows': found}), flush=True)
            rows += found
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--root', required=True, help='data root (footage and tracklets)')
    parser.add_argument('--save-dir', required=True, help='DAL runs and feature caches')
    parser.add_argument('--seeds', default='1,2,3')
    parser.add_argument('--settings', default=','.join(SETTINGS))
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--association', nargs='*', default=[], metavar='FIELD=VALUE',
                        help='AssociationSettings fields of the agglomerative runs, e.g. '
                             'k_within=0 rounds=0 (default: its defaults)')
    args = parser.parse_args(argv)
    try:
        base = AssociationSettings(**{k: type(getattr(AssociationSettings(), k))(v) for k, v in (
            a.split('=', 1) for a in args.association)})
    except (ValueError, TypeError, AttributeError) as err:
        parser.error(f'--association: {err}')
    settings = args.settings.split(',')
    if set(settings) - set(SETTINGS):
        parser.error(f'--settings: each one of {", ".join(SETTINGS)}')
    os.environ['OMP_NUM_THREADS'] = str(args.threads)  # the training subprocess's too
    torch.set_num_threads(args.threads)
    start = time.time()
    rows = run(args.root, args.save_dir, [int(s) for s in args.seeds.split(',')], settings, base)
    print('\n' + markdown(rows) + '\n')
    print('\n'.join(target_lines(rows)))
    print(f'{time.time() - start:.0f} s in all')


if __name__ == '__main__':
    main()
