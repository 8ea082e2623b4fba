"""What ``dal-associate`` and ``dal-search`` share: one data set, a config, an ``--out``, one line
for an error.

:func:`run_footage_tool` parses the command line, refuses ``-s`` naming more than one data
set, prints the config for ``--print-config``, runs the tool's own checks and its work, and
turns an input error into one ``error:`` line (exit code 2) and SIGINT / SIGTERM into one
line with exit code 130 / 143, the lock of ``--out`` released first.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Callable

from dal_torchreid.cli.args import config_from_command_line, parse_args
from dal_torchreid.cli.console import DIVERGENCE_ERRORS, INPUT_ERRORS
from dal_torchreid.cli.interruption import (
    INTERRUPTIONS, exit_code, interruption_line, terminate_as_exception
)


class UsageError(ValueError):
    """A command line a footage tool cannot run (one line, exit code 2)."""


def check_one_source(sources) -> None:
    """Raises :class:`UsageError` when ``-s`` names more than one data set."""
    if len(sources) > 1:
        raise UsageError(f'-s {" ".join(sources)}: one tracklet data set at a time, not '
                         f'{len(sources)}: run it once per data set, each with its own --out')


def run_footage_tool(parser: argparse.ArgumentParser, argv, check: Callable, work: Callable,
                     show: Callable, advice: str, errors: tuple = ()) -> int:
    """Runs a footage tool (see the module); returns its exit code.

    Args:
        parser: the tool's parser (:func:`~dal_torchreid.cli.args.build_parser` and its own
            options, ``--out`` among them).
        argv: the command line (None: ``sys.argv``).
        check (callable): ``check(args)`` raises :class:`UsageError` for options it cannot run.
        work (callable): ``work(cfg, args)`` does the work, returns its summary.
        show (callable): ``show(summary, out)`` prints it.
        advice (str): what to do after an interruption.
        errors (tuple): the tool's own input errors, besides the shared ones.
    """
    args = parse_args(parser, argv)
    started = time.time()
    try:
        check_one_source(args.sources or [])
        cfg = config_from_command_line(args)
        if args.print_config:
            print(cfg.dump(), end='')
            return 0
        check(args)
        with terminate_as_exception():
            summary = work(cfg, args)
    except INPUT_ERRORS + DIVERGENCE_ERRORS + (UsageError,) + tuple(errors) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    except INTERRUPTIONS as err:  # unwound: the lock of OUT is released
        print(f'error: {interruption_line(err, args.out, started, advice)}', file=sys.stderr)
        return exit_code(err)
    show(summary, args.out)
    return 0
