"""The own-footage demo (``dal-demo --footage``): synthetic cameras, four models, one table.

On synthetic footage with ground truth (:mod:`dal_torchreid.data.synthetic.footage`,
written under the data root if absent), cut into tracklets as ``dal-make-tracklets``
does, with the settings of ``configs/own_footage.yaml``:

1. the untrained (ImageNet) backbone associates the tracklets (``dal-associate``);
2. DAL trains without labels, then associates;
3. Cluster Contrast trains without labels on DAL's frame budget, then associates;
4. torchreid's supervised engine (triplet by default) trains WITH the true identities,
   on the footage's ground-truth view
   (:mod:`dal_torchreid.footage.ground_truth`), on DAL's frame budget, then
   associates;

each association scored against ``gt.txt`` (cross-camera pairwise F1 and the
multi-camera IDF1, :mod:`dal_torchreid.footage.scores`).

Examples::

    from dal_torchreid.demo.footage import run_footage_demo
    rows = run_footage_demo('reid-data', 'log/demo-footage', seed=1)
    print(format_footage_table(rows))
"""
from __future__ import annotations

import dataclasses
import json
import os
import os.path as osp
import time
import warnings
from typing import Mapping, Sequence

import torchreid
from yacs.config import CfgNode

from dal_torchreid.experiment.builder import build_model, uses_gpu
from dal_torchreid.experiment.config import load_config
from dal_torchreid.footage import TrackletSettings, make_tracklets, register_footage_dataset
from dal_torchreid.footage.ground_truth import register_ground_truth_view
from dal_torchreid.data.synthetic.footage import (
    INFO_FILE, FootageConfig, make_synthetic_footage
)
from dal_torchreid.experiment.run import run_experiment
from dal_torchreid.footage.evaluation import associate_from_config
from dal_torchreid.footage.report import REPORT

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = osp.join(REPO, 'configs', 'own_footage.yaml')

DEMO_FOOTAGE = FootageConfig(people=40, cameras=3, frames=600)
"""The demo's footage (its seed set per run): 40 people, 3 cameras of 600 frames."""
DEMO_TRACKLETS = TrackletSettings(min_conf=0.5)
"""``dal-make-tracklets --min-conf 0.5``: the simulated tracker's false tracks are low-confidence."""

RUNS = ('untrained', 'dal', 'cc', 'supervised')
SCORES_FILE = 'footage_scores.json'
TARGETS = (('untrained', 2.0, 'the untrained backbone\'s'),
           ('supervised', 0.9, 'the supervised model\'s'))
"""docs/experiments.md's targets: the better label-free engine's pairwise F1 at least these
times the run's (the untrained backbone's, the supervised model's)."""


def demo_footage_names(seed: int) -> tuple[str, str]:
    """``(footage folder under the data root, tracklet data set name)`` of seed ``seed``."""
    return osp.join('synthetic-footage', f's{seed}'), f'synthetic_footage_s{seed}'


def footage_demo_configs(config_file: str, root: str, seed: int, opts: Sequence[str] = (),
                         supervised: str = 'triplet') -> dict[str, CfgNode]:
    """The four runs' validated configs (``untrained`` associates only); reads no data.

    The supervised run trains on the ground-truth view of the same tracklets; the
    footage data set and the view are registered (by name) for the configs to name them.
    """
    _, name = demo_footage_names(seed)
    register_footage_dataset(name)
    view = register_ground_truth_view(name)
    common = ['data.root', root, 'train.seed', seed] + list(opts)
    footage = ['data.sources', [name], 'data.targets', []]
    return {
        'untrained': load_config(config_file, footage + common),
        'dal': load_config(config_file, footage + common + ['loss.name', 'dal']),
        'cc': load_config(config_file, footage + common + ['loss.name', 'cc']),
        'supervised': load_config(config_file, ['data.sources', [view], 'data.targets', []]
                                  + common + ['loss.name', supervised]),
    }


