"""The command-line glue shared by the tools: config file, data root, engine, overrides."""
from __future__ import annotations

import argparse
from yacs.config import CfgNode

from dal_torchreid.config import load_config
from dal_torchreid.torchreid_settings import ENGINES


CONFIG_HELP = ('Every config key, its default, the values it accepts and which engine reads '
               'it: docs/config.md (python -m dal_torchreid.config_reference --markdown). '
               'The defaults: %(prog)s --print-config; a config as a run would use it: '
               '%(prog)s --print-config --config-file FILE [KEY VALUE ...].')


def build_parser(description: str) -> argparse.ArgumentParser:
    """``--config-file``, ``--root``, ``--engine``, ``--print-config`` and trailing
    ``KEY VALUE`` overrides."""
    parser = argparse.ArgumentParser(description=description, epilog=CONFIG_HELP,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--config-file', type=str, default='', help='path to a YAML config')
    parser.add_argument('--root', type=str, default='', help='data root (data.root)')
    parser.add_argument('-s', '--sources', type=str, nargs='+', help='source data sets (data.sources)')
    parser.add_argument('-t', '--targets', type=str, nargs='+', help='target data sets (data.targets)')
    parser.add_argument('--engine', type=str, default='', choices=('',) + ENGINES,
                        help='dal or cc (Cluster Contrast), no labels; or torchreid\'s supervised '
                        'softmax / triplet (loss.name)')
    parser.add_argument('--print-config', action='store_true',
                        help='print the merged config (defaults, config file, overrides) as '
                             'YAML and exit, reading no data')
    parser.add_argument('opts', default=None, nargs='*', metavar='KEY VALUE',
                        help='pairs overriding the config (options may come before or after)')
    return parser


def parse_args(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """``parser``'s arguments, options and ``KEY VALUE`` pairs in any order."""
    return parser.parse_intermixed_args(argv)


def config_from_command_line(args: argparse.Namespace) -> CfgNode:
    """:func:`~dal_torchreid.config.load_config` of :func:`build_parser`'s arguments, as
    torchreid's ``scripts/main.py``: ``--root``, ``--sources``, ``--targets`` and
    ``--engine`` set ``data.root``, ``data.sources``, ``data.targets`` and ``loss.name``
    (all count as the command line in error messages)."""
    opts = list(args.opts or [])
    for key, value in (('data.root', args.root), ('data.sources', args.sources),
                       ('data.targets', args.targets), ('loss.name', args.engine)):
        if value:
            opts += [key, value]
    return load_config(args.config_file or None, opts)
