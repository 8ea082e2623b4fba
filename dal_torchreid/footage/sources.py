"""A camera's frames, read once and in order: a video file OpenCV decodes, or ``img1/`` images.

``FOOTAGE/<camera>/`` holds either ``img1/000001.jpg ...`` (the MOTChallenge frame
folder, 1-based six-digit names) or exactly one video file. Frames are yielded in
increasing order and only those asked for are decoded into arrays, so memory does not
grow with the video's length; a video is never sought in (seeking is slow and can be
inexact on compressed video).

What could put a crop in the wrong place is refused, naming the file: a frame of
another size than the camera's first (boxes are clipped to one frame size), two image
files of one frame number (``000007.jpg`` and ``000007.png``), a folder numbered from
``000000`` (MOTChallenge frames, and tracker files, count from 1), and a video or frame
that is not a regular file (a FIFO would block the reader forever). Image files whose
name is not a number (``._000001.jpg``, ``thumbs.png``) are not frames and are ignored.
"""
from __future__ import annotations

import os
import os.path as osp
from typing import Iterable, Iterator

import cv2
import numpy as np

VIDEO_SUFFIXES = ('.mp4', '.avi', '.mkv', '.mov', '.mpg', '.mpeg', '.webm', '.m4v', '.wmv')
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp')


class FootageError(ValueError):
    """A camera's footage that is missing or cannot be decoded, with the file (and frame)."""


def check_regular_file(path: str, what: str) -> None:
    """Raises ``FileNotFoundError`` naming ``what`` and ``path`` when nothing is there, and
    :class:`FootageError` when it is a folder, a FIFO, a socket or a device: only regular
    files (or links to one) are opened, so a reader never blocks on a FIFO."""
    if osp.isfile(path):
        return
    if osp.isdir(path):
        raise FootageError(f'{what} "{path}" is a folder, not a file')
    if osp.exists(path):
        raise FootageError(f'{what} "{path}" is not a regular file (a FIFO, socket or '
                           'device): only files are read')
    raise FileNotFoundError(f'{what} "{path}" does not exist')


def frame_files(images: str) -> dict[int, str]:
    """``{frame number: file name}`` of the frame folder ``images``: the image files
    named by a number (``000001.jpg``: frame 1).

    Raises :class:`FootageError` naming the folder and files when it holds none, two
    files of one frame, a frame 0 (frames count from 1) or a frame that is not a
    regular file.
    """
    found: dict[int, list[str]] = {}
    with os.scandir(images) as entries:
        for entry in entries:
            stem, suffix = osp.splitext(entry.name)
            if suffix.lower() in IMAGE_SUFFIXES and stem.isascii() and stem.isdigit():
                found.setdefault(int(stem), []).append(entry.name)
    if not found:
        raise FootageError(f'frame folder "{images}" holds no frames (image files named by '
                           f'their 1-based number, 000001.jpg ...; {", ".join(IMAGE_SUFFIXES)})')
    twice = {number: sorted(names) for number, names in found.items() if len(names) > 1}
    if twice:
        number = min(twice)
        raise FootageError(f'frame folder "{images}" holds {len(twice[number])} files of frame '
                           f'{number} ({", ".join(twice[number])}): which is the frame is not '
                           'known; keep one')
    if 0 in found:
        raise FootageError(f'frame folder "{images}" holds "{found[0][0]}" (frame 0): frames '
                           'are numbered from 1, as tracker files count them (000001.jpg is '
                           'frame 1); number the images from 000001 so that each is the frame '
                           'the tracker saw')
    for number, [name] in found.items():
        check_regular_file(osp.join(images, name), 'frame')
    return {number: names[0] for number, names in sorted(found.items())}


