"""The ``dal-demo`` comparison on a synthetic PRID2011-layout set, ranked the re-id way.

Writes a synthetic PRID2011-layout data set under ``root`` if there is none, then,
with the backbone and settings of ``configs/synthetic_pretrained.yaml`` (an
ImageNet-pretrained MobileNet-v2, the paper's setting):

1. evaluates the pretrained backbone untrained (test only);
2. trains and evaluates DAL from it, without identity labels;
3. trains and evaluates Cluster Contrast (the config's ``cc.*`` settings) from it,
   without identity labels, on DAL's frames per step and total training frames;
4. trains and evaluates torchreid's supervised engine (triplet by default) WITH
   identity labels, from the same weights, on DAL's frames per step and total
   training frames (:mod:`dal_torchreid.experiment.budget`, as ``dal-train --engine`` does).

Prints a table of rank-1, rank-5 and mAP, and writes
``<save_dir>/{untrained,dal,cc,supervised}/results.json`` and ``<save_dir>/cmc.png``.

Examples::

    from dal_torchreid.demo.synthetic import DEFAULT_CONFIG, run_synthetic_demo
    records = run_synthetic_demo('reid-data', 'log/demo', DEFAULT_CONFIG)
"""
from __future__ import annotations

import json
import os.path as osp
import time
import warnings
from typing import Sequence

from dal_torchreid.data.synthetic import (
    DATASET_DIRS, INFO_FILE, SyntheticConfig, check_synthetic_folder, make_synthetic_dataset
)
from dal_torchreid.demo.footage import run_titles
from dal_torchreid.experiment.config import load_config
from dal_torchreid.experiment.results import format_table, plot_cmc_curves
from dal_torchreid.experiment.run import run_experiment

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = osp.join(REPO, 'configs', 'synthetic_pretrained.yaml')

# The demo's synthetic set: PRID2011's 200 people, split 100/100 into train and
# test as the release's splits are, written at the config's input size; the
# generator's defaults for the rest (16-40 frames per tracklet).
DEMO_DATA = {'ids': 200}


def ensure_synthetic_prid2011(root: str, height: int, width: int,
                              data: dict | None = None) -> str:
    """The synthetic PRID2011 folder under ``root``, written first if absent, with the
    generator settings ``data`` (default :data:`DEMO_DATA`)."""
    folder = osp.join(root, DATASET_DIRS['prid2011'])
    wanted = SyntheticConfig.for_layout('prid2011', height=height, width=width,
                                        **(DEMO_DATA if data is None else data))
    if not osp.isdir(folder):
        start = time.time()
        make_synthetic_dataset('prid2011', root, wanted)
        print(f'=> Wrote the synthetic PRID2011 set to "{folder}" in {time.time() - start:.0f} s')
        return folder
    check_synthetic_folder(folder, 'the demo is sized for its own synthetic data: pass '
                                   'another --root')
    with open(osp.join(folder, INFO_FILE)) as f:
        found = json.load(f).get('config', {})
    differs = {k: v for k, v in vars(wanted).items() if found.get(k, v) != v}
    if differs:
        warnings.warn(f'using the synthetic set in "{folder}", written with other settings than '
                      f'the ones asked for ({differs}); numbers will differ from docs/experiments.md')
    return folder


def demo_configs(root: str, config_file: str = DEFAULT_CONFIG, opts: Sequence[str] = (),
                 supervised: str = 'triplet') -> dict:
    """The four runs' validated configs, in order: ``untrained`` (test only), ``dal``,
    ``cc`` and ``supervised``; reads no data."""
    common = ['data.root', root] + list(opts)
    return {
        'untrained': load_config(config_file, common + ['test.evaluate', True]),
        'dal': load_config(config_file, common),
        'cc': load_config(config_file, common + ['loss.name', 'cc']),
        'supervised': load_config(config_file, common + ['loss.name', supervised]),
    }


def run_synthetic_demo(root: str, save_dir: str, config_file: str = DEFAULT_CONFIG,
                       opts: Sequence[str] = (), supervised: str = 'triplet') -> dict:
    """Runs the four (see the module) and prints their table; returns the records by run."""
    configs = demo_configs(root, config_file, opts, supervised)
    base = configs['dal']
    ensure_synthetic_prid2011(root, base.data.height, base.data.width)

    titles = run_titles(base.model.name, supervised, 'test only', 'identity labels')
    records = {}
    for i, (key, cfg) in enumerate(configs.items(), 1):
        print(f'\n=> [{i}/{len(configs)}] {titles[key]}')
        records[key] = run_experiment(cfg, save_dir=osp.join(save_dir, key))

    labels = {'untrained': 'untrained (test only)', 'dal': 'DAL (no labels)',
              'cc': 'Cluster Contrast (no labels)',
              'supervised': f'{supervised} (identity labels)'}
    curves = {labels[key]: next(iter(rec['targets'].values()))['cmc']
              for key, rec in records.items()}
    plot = plot_cmc_curves(curves, osp.join(save_dir, 'cmc.png'),
                           title=f'synthetic PRID2011, {base.model.name}')
    print('\n' + format_table(records))
    r1 = {label: next(iter(rec['targets'].values()))['rank1'] for label, rec in records.items()}
    over_untrained = f'{r1["dal"] / r1["untrained"]:.1f}x' if r1['untrained'] > 0 else 'inf'
    over_supervised = f'{r1["dal"] / r1["supervised"]:.2f}x' if r1['supervised'] > 0 else 'inf'
    print(f'\nDAL rank-1 / untrained: {over_untrained}; DAL rank-1 / supervised: {over_supervised}')
    cc_over_dal = f'{r1["cc"] / r1["dal"]:.2f}x' if r1['dal'] > 0 else 'inf'
    print(f'Cluster Contrast rank-1 / DAL: {cc_over_dal}')
    print(f'CMC curves: "{plot}"; results: "{save_dir}/*/results.json"')
    return records
