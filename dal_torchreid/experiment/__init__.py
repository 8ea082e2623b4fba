"""What turns a config into a run and its records: what ``dal-train`` does.

:mod:`.config` (the yacs defaults, checks and key reference), :mod:`.builder` (data
manager, model, optimiser, scheduler and engine from a config), :mod:`.budget` (the
frame budget every engine trains on), :mod:`.run` (a run: train and/or evaluate, the
split protocol), :mod:`.results` (``results.json`` and plots), :mod:`.run_log` (the
console copied to the run's log) and :mod:`.environment` (what the run ran on).

Examples::

    from dal_torchreid.experiment import load_config, run_experiment
    cfg = load_config('configs/synthetic_demo.yaml', ['data.root', 'reid-data'])
    record = run_experiment(cfg)
    print(record['targets']['prid2011']['rank1'])
"""
from dal_torchreid.experiment.config import get_default_config, load_config
from dal_torchreid.experiment.run import run_engine, run_experiment, run_split_protocol

__all__ = ['get_default_config', 'load_config', 'run_engine', 'run_experiment',
           'run_split_protocol']