def ensure_demo_footage(root: str, config: FootageConfig,
                        settings: TrackletSettings = DEMO_TRACKLETS) -> tuple[str, str]:
    """Writes the synthetic footage of ``config`` under ``root`` if absent and cuts its
    tracklet data set (a camera already cut is kept); returns ``(footage folder, data
    set name)``. Footage already there written with other settings is used, with a
    warning."""
    folder, name = demo_footage_names(config.seed)
    folder = osp.join(root, folder)
    footage, tracks = osp.join(folder, 'footage'), osp.join(folder, 'tracks')
    info_path = osp.join(footage, INFO_FILE)
    if osp.isfile(info_path):
        with open(info_path) as f:
            found = json.load(f).get('config', {})
        wanted = json.loads(json.dumps(dataclasses.asdict(config)))  # tuples as lists
        differs = {k: v for k, v in wanted.items() if found.get(k, v) != v}
        if differs:
            warnings.warn(f'using the synthetic footage in "{footage}", written with other '
                          f'settings than the demo\'s ({differs}); numbers will differ from '
                          'docs/experiments.md')
    else:
        start = time.time()
        make_synthetic_footage(footage, tracks, config)
        print(f'=> Wrote synthetic footage ({config.people} people, {config.cameras} cameras of '
              f'{config.frames} frames) to "{footage}" in {time.time() - start:.0f} s')
    start = time.time()
    make_tracklets(footage, tracks, root, name, settings)
    print(f'=> Tracklets in "{osp.join(root, name)}" ({time.time() - start:.0f} s)')
    return footage, name


def associate_untrained(cfg: CfgNode, name: str, footage: str, save_dir: str) -> dict:
    """Scores of the untrained backbone's association of data set ``name``; writes
    ``<save_dir>/association/<name>/``."""
    torchreid.utils.set_random_seed(cfg.train.seed)  # a backbone without weights: its init
    model = build_model(cfg, num_classes=1)
    if uses_gpu(cfg):
        model = model.cuda()
    start = time.time()
    summary = associate_from_config(cfg, name, osp.join(save_dir, 'association', name), model,
                                    footage=footage)
    return {'footage_scores': {name: summary['scores']}, 'frames_seen': 0,
            'wall_time_s': round(time.time() - start, 2)}


def run_footage_demo(root: str, save_dir: str, seed: int = 1,
                     config_file: str = DEFAULT_CONFIG, opts: Sequence[str] = (),
                     supervised: str = 'triplet', footage_config: FootageConfig | None = None,
                     settings: TrackletSettings = DEMO_TRACKLETS) -> dict[str, dict]:
    """Runs the demo (see the module); returns ``{run: row}`` (:func:`footage_row`, with
    ``report``: the path of the run's ``report.html``) and writes them to
    ``<save_dir>/footage_scores.json``.

    Args:
        root (str): data root: footage under ``synthetic-footage/s<seed>/``, tracklets in
            ``synthetic_footage_s<seed>/``.
        save_dir (str): ``<save_dir>/{untrained,dal,cc,supervised}/``.
        seed (int): the footage's and the training's seed.
        config_file (str), opts (sequence): the config and ``KEY VALUE`` overrides of all runs.
        supervised (str): torchreid's engine of the supervised run (``triplet``, ``softmax``).
        footage_config (FootageConfig, optional): default :data:`DEMO_FOOTAGE`.
        settings (TrackletSettings): how tracker boxes become crops.
    """
    configs = footage_demo_configs(config_file, root, seed, opts, supervised)
    footage_config = dataclasses.replace(footage_config or DEMO_FOOTAGE, seed=seed)
    footage, name = ensure_demo_footage(root, footage_config, settings)
    titles = run_titles(configs['dal'].model.name, supervised, 'association only',
                        'the true identities (ground-truth view)')
    rows = {}
    for i, key in enumerate(RUNS, 1):
        print(f'\n=> [{i}/{len(RUNS)}] {titles[key]}')
        run_dir = osp.join(save_dir, key)
        if key == 'untrained':
            record = associate_untrained(configs[key], name, footage, run_dir)
        else:
            record = run_experiment(configs[key], save_dir=run_dir)
        rows[key] = dict(footage_row(record), report=osp.join(
            run_dir, 'association', configs[key].data.sources[0], REPORT))
    os.makedirs(save_dir, exist_ok=True)
    with open(osp.join(save_dir, SCORES_FILE), 'w') as f:
        json.dump({'seed': seed, 'data_set': name, 'footage': footage, 'runs': rows}, f, indent=2)
    return rows


