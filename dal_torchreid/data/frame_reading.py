"""Reading video frames without torchreid's endless retry.

torchreid's ``read_image`` retries forever when a file exists but cannot be
decoded, so one corrupt frame hangs a run. :func:`read_frame` tries once and
raises :class:`BadFrameError` naming the file; :class:`FrameReader` adds the
``skip_bad_frames`` policy: warn once per file and let the caller use another
frame of the same tracklet.
"""
from __future__ import annotations

import os
import stat
import warnings
from typing import Sequence

import numpy as np
from PIL import Image

SKIP_BAD_FRAMES = False  # a bad frame is an error naming the file


# PIL modes of 8 bits per channel, which convert('RGB') converts faithfully
EIGHT_BIT_MODES = ('1', 'L', 'LA', 'La', 'P', 'PA', 'RGB', 'RGBA', 'RGBa', 'RGBX', 'CMYK',
                   'YCbCr', 'LAB', 'HSV')


class BadFrameError(OSError):
    """A frame file that is missing, truncated, not a decodable image or not 8 bits deep."""


def _scaled_to_8_bits(img: Image.Image) -> Image.Image:
    """A 16-bit grey image as 8-bit RGB: the high byte of each value."""
    grey = (np.asarray(img, dtype=np.uint16) >> 8).astype(np.uint8)
    return Image.fromarray(grey, 'L').convert('RGB')


# What a path may be other than a regular file, by stat's test.
_NOT_FILES = ((stat.S_ISFIFO, 'a FIFO (named pipe)'), (stat.S_ISDIR, 'a directory'),
              (stat.S_ISSOCK, 'a socket'), (stat.S_ISCHR, 'a character device'),
              (stat.S_ISBLK, 'a block device'))


def _check_regular_file(path: str) -> None:
    """Raises :class:`BadFrameError` unless ``path`` is a regular file (after symlinks),
    before anything opens it: opening a FIFO would wait for a writer forever."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError as err:
        raise BadFrameError(f'frame "{path}" does not exist') from err
    except OSError as err:
        raise BadFrameError(f'frame "{path}" cannot be read: {err.strerror or err}') from err
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _NOT_FILES if test(mode)), 'not a file')
        raise BadFrameError(f'frame "{path}" is {kind}, not an image file')


def read_frame(path: str) -> Image.Image:
    """Reads ``path`` as an RGB PIL image, raising :class:`BadFrameError` if it can't.

    16-bit grey frames (PIL modes ``I;16*``) are scaled to 8 bits (PIL's own
    ``convert('RGB')`` clips them to white); frames of other depths PIL cannot convert
    faithfully (``I``, ``F``) are refused, naming the file, and so is a path that is not a
    regular file (a FIFO would block the read), before it is opened.
    """
    _check_regular_file(path)
    try:
        with Image.open(path) as img:
            if img.mode.startswith('I;16'):
                return _scaled_to_8_bits(img)
            if img.mode not in EIGHT_BIT_MODES:
                raise BadFrameError(f'frame "{path}" has PIL mode "{img.mode}", which is not 8 '
                                    'bits per channel; convert it to 8-bit RGB')
            return img.convert('RGB')
    except FileNotFoundError as err:
        raise BadFrameError(f'frame "{path}" does not exist') from err
    except BadFrameError:
        raise
    except (OSError, ValueError, SyntaxError) as err:
        raise BadFrameError(f'frame "{path}" cannot be read: {err}') from err


class FrameReader:
    """Reads frames of a tracklet under a bad-frame policy, each file once per request.

    Args:
        skip_bad_frames (bool): False (default): a bad frame is an error naming
            the file. True: it is skipped with one warning per file and the next
            readable frame of the same tracklet is used instead; a tracklet with
            no readable frame is an error naming the tracklet.

    Examples::

        reader = FrameReader(skip_bad_frames=True)
        img = reader.read(tracklet_paths, 3, tracklet='training tracklet 7')
    """

    def __init__(self, skip_bad_frames: bool = SKIP_BAD_FRAMES) -> None:
        self.skip_bad_frames = bool(skip_bad_frames)
        self._warned: set[str] = set()

    def read(self, paths: Sequence[str], index: int, tracklet: str = '') -> Image.Image:
        """Frame ``index`` of the tracklet whose frames are ``paths``."""
        if not self.skip_bad_frames:
            return read_frame(paths[index])
        for offset in range(len(paths)):
            path = paths[(index + offset) % len(paths)]
            try:
                return read_frame(path)
            except BadFrameError as err:
                if path not in self._warned:
                    self._warned.add(path)
                    warnings.warn(f'skipping bad frame: {err}')
        first = paths[0] if len(paths) else '?'
        raise BadFrameError(f'tracklet {tracklet} has no readable frame (first frame "{first}")')
