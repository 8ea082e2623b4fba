"""A run stopped by Ctrl-C (SIGINT) or ``kill`` (SIGTERM): one line, the lock released.

Python turns SIGINT into ``KeyboardInterrupt`` (a traceback of the whole training
loop) and dies of SIGTERM at once, so ``run.lock`` stays behind.
:func:`terminate_as_exception` makes SIGTERM raise :class:`Terminated` as SIGINT raises
``KeyboardInterrupt``: both unwind the run, whose context managers release the lock
and close the log, and :func:`interruption_line` says which checkpoint of the run
``model.resume`` continues from. The tools exit with the shell's code of a process
the signal ended, ``128 + signal number`` (130, 143).
"""
from __future__ import annotations

import contextlib
import glob
import os
import os.path as osp
import signal
import threading


class Terminated(BaseException):
    """SIGTERM, raised in the main thread (a ``BaseException``, as ``KeyboardInterrupt``:
    no ``except Exception`` of the run swallows it)."""


INTERRUPTIONS = (KeyboardInterrupt, Terminated)


@contextlib.contextmanager
def terminate_as_exception():
    """Within: SIGTERM raises :class:`Terminated` in the main thread (called from another
    thread, where no handler can be set, it changes nothing)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_terminated(signum, frame):
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def exit_code(err: BaseException) -> int:
    """The shell's exit code of a process ended by the signal behind ``err``."""
    return 128 + (signal.SIGTERM if isinstance(err, Terminated) else signal.SIGINT)


def latest_checkpoint(save_dir: str, since: float) -> str | None:
    """The newest checkpoint under ``save_dir`` (its ``model/`` folder, or a split's)
    written at or after ``since`` (``time.time()``): this run's, never an earlier run's."""
    patterns = [osp.join(glob.escape(save_dir), '**', 'model', name)
                for name in ('checkpoint-latest.pth.tar', 'model.pth.tar-*')]
    found = []
    for path in {p for pattern in patterns for p in glob.glob(pattern, recursive=True)}:
        try:
            written = os.path.getmtime(path)
        except OSError:
            continue
        if written >= since:
            found.append((written, path))
    return max(found)[1] if found else None


def interruption_line(err: BaseException, save_dir: str, since: float,
                      advice: str | None = None) -> str:
    """The one line for a run in ``save_dir``, started at ``since``, stopped by ``err``:
    the signal, and the checkpoint to resume from (or that there is none yet), or
    ``advice`` instead (``dal-run-splits``: run the same command again)."""
    name = 'SIGTERM' if isinstance(err, Terminated) else 'SIGINT'
    said = f'interrupted by {name}; the lock of "{save_dir}" is released'
    if advice:
        return f'{said}; {advice}'
    checkpoint = latest_checkpoint(save_dir, since)
    if checkpoint is None:
        return f'{said}; no checkpoint of this run was written yet: run it again to start over'
    return f'{said}; to continue, run it again with model.resume "{checkpoint}"'