def run_titles(model: str, supervised: str, untrained: str, labels: str) -> dict[str, str]:
    """What each of a demo's four runs is, as printed before it: the untrained backbone
    (``untrained`` says what it does), DAL, Cluster Contrast, and the supervised engine
    trained with ``labels``."""
    return {'untrained': f'untrained {model} ({untrained})',
            'dal': 'DAL, no identity labels',
            'cc': 'Cluster Contrast, no identity labels, same frame budget',
            'supervised': f'torchreid {supervised} engine with {labels}, same frame budget'}


def footage_row(record: Mapping) -> dict:
    """A run's table row from its record: pairwise precision, recall, F1, IDF1, frames
    seen, wall time. Raises ``RuntimeError`` when the record holds no footage score."""
    scores = record.get('footage_scores') or {}
    if len(scores) != 1:
        raise RuntimeError(f'the run recorded {len(scores)} footage scores, not one: its '
                           'association was not scored against the ground truth')
    score = next(iter(scores.values()))
    return {'precision': score['pairwise']['precision'], 'recall': score['pairwise']['recall'],
            'f1': score['pairwise']['f1'], 'idf1': score['idf1']['IDF1'],
            'frames_seen': int(record.get('frames_seen', 0)),
            'wall_time_s': float(record.get('wall_time_s', 0.0))}


def _ratio(a: float, b: float) -> str:
    return f'{a / b:.2f}x' if b > 0 else 'n/a'


def target_met(rows: Mapping[str, Mapping], best: str, against: str, times: float) -> bool | None:
    """Whether run ``best``'s pairwise F1 is at least ``times`` run ``against``'s (None when
    that F1 is 0: no ratio)."""
    reference = rows[against]['f1']
    return None if reference <= 0 else rows[best]['f1'] >= times * reference


def format_footage_table(rows: Mapping[str, Mapping], supervised: str = 'triplet') -> str:
    """The demo's table, the better label-free engine's F1 and IDF1 over the untrained
    backbone's and the supervised model's, and whether each target of
    docs/experiments.md (:data:`TARGETS`, on pairwise F1) was met, in words."""
    labels = {'untrained': 'untrained backbone', 'dal': 'DAL (no labels)',
              'cc': 'Cluster Contrast (no labels)', 'supervised': f'{supervised} (true ids)'}
    lines = [f'{"model":<30} {"precision":>9} {"recall":>7} {"pair F1":>8} {"IDF1":>7} '
             f'{"frames seen":>12} {"time s":>7}']
    for key, row in rows.items():
        lines.append(f'{labels.get(key, key):<30} {row["precision"]:>9.3f} {row["recall"]:>7.3f} '
                     f'{row["f1"]:>8.3f} {row["idf1"]:>7.3f} {row["frames_seen"]:>12d} '
                     f'{row["wall_time_s"]:>7.0f}')
    label_free = [k for k in ('dal', 'cc') if k in rows]
    if label_free and 'untrained' in rows and 'supervised' in rows:
        best = max(label_free, key=lambda k: rows[k]['f1'])
        f1, idf1 = (rows[best][m] for m in ('f1', 'idf1'))
        lines += ['', f'{labels[best]} pairwise F1: {_ratio(f1, rows["untrained"]["f1"])} the '
                  f'untrained backbone\'s (target 2x), {_ratio(f1, rows["supervised"]["f1"])} '
                  'the supervised model\'s (target 0.9x)',
                  f'{labels[best]} IDF1: {_ratio(idf1, rows["untrained"]["idf1"])} the untrained '
                  f'backbone\'s, {_ratio(idf1, rows["supervised"]["idf1"])} the supervised '
                  'model\'s (the targets are on pairwise F1)']
        for against, times, whose in TARGETS:
            met = target_met(rows, best, against, times)
            verdict = {True: 'MET', False: 'NOT MET', None: 'not measurable (its F1 is 0)'}[met]
            lines.append(f'Target {times:g}x {whose} pairwise F1: {verdict} '
                         f'({labels[best]}: {_ratio(rows[best]["f1"], rows[against]["f1"])})')
    return '\n'.join(lines)


def format_report_paths(rows: Mapping[str, Mapping]) -> str:
    """Where each run's ``report.html`` is (open it in a browser), one line each."""
    return '\n'.join(['Reports (open in a browser):'] +
                     [f'  {key}: {row["report"]}' for key, row in rows.items() if 'report' in row])
