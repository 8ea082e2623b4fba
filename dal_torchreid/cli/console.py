"""What the command-line tools share: which errors are the input's fault, and the log.

An input error (a bad key, file, split, data set, checkpoint or weights file, a
``save_dir`` another run holds or that cannot be written, a full disk, a clustering that
leaves nothing to train) or a diverged run ends a tool with one line naming the key, file or epoch and exit code 2; any
other error keeps its traceback, which reaches the log too.
"""
from __future__ import annotations

import contextlib
import os
import os.path as osp
import sys
import time
import traceback
from typing import Any, Callable

from dal_torchreid.budget import EmptyEpochError
from dal_torchreid.builder import InputSizeError, PretrainedWeightsError
from dal_torchreid.cluster import ClusteringError
from dal_torchreid.config import ConfigError
from dal_torchreid.data.datamanager import DataLayoutError
from dal_torchreid.data.frame_reading import BadFrameError
from dal_torchreid.data.splits import SplitFileError
from dal_torchreid.engine.checkpoint import CheckpointError
from dal_torchreid.engine.distributed import is_main_process
from dal_torchreid.file_errors import WriteError
from dal_torchreid.models import WeightsError
from dal_torchreid.save_dir import SaveDirError, prepare_save_dir

# Errors that are the input's fault: one line naming the file or key, exit code 2.
INPUT_ERRORS = (ConfigError, DataLayoutError, PretrainedWeightsError, BadFrameError,
                CheckpointError, EmptyEpochError, WeightsError, FileNotFoundError,
                IsADirectoryError, SplitFileError, SaveDirError, WriteError, InputSizeError,
                ClusteringError)
# A run that diverged (NaN or infinite loss, weights or features): one line naming the
# epoch, exit code 2; nothing of it is saved or scored.
DIVERGENCE_ERRORS = (FloatingPointError,)


@contextlib.contextmanager
def console_log(cfg, name: str | None = None):
    """Rank 0: stdout and stderr copied to ``<save_dir>/<name>-<time>`` (default
    ``train.log`` or, for ``test.evaluate``, ``test.log``); other ranks: stdout silenced."""
    console, errors = sys.stdout, sys.stderr
    if not is_main_process():
        with open(os.devnull, 'w') as quiet:
            sys.stdout = quiet
            try:
                yield None
            finally:
                sys.stdout = console
        return
    name = name or ('test.log' if cfg.test.evaluate else 'train.log')
    prepare_save_dir(cfg.data.save_dir)
    with _new_log(cfg.data.save_dir, name + time.strftime('-%Y-%m-%d-%H-%M-%S')) as log_file:
        sys.stdout, sys.stderr = Tee(console, log_file), Tee(errors, log_file)
        try:
            yield log_file
        finally:
            sys.stdout, sys.stderr = console, errors


def _new_log(save_dir: str, log_name: str):
    """A new log file ``log_name`` in ``save_dir`` (``-2``, ``-3``, ... when a run of the
    same second has one): never another run's log."""
    path, n = osp.join(save_dir, log_name), 1
    while True:
        try:
            return open(path, 'x')
        except FileExistsError:
            n += 1
            path = osp.join(save_dir, f'{log_name}-{n}')
        except OSError as err:
            raise SaveDirError(f'data.save_dir "{save_dir}" cannot be written to: '
                               f'{err.strerror or err}') from err


class Tee:
    """Console output copied to a log file, as torchreid's ``Logger`` (which closes the
    console when it is collected, so cannot be used in-process)."""

    def __init__(self, *streams):
        self.streams = streams

    def write(self, text):
        for stream in self.streams:
            stream.write(text)

    def flush(self):
        for stream in self.streams:
            stream.flush()


def run_logged(cfg, work: Callable[[], Any], name: str | None = None) -> tuple[int, Any]:
    """Runs ``work()`` under :func:`console_log` after printing the configuration; returns
    ``(0, its result)``, or ``(2, None)`` after one line for an input error or a diverged
    run. Other errors propagate, their traceback written to the log too. A ``save_dir``
    that cannot hold the log is one line too."""
    try:
        with console_log(cfg, name) as log_file:
            try:
                print(f'Show configuration\n{cfg}\n')
                return 0, work()
            except INPUT_ERRORS + DIVERGENCE_ERRORS as err:
                print(f'error: {err}', file=sys.stderr)
                return 2, None
            except BaseException:
                if log_file is not None:  # the traceback reaches the log too
                    log_file.write(traceback.format_exc())
                raise
    except SaveDirError as err:  # no log: save_dir cannot hold it (work's are caught above)
        print(f'error: {err}', file=sys.stderr)
        return 2, None