class CameraFootage:
    """The frames of one camera folder.

    Args:
        folder (str): ``FOOTAGE/<camera>``.

    Examples::

        footage = CameraFootage('footage/cam1')
        for number, image in footage.frames([1, 5, 9]):  # BGR uint8 arrays
            ...
    """

    def __init__(self, folder: str) -> None:
        if not osp.isdir(folder):
            raise FootageError(f'camera folder "{folder}" does not exist')
        self.folder = folder
        images = osp.join(folder, 'img1')
        if osp.isdir(images):
            self.video = None
            self.images = images
            self.source = images
            self.files = frame_files(images)
        else:
            videos = sorted(f for f in os.listdir(folder)
                            if osp.splitext(f)[1].lower() in VIDEO_SUFFIXES)
            if len(videos) != 1:
                found = f'{len(videos)} video files ({", ".join(videos)})' if videos else 'none'
                raise FootageError(f'camera folder "{folder}" must hold img1/ or one video file '
                                   f'({", ".join(VIDEO_SUFFIXES)}); found {found}')
            self.video = osp.join(folder, videos[0])
            check_regular_file(self.video, 'video')
            self.images = None
            self.files = {}
            self.source = self.video
        self.width, self.height, self.length = self._size()

    def _size(self) -> tuple[int, int, int | None]:
        """``(width, height, number of frames or None when only estimated)``."""
        if self.video is not None:
            capture = cv2.VideoCapture(self.video)
            try:
                if not capture.isOpened():
                    raise FootageError(f'video "{self.video}" cannot be opened by OpenCV')
                width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
                height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
                count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
            finally:
                capture.release()
            if width <= 0 or height <= 0:
                raise FootageError(f'video "{self.video}": OpenCV reads no frame size')
            return width, height, count if count > 0 else None
        first = self.frame_path(min(self.files))
        image = cv2.imread(first)
        if image is None:
            raise FootageError(f'frame "{first}" cannot be decoded')
        return image.shape[1], image.shape[0], len(self.files)

    def frame_path(self, number: int) -> str:
        """The image file of frame ``number`` (1-based) in ``img1/`` (``000042.jpg`` for
        one that is not there)."""
        return osp.join(self.images, self.files.get(number, f'{number:06d}.jpg'))

    def check_size(self, number: int, image: np.ndarray) -> None:
        """Raises :class:`FootageError` naming the frame when ``image`` is not of the
        camera's size (that of its first frame): boxes are clipped to that size."""
        height, width = image.shape[:2]
        if (width, height) != (self.width, self.height):
            if self.video is not None:
                where = f'video "{self.video}": frame {number} is'
                first = 'the video\'s frame size'
            else:
                where = f'frame {number} "{self.frame_path(number)}" is'
                first = f'the first frame "{self.frame_path(min(self.files))}"'
            raise FootageError(f'{where} {width}x{height}, but {first} is {self.width}x'
                               f'{self.height}: all frames of a camera must have one size '
                               '(its boxes are clipped to it)')

    def frames(self, numbers: Iterable[int]) -> Iterator[tuple[int, np.ndarray]]:
        """``(number, BGR image)`` of the 1-based frames ``numbers``, in increasing order.

        Raises :class:`FootageError` naming the file and frame when a frame is missing
        or cannot be decoded (a video that ends before it included).
        """
        wanted = sorted(set(int(n) for n in numbers))
        if self.video is None:
            for number in wanted:
                path = self.frame_path(number)
                image = cv2.imread(path) if osp.isfile(path) else None
                if image is None:
                    state = 'cannot be decoded' if osp.isfile(path) else 'does not exist'
                    raise FootageError(f'frame {number} "{path}" {state}')
                self.check_size(number, image)
                yield number, image
            return
        capture = cv2.VideoCapture(self.video)
        try:
            current = 0
            for number in wanted:
                while current < number - 1:  # skip without converting
                    if not capture.grab():
                        raise FootageError(f'video "{self.video}" ends after frame {current}, '
                                           f'but frame {number} is needed')
                    current += 1
                ok, image = capture.read()
                current += 1
                if not ok or image is None:
                    raise FootageError(f'video "{self.video}": frame {number} cannot be decoded '
                                       f'(the video ends or is damaged after frame {current - 1})')
                self.check_size(number, image)
                yield number, image
        finally:
            capture.release()
