"""Experiment configuration: torchreid's video defaults plus the plugin's keys, merged by yacs.

Each group of keys lives in its own module with each key's default, check and help
(:class:`~.keys.Key`): :mod:`.model_data` (``use_gpu``, ``model``, ``data``,
``sampler``, ``video``), :mod:`.train` (``train`` and the optimisers), :mod:`.engines`
(``loss``, ``dal``, ``cc``), :mod:`.associate` (``associate``), :mod:`.test`
(``test``); :mod:`.torchreid` holds torchreid's own rules. :func:`get_default_config`
assembles them into one yacs config, mirroring torchreid's ``scripts/default_config.py``;
:func:`load_config` merges a YAML file and ``KEY VALUE`` overrides, validates and
freezes (:mod:`.loading`); :mod:`.reference` writes ``docs/config.md``.

Examples::

    from dal_torchreid.experiment.config import load_config
    cfg = load_config('configs/dal_resnet50_prid2011.yaml', ['data.root', 'reid-data'])
"""
from dal_torchreid.experiment.config.defaults import KEYS, get_default_config
from dal_torchreid.experiment.config.loading import (
    ConfigError, config_file_keys, drop_ignored_settings, load_config, validate_config
)

__all__ = ['KEYS', 'ConfigError', 'config_file_keys', 'drop_ignored_settings',
           'get_default_config', 'load_config', 'validate_config']
