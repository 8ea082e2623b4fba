"""A user's footage and tracker files are read, never written: where the footage tools may write.

``dal-make-tracklets`` deletes and replaces camera folders of its own under
``ROOT/NAME`` and ``dal-associate`` writes ``<camera>.txt`` files into ``OUT``: either
pointed at (or around) the footage or tracks folder would destroy the user's files.
:func:`check_output_folder` refuses an output folder that is, holds or lies inside an
input folder, before anything is written; :func:`check_dataset_name` refuses a data set
name that is not one plain folder name (``''``, ``.``, ``../x`` or an absolute path would
put the data set elsewhere than ``ROOT/NAME``).

Examples::

    check_dataset_name('shop')
    check_output_folder('reid-data/shop', '--root/--name', {'--footage': 'footage'})
"""
from __future__ import annotations

import os
import os.path as osp
from typing import Mapping

from dal_torchreid.footage.sources import FootageError


def _real(path: str) -> str:
    return osp.normcase(osp.realpath(osp.abspath(osp.expanduser(path))))


def _within(inner: str, outer: str) -> bool:
    """Whether ``inner`` is ``outer`` or lies inside it (both real paths)."""
    return inner == outer or inner.startswith(outer.rstrip(os.sep) + os.sep)


def overlap(a: str, b: str) -> str | None:
    """How folders ``a`` and ``b`` overlap once links are resolved: ``'is'``, ``'holds'``
    (``a`` contains ``b``), ``'lies inside'`` (``b`` contains ``a``), or None."""
    ra, rb = _real(a), _real(b)
    if ra == rb:
        return 'is'
    if _within(rb, ra):
        return 'holds'
    if _within(ra, rb):
        return 'lies inside'
    return None


def check_output_folder(out: str, what: str, inputs: Mapping[str, str | None]) -> None:
    """Raises :class:`FootageError` naming both folders when the output folder ``out``
    (named ``what``) is, holds or lies inside one of ``inputs`` (name: folder; empty
    names are skipped)."""
    for name, folder in inputs.items():
        if not folder:
            continue
        how = overlap(out, folder)
        if how:
            raise FootageError(f'{what} "{out}" {how} the {name} folder "{folder}": the tools '
                               'never write among your footage or tracker files; choose an '
                               'output folder outside it')


def check_dataset_name(name: str, what: str = '--name') -> None:
    """Raises :class:`FootageError` unless ``name`` is one plain folder name: not empty,
    not ``.`` or ``..``, no path separator, not hidden (a leading dot)."""
    if (not name or name in ('.', '..') or '/' in name or (os.altsep and os.altsep in name)
            or os.sep in name or name.startswith('.') or name != name.strip()):
        raise FootageError(f'{what} "{name}": a data set name is one plain folder name under '
                           'the data root (letters, digits, "-", "_"; no "/", no leading dot, '
                           'not empty)')
