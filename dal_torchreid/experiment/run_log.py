"""A run's console copied to a log file in its ``save_dir``, line by line.

Rank 0's stdout and stderr go to the console and to ``<save_dir>/<name>-<time>``
(``-2``, ``-3``, ... when a run of the same second has one: never another run's log),
written a line at a time, so the log of a run that is killed holds everything it printed;
other ranks' stdout is silenced.

Examples::

    with console_log('log/dal', 'train.log'):
        engine.run(save_dir='log/dal', max_epoch=8)
"""
from __future__ import annotations

import contextlib
import os
import os.path as osp
import sys
import time

from dal_torchreid.engine.distributed import is_main_process
from dal_torchreid.files.save_dir import SaveDirError, prepare_save_dir


@contextlib.contextmanager
def console_log(save_dir: str, name: str = 'train.log'):
    """Rank 0: stdout and stderr copied to ``<save_dir>/<name>-<time>`` (yields the open
    file); other ranks: stdout silenced (yields None). Raises
    :class:`~dal_torchreid.files.save_dir.SaveDirError` when ``save_dir`` cannot hold it."""
    console, errors = sys.stdout, sys.stderr
    if not is_main_process():
        with open(os.devnull, 'w') as quiet:
            sys.stdout = quiet
            try:
                yield None
            finally:
                sys.stdout = console
        return
    prepare_save_dir(save_dir)
    with _new_log(save_dir, name + time.strftime('-%Y-%m-%d-%H-%M-%S')) as log_file:
        sys.stdout, sys.stderr = Tee(console, log_file), Tee(errors, log_file)
        try:
            yield log_file
        finally:
            sys.stdout, sys.stderr = console, errors


def _new_log(save_dir: str, log_name: str):
    """A new, line-buffered log file ``log_name`` in ``save_dir``."""
    path, n = osp.join(save_dir, log_name), 1
    while True:
        try:
            return open(path, 'x', buffering=1)
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
