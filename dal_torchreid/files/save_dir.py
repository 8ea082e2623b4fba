"""One run per output folder at a time, and no earlier run's files beside this run's.

Two runs writing into one folder would overwrite each other's files; a failed re-run
would leave the previous run's results beside its own log, where they read as this
run's. :class:`SaveDirLock` holds ``<folder>/run.lock`` (naming the process, host and
start time) for the length of a run: a second run is refused, naming the holder; the
lock of a process that no longer runs on this host is taken over with a warning, by
exactly one of the runs that try at once (judging and taking the lock hold an ``flock``
on the folder). :func:`set_aside_run` renames what an earlier run left there with its
time when a new run starts, so a new run never overwrites it
(:func:`set_aside_run_folder` moves them into one dated folder instead, for files that
refer to each other). ``dal-train``'s ``data.save_dir``, ``dal-make-tracklets``' data set
folder and ``dal-associate``'s ``--out`` are held this way.

Examples::

    with claim_save_dir('log/dal', earlier=('results.json', 'model')):  # lock, then set aside
        ...  # train, write log/dal/results.json
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import os.path as osp
import socket
import tempfile
import time
import warnings

LOCK_FILE = 'run.lock'
STALE_UNREADABLE_LOCK_S = 10.0  # an unreadable lock older than this was never finished
LOCK_TAKEOVER_WAIT_S = 10.0  # the longest a run waits for another taking the lock
MAX_PID = 2 ** 31 - 1  # pid_t


class SaveDirError(RuntimeError):
    """A ``save_dir`` a run cannot use: not a folder, not writable, or used by another run."""


def prepare_save_dir(save_dir: str, what: str = 'data.save_dir') -> None:
    """Creates ``save_dir``; raises :class:`SaveDirError` in one line, naming it as
    ``what``, when it cannot be created or written to."""
    if osp.exists(save_dir) and not osp.isdir(save_dir):
        raise SaveDirError(f'{what} "{save_dir}" is a file, not a folder')
    if osp.islink(save_dir) and not osp.exists(save_dir):
        raise SaveDirError(f'{what} "{save_dir}" is a symbolic link to '
                           f'"{os.readlink(save_dir)}", which does not exist')
    try:
        os.makedirs(save_dir, exist_ok=True)
    except OSError as err:
        raise SaveDirError(f'{what} "{save_dir}" cannot be created: '
                           f'{err.strerror or err}') from err
    if not os.access(save_dir, os.W_OK | os.X_OK):
        raise SaveDirError(f'{what} "{save_dir}" cannot be written to')


def _possible_pid(pid: int) -> bool:
    """Whether ``pid`` can be a process id on any host (``0`` and ``-1`` would ask
    ``os.kill`` about process groups; a number past ``pid_t`` overflows it)."""
    return not isinstance(pid, bool) and 0 < pid <= MAX_PID


def _alive(pid: int) -> bool:
    """Whether process ``pid`` of this host runs."""
    if not _possible_pid(pid):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@contextlib.contextmanager
def _one_at_a_time(save_dir: str, what: str = 'data.save_dir'):
    """An exclusive ``flock`` on the folder ``save_dir`` while the lock file is judged and
    taken, so that of processes taking over one stale lock at once exactly one wins (it
    waits at most :data:`LOCK_TAKEOVER_WAIT_S`). On a file system without ``flock`` the
    takeover is not serialised."""
    try:
        fd = os.open(save_dir, os.O_RDONLY)
    except OSError:
        yield
        return
    try:
        deadline = time.monotonic() + LOCK_TAKEOVER_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise SaveDirError(
                        f'{what} "{save_dir}": another process has been taking its lock '
                        f'for over {LOCK_TAKEOVER_WAIT_S:.0f} s; try again') from None
                time.sleep(0.01)
            except OSError:  # no flock here
                break
        yield
    finally:
        os.close(fd)  # releases the flock


class SaveDirLock:
    """``<save_dir>/run.lock`` for the length of a run (a context manager).

    Args:
        save_dir (str): the run's folder (created if missing).
        what (str): how messages name the folder (the setting or option that chose it).

    :meth:`acquire` raises :class:`SaveDirError` naming the holder's process id,
    host and start time when another live run holds the folder; a lock whose
    process is gone (same host) is taken over with a warning.

    Examples::

        with SaveDirLock(cfg.data.save_dir):
            run_experiment(cfg)
    """

    def __init__(self, save_dir: str, what: str = 'data.save_dir') -> None:
        self.save_dir, self.what = save_dir, what
        self.path = osp.join(save_dir, LOCK_FILE)
        self.held = False

    def _holder(self) -> dict | None:
        """The lock file's holder, or None when it cannot be read."""
        try:
            with open(self.path) as f:
                holder = json.load(f)
            return holder if isinstance(holder, dict) and isinstance(holder.get('pid'), int) \
                else None
        except (OSError, ValueError):
            return None

    def _stale(self, holder: dict | None) -> bool:
        if holder is None:  # a run killed while writing it, or one writing it now
            try:
                return time.time() - os.path.getmtime(self.path) > STALE_UNREADABLE_LOCK_S
            except FileNotFoundError:
                return True
        if not _possible_pid(holder['pid']):  # no run on any host wrote it
            return True
        return holder.get('host') == socket.gethostname() and not _alive(holder['pid'])

    def acquire(self) -> None:
        prepare_save_dir(self.save_dir, self.what)
        me = {'pid': os.getpid(), 'host': socket.gethostname(),
              'started': time.strftime('%Y-%m-%d %H:%M:%S')}
        with _one_at_a_time(self.save_dir, self.what):
            while True:
                try:
                    taken = osp.lexists(self.path)
                    if taken:
                        self._check_stale()
                    self._write(me, replace=taken)
                    break
                except FileExistsError:  # created just now by a run without flock
                    continue
                except OSError as err:
                    raise SaveDirError(f'{self.what} "{self.save_dir}" cannot be written '
                                       f'to: {err.strerror or err}') from err
        self.held = True

    def _check_stale(self) -> None:
        """Raises :class:`SaveDirError` naming the holder unless the lock file is stale;
        warns that it is taken over if it is."""
        holder = self._holder()
        if not self._stale(holder):
            who = (f'process {holder["pid"]} on {holder.get("host", "?")}, started '
                   f'{holder.get("started", "?")}' if holder else 'another run')
            raise SaveDirError(
                f'{self.what} "{self.save_dir}" is in use by {who} (lock file '
                f'"{self.path}"); wait for it, choose another {self.what}, or delete '
                'the lock file if that run is gone')
        warnings.warn(f'taking over the lock "{self.path}" of a run that is gone ({holder})')

    def _write(self, holder: dict, replace: bool) -> None:
        """Writes the lock file naming ``holder`` whole: a new one through a hard link
        (``FileExistsError`` if another run made one first), a stale one replaced in one
        rename; no reader ever sees it half written."""
        fd, tmp = tempfile.mkstemp(prefix=f'.{LOCK_FILE}-', suffix='.tmp', dir=self.save_dir)
        try:
            os.fchmod(fd, 0o644)
            with os.fdopen(fd, 'w') as f:
                json.dump(holder, f)
            if replace:
                os.replace(tmp, self.path)
            else:
                os.link(tmp, self.path)
        finally:
            if osp.exists(tmp):
                os.remove(tmp)

    def release(self) -> None:
        if self.held:
            self.held = False
            holder = self._holder()
            if holder is not None and holder.get('pid') == os.getpid():
                os.remove(self.path)

    def __enter__(self) -> 'SaveDirLock':
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _run_stamp(save_dir: str, names, present: list[str]) -> str:
    """The time of an earlier run: that of the first of ``names`` (its results, named
    first) when present, else of the newest of ``present``."""
    dated = names[0] if present[0] == names[0] else max(
        present, key=lambda n: osp.getmtime(osp.join(save_dir, n)))
    return time.strftime('%Y-%m-%d-%H-%M-%S',
                         time.localtime(osp.getmtime(osp.join(save_dir, dated))))


