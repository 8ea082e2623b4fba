"""Loading a config: a YAML file and ``KEY VALUE`` overrides merged by yacs, checked, frozen.

:func:`load_config` merges a YAML file and ``KEY VALUE`` overrides over
:func:`~dal_torchreid.experiment.config.defaults.get_default_config` with yacs, validates
(each key's own check, the checks that pair keys, torchreid's rules) and freezes; every
error is a :class:`ConfigError` naming the key and where its value came from.

Examples::

    cfg = load_config('configs/dal_resnet50_prid2011.yaml', ['data.root', 'reid-data'])
"""
from __future__ import annotations

import math
import re
import warnings
from typing import Any, Callable, Sequence

import torch
import yaml
from yacs.config import CfgNode as CN

from dal_torchreid.data.datamanager import unknown_datasets, unknown_datasets_message
from dal_torchreid.engine.optimization import check_amp
from dal_torchreid.engine.unsupervised import check_fixbase_epoch
from dal_torchreid.experiment.budget import UNSUPERVISED_ENGINES
from dal_torchreid.experiment.config.defaults import KEYS, get_default_config
from dal_torchreid.experiment.config.keys import checks_for, leaves
from dal_torchreid.experiment.config.torchreid import torchreid_rules, value_of
from dal_torchreid.experiment.config.train import ENGINE_ONLY_SETTINGS
from dal_torchreid.files.errors import check_input_file
from dal_torchreid.footage.dataset import register_footage_under, where_footage_was_looked_for
from dal_torchreid.losses import check_negatives


class ConfigError(ValueError):
    """A config value no engine can run with; the message names the key and its source."""


def _paired_checks(cfg: CN) -> dict[str, Callable[[Any], None]]:
    """The label-free engines' checks of a key that depend on another setting."""
    checks = {
        'train.amp': lambda amp: check_amp(amp, bool(cfg.use_gpu) and torch.cuda.is_available()),
        'train.fixbase_epoch': lambda epochs: check_fixbase_epoch(epochs, cfg.train.open_layers),
    }
    if cfg.loss.name == 'cc':
        checks['cc.negatives'] = lambda negatives: check_negatives(negatives, cfg.cc.proxies)
    return checks


def validate_config(cfg: CN, source_of: Callable[[str], str] = lambda key: 'config') -> None:
    """Refuses values no engine can run with, reading no data.

    Raises :class:`ConfigError` naming the key and ``source_of(key)``.
    """
    def fail(key: str, message: str):
        raise ConfigError(f'{source_of(key)}: {key} {message}')

    defaults = dict(leaves(get_default_config()))
    for key, value in leaves(cfg):
        if value is None and defaults[key] is not None:
            fail(key, f'must be a {type(defaults[key]).__name__}, got None')
        numbers = value if isinstance(value, (list, tuple)) else [value]
        if any(isinstance(v, float) and not math.isfinite(v) for v in numbers):
            fail(key, f'must be finite, got {value!r}')
    checks = checks_for(KEYS, cfg.loss.name)
    if cfg.loss.name in UNSUPERVISED_ENGINES:  # the label-free engines: amp, a frozen classifier
        checks.update(_paired_checks(cfg))
    for key, check in checks.items():
        name = key.rsplit('.', 1)[1]
        try:
            check(value_of(cfg, key))
        except ValueError as err:
            message = str(err)
            for said in (key + ' ', name + ' '):  # the check may name the key itself
                message = message[len(said):] if message.startswith(said) else message
            fail(key, message)
    for key, holds, message in torchreid_rules(cfg):
        if not holds:
            fail(key, f'{message}, got {value_of(cfg, key)!r}')


NUMBER_OR_AUTO = frozenset(name for name, key in KEYS.items() if key.number_or_auto)


def _as_text(opts: list) -> list:
    """The command line's value of a key of :data:`NUMBER_OR_AUTO` kept as its text (yacs
    would read ``2.5`` as a float and refuse it for a text key)."""
    return [repr(str(v)) if i % 2 and opts[i - 1] in NUMBER_OR_AUTO else v
            for i, v in enumerate(opts)]


def _merge_file(cfg: CN, path: str) -> None:
    """``cfg.merge_from_file(path)``, with the value of a key of :data:`NUMBER_OR_AUTO`
    (a number or text) taken as its text."""
    with open(path) as f:
        loaded = cfg.load_cfg(f)
    for key in NUMBER_OR_AUTO:
        *parents, leaf = key.split('.')
        node = loaded
        for parent in parents:
            node = node.get(parent) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get(leaf), (int, float, str)):
            node[leaf] = repr(str(node[leaf]))  # yacs reads a text that looks like a number
    cfg.merge_from_other_cfg(loaded)


