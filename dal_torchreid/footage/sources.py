"""A camera's frames, read once and in order: a video file OpenCV decodes, or ``img1/`` images.

``FOOTAGE/<camera>/`` holds either ``img1/000001.jpg ...`` (the MOTChallenge frame
folder, 1-based six-digit names) or exactly one video file. Frames are yielded in
increasing order and only those asked for are decoded into arrays, so memory does not
grow with the video's length; a video is never sought in (seeking is slow and can be
inexact on compressed video).
"""
from __future__ import annotations

import glob
import os
import os.path as osp
from typing import Iterable, Iterator

import cv2
import numpy as np

VIDEO_SUFFIXES = ('.mp4', '.avi', '.mkv', '.mov', '.mpg', '.mpeg', '.webm', '.m4v', '.wmv')
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp')


class FootageError(ValueError):
    """A camera's footage that is missing or cannot be decoded, with the file (and frame)."""


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
        else:
            videos = sorted(f for f in os.listdir(folder)
                            if osp.splitext(f)[1].lower() in VIDEO_SUFFIXES)
            if len(videos) != 1:
                found = f'{len(videos)} video files ({", ".join(videos)})' if videos else 'none'
                raise FootageError(f'camera folder "{folder}" must hold img1/ or one video file '
                                   f'({", ".join(VIDEO_SUFFIXES)}); found {found}')
            self.video = osp.join(folder, videos[0])
            self.images = None
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
        files = sorted(f for f in os.listdir(self.images)
                       if osp.splitext(f)[1].lower() in IMAGE_SUFFIXES)
        if not files:
            raise FootageError(f'frame folder "{self.images}" holds no images')
        first = cv2.imread(osp.join(self.images, files[0]))
        if first is None:
            raise FootageError(f'frame "{osp.join(self.images, files[0])}" cannot be decoded')
        return first.shape[1], first.shape[0], len(files)

    def frame_path(self, number: int) -> str:
        """The image file of frame ``number`` (1-based) in ``img1/``."""
        stem = osp.join(self.images, f'{number:06d}')
        found = glob.glob(glob.escape(stem) + '.*')
        return found[0] if found else stem + '.jpg'

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
                yield number, image
        finally:
            capture.release()