def _free_name(make, names) -> str:
    """``make(suffix)``'s first suffix (``''``, ``'-2'``, ...) for which none of
    ``names`` exists."""
    n, suffix = 1, ''
    while any(osp.lexists(path) for path in make(suffix, names)):
        n += 1
        suffix = f'-{n}'
    return suffix


def set_aside_run(save_dir: str, names) -> list[str]:
    """Renames what an earlier run left in ``save_dir`` of ``names`` (a run's results,
    checkpoints folder, plots and config) to ``<stem>-<time><ext>``, all with the time of
    the first of ``names`` (a run's results, named first) when present, else of the
    newest of them, with one warning;
    returns the new paths. A new run then never overwrites, nor sits beside, an earlier
    run's files: the moved results still describe the moved weights."""
    present = [n for n in names if osp.lexists(osp.join(save_dir, n))]
    if not present:
        return []
    stamp = _run_stamp(save_dir, names, present)

    def aside(name: str, suffix: str) -> str:
        stem, ext = osp.splitext(name)
        return osp.join(save_dir, f'{stem}-{stamp}{suffix}{ext}')
    suffix = _free_name(lambda sfx, ns: [aside(n, sfx) for n in ns], present)
    moved = []
    for name in present:
        os.rename(osp.join(save_dir, name), aside(name, suffix))
        moved.append(aside(name, suffix))
    if len(moved) == 1:
        warnings.warn(f'an earlier run\'s "{osp.join(save_dir, present[0])}" was moved to '
                      f'"{moved[0]}"')
    else:
        warnings.warn(f'an earlier run\'s {", ".join(present)} in "{save_dir}" were moved to '
                      f'{", ".join(osp.basename(m) for m in moved)}')
    return moved


def set_aside_run_folder(save_dir: str, names, prefix: str = 'earlier') -> str | None:
    """Moves what an earlier run left in ``save_dir`` of ``names`` into one new folder
    ``<save_dir>/<prefix>-<time>/`` (the time as :func:`set_aside_run` takes it), under
    the same names, with one warning; returns the folder, or None when nothing was
    there. For runs whose files refer to each other by relative path (a report and its
    thumbnails): they still do, side by side in that folder. Nothing is deleted."""
    present = [n for n in names if osp.lexists(osp.join(save_dir, n))]
    if not present:
        return None
    stamp = _run_stamp(save_dir, names, present)
    suffix = _free_name(lambda sfx, _: [osp.join(save_dir, f'{prefix}-{stamp}{sfx}')], present)
    folder = osp.join(save_dir, f'{prefix}-{stamp}{suffix}')
    os.mkdir(folder)
    for name in present:
        os.rename(osp.join(save_dir, name), osp.join(folder, name))
    warnings.warn(f'an earlier run\'s {", ".join(present)} in "{save_dir}" were moved to '
                  f'"{folder}"')
    return folder


@contextlib.contextmanager
def claim_save_dir(save_dir: str, is_main: bool = True, earlier=()):
    """For the length of a run: rank 0 holds ``save_dir`` (:class:`SaveDirLock`) and has
    moved what an earlier run left there of ``earlier`` aside (:func:`set_aside_run`);
    other ranks of a distributed run claim nothing."""
    if not is_main:
        yield
        return
    with SaveDirLock(save_dir):
        set_aside_run(save_dir, earlier)
        yield
