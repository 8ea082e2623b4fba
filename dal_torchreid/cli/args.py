"""The command-line glue shared by the tools: config file, data root, engine, overrides."""
from __future__ import annotations

import argparse
from yacs.config import CfgNode

from dal_torchreid.experiment.config import get_default_config, load_config
from dal_torchreid.experiment.config.torchreid import ENGINES


CONFIG_HELP = ('Every config key, its default, the values it accepts and which engine reads '
               'it: docs/config.md (python -m dal_torchreid.experiment.config.reference --markdown). '
               'The defaults: %(prog)s --print-config; a config as a run would use it: '
               '%(prog)s --print-config --config-file FILE [KEY VALUE ...].')


def build_parser(description: str, training: bool = True,
                 sources_help: str = 'source data sets (data.sources)') -> argparse.ArgumentParser:
    """``--config-file``, ``--root``, ``-s``, ``--print-config`` and trailing ``KEY VALUE``
    overrides; with ``training``, ``-t`` and ``--engine`` too (a tool that trains or
    evaluates nothing does not offer what it would ignore)."""
    parser = argparse.ArgumentParser(description=description, epilog=CONFIG_HELP,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--config-file', type=str, default='', help='path to a YAML config')
    parser.add_argument('--root', type=str, default='', help='data root (data.root)')
    parser.add_argument('-s', '--sources', type=str, nargs='+', help=sources_help)
    if training:
        parser.add_argument('-t', '--targets', type=str, nargs='+',
                            help='target data sets (data.targets)')
        parser.add_argument('--engine', type=str, default='', choices=('',) + ENGINES,
                            help='dal or cc (Cluster Contrast), no labels; or torchreid\'s '
                            'supervised softmax / triplet (loss.name)')
    parser.add_argument('--print-config', action='store_true',
                        help='print the merged config (defaults, config file, overrides) as '
                             'YAML and exit, reading no data')
    parser.add_argument('opts', default=None, nargs='*', metavar='KEY VALUE',
                        help='pairs overriding the config (options may come before or after)')
    return parser


def parse_args(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """``parser``'s arguments, options and ``KEY VALUE`` pairs in any order. ``-s`` and
    ``-t`` take several names, so ``-s NAME KEY VALUE`` reads the pair as data set names:
    from the first word that is a config key (``section.key``) on, they are overrides."""
    args = parser.parse_intermixed_args(argv)
    defaults = get_default_config()
    for option in ('sources', 'targets'):
        names = getattr(args, option, None) or []
        first_key = next((i for i, word in enumerate(names) if _is_config_key(word, defaults)),
                         None)
        if first_key is not None:
            if first_key == 0:
                parser.error(f'-{option[0]} needs a data set name before "{names[0]}"')
            setattr(args, option, names[:first_key])
            args.opts = list(args.opts or []) + names[first_key:]
    return args


def _is_config_key(word: str, node: CfgNode) -> bool:
    """A ``section.key`` of the config ``node`` (a data set name is never one)."""
    *sections, key = word.split('.')
    for section in sections:
        node = node.get(section) if isinstance(node, CfgNode) else None
    return bool(sections) and isinstance(node, CfgNode) and key in node


def config_from_command_line(args: argparse.Namespace) -> CfgNode:
    """:func:`~dal_torchreid.experiment.config.load_config` of :func:`build_parser`'s arguments, as
    torchreid's ``scripts/main.py``: ``--root``, ``--sources``, ``--targets`` and
    ``--engine`` set ``data.root``, ``data.sources``, ``data.targets`` and ``loss.name``
    (all count as the command line in error messages)."""
    opts = list(args.opts or [])
    for key, value in (('data.root', args.root), ('data.sources', args.sources),
                       ('data.targets', getattr(args, 'targets', None)),
                       ('loss.name', getattr(args, 'engine', None))):
        if value:
            opts += [key, value]
    return load_config(args.config_file or None, opts)