def load_config(path: str | None = None, opts: Sequence[Any] = ()) -> CN:
    """The default config, with the YAML file ``path`` and ``KEY VALUE`` ``opts`` merged,
    validated and frozen. Raises :class:`ConfigError` (or ``FileNotFoundError``,
    ``IsADirectoryError``) naming the key and whether the file, the command line or the
    default config set it; reads nothing else."""
    cfg = get_default_config()
    file_source = f'config file "{path}"'
    file_keys: set[str] = set()
    if path:
        file_keys = config_file_keys(path)
        try:
            _merge_file(cfg, path)
        except (KeyError, ValueError, AssertionError, yaml.YAMLError) as err:
            raise ConfigError(f'{file_source}: {_unknown(err)}') from err
    opts = _as_text(list(opts))
    try:
        cfg.merge_from_list(opts)
    except (KeyError, ValueError, AssertionError) as err:
        raise ConfigError(f'command line: {_unknown(err)}') from err
    from_command_line = set(opts[0::2])
    # a tracklet data set cut from footage is known by its folder under data.root; with
    # one among the sources, the default targets are the other sources (footage has no ids)
    footage = register_footage_under(cfg.data.root, list(cfg.data.sources) + list(cfg.data.targets))
    if footage and 'data.targets' not in from_command_line | file_keys:
        cfg.data.targets = [name for name in cfg.data.sources if name not in footage]

    def source_of(key: str) -> str:
        return ('command line' if key in from_command_line
                else file_source if key in file_keys else 'default config')
    check_datasets_found(cfg, source_of)
    validate_config(cfg, source_of)
    drop_ignored_settings(cfg, source_of)
    cfg.freeze()
    return cfg


def check_datasets_found(cfg: CN, source_of: Callable[[str], str]) -> None:
    """Raises :class:`ConfigError` for a ``data.sources`` or ``data.targets`` name that is
    neither torchreid's nor a tracklet data set under ``data.root``, saying where the
    tracklet data set was looked for (and when ``data.root`` is the default)."""
    for key in ('data.sources', 'data.targets'):
        unknown = unknown_datasets(value_of(cfg, key))
        if not unknown:
            continue
        where = where_footage_was_looked_for(cfg.data.root, unknown)
        if source_of('data.root') == 'default config':
            where += f'; data.root is the default "{cfg.data.root}": pass --root'
        raise ConfigError(f'{source_of(key)}: {unknown_datasets_message(key, unknown)}, {where}')


def drop_ignored_settings(cfg: CN, source_of: Callable[[str], str] = lambda key: 'config'
                          ) -> None:
    """Settings the chosen engine does not read (:data:`ENGINE_ONLY_SETTINGS`), so that no
    run is recorded with a setting it ran without.

    Set on the command line, such a setting is a :class:`ConfigError` naming it; set by a
    config file written for another engine (a DAL config with ``--engine triplet``), it is
    reset to its default in ``cfg`` with a warning.
    """
    defaults = get_default_config()
    for key, engines in ENGINE_ONLY_SETTINGS.items():
        value, default = value_of(cfg, key), value_of(defaults, key)
        if cfg.loss.name in engines or value == default:
            continue
        said = (f'{key} {value!r}: only the {" and ".join(engines)} engines read it, the '
                f'{cfg.loss.name} engine would run without it')
        if source_of(key) == 'command line':
            raise ConfigError(f'command line: {said}; remove it or choose another engine')
        warnings.warn(f'{source_of(key)}: {said}; it is reset to {default!r} for this run')
        section, name = key.rsplit('.', 1)
        value_of(cfg, section)[name] = default


def config_file_keys(path: str) -> set[str]:
    """The dotted keys the YAML config file ``path`` sets, checking what yacs does not:
    that it is a UTF-8 text file holding a mapping, and that no mapping in it names a
    key twice (YAML lets the second silently replace the first). Raises
    :class:`ConfigError` naming the file (and the key and line)."""
    check_input_file(path, 'config file')
    source = f'config file "{path}"'
    try:
        with open(path, encoding='utf-8') as f:
            text = f.read()
    except UnicodeDecodeError as err:
        raise ConfigError(f'{source}: not a UTF-8 text (YAML) file') from err
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as err:
        raise ConfigError(f'{source}: {" ".join(str(err).split())}') from err
    if root is None:
        return set()
    if not isinstance(root, yaml.MappingNode):
        kind = 'a list' if isinstance(root, yaml.SequenceNode) else 'a single value'
        raise ConfigError(f'{source}: must hold a mapping of sections (model:, data:, ...), '
                          f'got {kind}')
    return _mapping_keys(root, '', source)


def _mapping_keys(node: yaml.MappingNode, prefix: str, source: str) -> set[str]:
    keys: set[str] = set()
    seen: set[str] = set()
    for key_node, value_node in node.value:
        key = prefix + str(key_node.value)
        if key in seen:
            raise ConfigError(f'{source}: key "{key}" appears twice (again on line '
                              f'{key_node.start_mark.line + 1}); YAML would silently keep '
                              'only the last')
        seen.add(key)
        if isinstance(value_node, yaml.MappingNode):
            keys |= _mapping_keys(value_node, key + '.', source)
        else:
            keys.add(key)
    return keys


def _unknown(err: Exception) -> str:
    """yacs's message, said as this module says it: key first (a YAML error, such as a tag
    the safe loader refuses to construct, in one line with its place in the file)."""
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark
        where = f' (line {mark.line + 1}, column {mark.column + 1})' if mark else ''
        return ' '.join(' '.join(filter(None, [err.context, err.problem])).split()) + where
    if isinstance(err, yaml.YAMLError):
        return ' '.join(str(err).split())
    message = err.args[0] if err.args and isinstance(err.args[0], str) else str(err)
    mismatch = re.match(r"Type mismatch \(<class '(\w+)'> vs\. <class '(\w+)'>\) with values "
                        r"\((.*) vs\. (.*)\) for config key: (\S+)", message, re.S)
    if mismatch:
        wanted, given, _, value, key = mismatch.groups()
        return f'{key} must be of type {wanted} (as its default), got {value} ({given})'
    return message.replace('Non-existent config key', 'unknown config key').replace(
        'Non-existent key', 'unknown config key')
