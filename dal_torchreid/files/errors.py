"""Files as the user sees them: a named input that is not a file, a write that failed.

Python's own errors say "No such file or directory" or "Is a directory" without
saying which setting named the path, and torch reports a checkpoint write that
hit a full disk as an unrelated ``RuntimeError``; these errors name the setting
or the file, in one line.
"""
from __future__ import annotations

import contextlib
import os
import os.path as osp
from typing import BinaryIO


class WriteError(OSError):
    """A file a run writes could not be written (a full disk, a file size limit, a
    read-only folder); the message names the file and the reason."""


def default_file_mode() -> int:
    """The permissions of any new file (``0o666`` less the umask): what a file written
    through ``tempfile.mkstemp`` (``0o600``) and a rename should get."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def check_input_file(path: str, what: str) -> None:
    """Raises ``FileNotFoundError`` or ``IsADirectoryError`` naming ``what`` and ``path``
    unless ``path`` is a file.

    Examples::

        check_input_file(cfg.model.resume, 'model.resume: checkpoint')
    """
    if osp.isdir(path):
        raise IsADirectoryError(f'{what} "{path}" is a directory, not a file')
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} "{path}" does not exist')


class RecordedWrites:
    """A binary file that keeps the first ``OSError`` of its writes, for writers (as
    ``torch.save``) that replace it with a message of their own.

    Examples::

        with open(tmp, 'wb') as f:
            recorded = RecordedWrites(f)
            try:
                torch.save(state, recorded)
            except RuntimeError as err:
                raise write_error(path, recorded.error or err) from err
    """

    def __init__(self, f: BinaryIO) -> None:
        self.f, self.error = f, None

    def write(self, data) -> int:
        try:
            return self.f.write(data)
        except OSError as err:
            self.error = self.error or err
            raise

    def flush(self) -> None:
        self.f.flush()


def write_error(path: str, err: BaseException) -> WriteError:
    """A :class:`WriteError` naming ``path`` and the reason of ``err``."""
    reason = getattr(err, 'strerror', None) or str(err).strip().splitlines()[0]
    return WriteError(f'cannot write "{path}": {reason}')


@contextlib.contextmanager
def named_write(path: str):
    """Within: an ``OSError`` of writing ``path`` (a read-only folder, a full disk, a name
    too long) is a :class:`WriteError` naming ``path``.

    Examples::

        with named_write(path), open(path, 'w') as f:
            f.write(text)
    """
    try:
        yield
    except WriteError:
        raise
    except OSError as err:
        raise write_error(path, err) from err


def check_writable(paths) -> None:
    """Raises :class:`WriteError` naming the first of ``paths`` that cannot be created
    (a read-only folder, a name too long, a folder in its place): each is created, empty,
    and removed again, its folder made when missing. Run before work whose results would
    otherwise be lost at the first write."""
    for path in paths:
        with named_write(path):
            folder = osp.dirname(path)
            if folder:
                os.makedirs(folder, exist_ok=True)
            if osp.isdir(path):
                raise WriteError(f'cannot write "{path}": a folder is in its place')
            if osp.lexists(path):
                open(path, 'a').close()  # writable; its content and time unchanged
                continue
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            os.close(fd)
            os.remove(path)
