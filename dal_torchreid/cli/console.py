"""What the command-line tools share: which errors are the input's fault, and the log.

An input error (a bad key, file, split, data set, checkpoint or weights file, footage
or tracker file, a tracklet data set's ``manifest.csv`` or ``tracklets.json``, a
gallery file that is damaged or of another model, a
``save_dir`` another run holds or that cannot be written, a full disk, a clustering that
leaves nothing to train, footage or a tracker or ground-truth file that cannot be used)
or a diverged run ends a tool with one line naming the key, file or epoch and exit code 2;
SIGINT and SIGTERM with one line naming the checkpoint to resume from
(:mod:`dal_torchreid.cli.interruption`); any other error keeps its traceback, which
reaches the log too.
"""
from __future__ import annotations

import sys
import time
import traceback
from typing import Any, Callable

from dal_torchreid.experiment import run_log
from dal_torchreid.experiment.budget import BudgetError, EmptyEpochError
from dal_torchreid.experiment.builder import InputSizeError, PretrainedWeightsError
from dal_torchreid.cli.interruption import (
    INTERRUPTIONS, exit_code, interruption_line, terminate_as_exception
)
from dal_torchreid.cluster import ClusteringError, CrossCameraError
from dal_torchreid.experiment.config import ConfigError
from dal_torchreid.data.datamanager import DataLayoutError
from dal_torchreid.data.frame_reading import BadFrameError
from dal_torchreid.data.splits import SplitFileError
from dal_torchreid.engine.checkpoint import CheckpointError
from dal_torchreid.engine.memory_format import MemoryFormatError
from dal_torchreid.files.errors import WriteError
from dal_torchreid.footage import FootageError, TrackFileError
from dal_torchreid.models import WeightsError
from dal_torchreid.models.conv_padding import Bf16InputSizeError
from dal_torchreid.files.save_dir import SaveDirError
from dal_torchreid.footage.gallery import GalleryError

# Errors that are the input's fault: one line naming the file or key, exit code 2.
INPUT_ERRORS = (ConfigError, DataLayoutError, PretrainedWeightsError, BadFrameError,
                CheckpointError, EmptyEpochError, WeightsError, FileNotFoundError,
                IsADirectoryError, SplitFileError, SaveDirError, WriteError, InputSizeError,
                Bf16InputSizeError, CrossCameraError, BudgetError, MemoryFormatError,
                ClusteringError, FootageError, TrackFileError, GalleryError)
# A run that diverged (NaN or infinite loss, weights or features): one line naming the
# epoch, exit code 2; nothing of it is saved or scored.
DIVERGENCE_ERRORS = (FloatingPointError,)


def console_log(cfg, name: str | None = None):
    """:func:`dal_torchreid.experiment.run_log.console_log` into ``data.save_dir``, named ``name``
    (default ``train.log``, or ``test.log`` for ``test.evaluate``)."""
    return run_log.console_log(cfg.data.save_dir,
                               name or ('test.log' if cfg.test.evaluate else 'train.log'))


def run_logged(cfg, work: Callable[[], Any], name: str | None = None,
               resume_advice: str | None = None) -> tuple[int, Any]:
    """Runs ``work()`` under :func:`console_log` after printing the configuration; returns
    ``(0, its result)``, or ``(2, None)`` after one line for an input error or a diverged
    run. SIGINT and SIGTERM end it with one line naming the checkpoint to resume from
    (or ``resume_advice``), exit code 130 or 143, once the run has released its lock.
    Other errors propagate, their traceback written to the log too. A ``save_dir``
    that cannot hold the log is one line too."""
    started = time.time()
    try:
        with terminate_as_exception(), console_log(cfg, name) as log_file:
            try:
                print(f'Show configuration\n{cfg}\n')
                return 0, work()
            except INPUT_ERRORS + DIVERGENCE_ERRORS as err:
                print(f'error: {err}', file=sys.stderr)
                return 2, None
            except INTERRUPTIONS as err:  # work() has unwound: its lock is released
                line = interruption_line(err, cfg.data.save_dir, started, resume_advice)
                print(f'error: {line}', file=sys.stderr)
                return exit_code(err), None
            except BaseException:
                if log_file is not None:  # the traceback reaches the log too
                    log_file.write(traceback.format_exc())
                raise
    except SaveDirError as err:  # no log: save_dir cannot hold it (work's are caught above)
        print(f'error: {err}', file=sys.stderr)
        return 2, None
