"""Files as the user sees them: a named input that is not a file, a write that failed.

Python's own errors say "No such file or directory" or "Is a directory" without
saying which setting named the path, and torch reports a checkpoint write that
hit a full disk as an unrelated ``RuntimeError``; these errors name the setting
or the file, in one line.
"""
from __future__ import annotations

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
