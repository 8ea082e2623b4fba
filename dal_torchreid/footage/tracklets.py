"""Tracker output to a tracklet data set: crops of every kept track, with a manifest.

:func:`make_tracklets` reads ``TRACKS/<camera>.txt`` (a single-camera tracker's
MOTChallenge output) and ``FOOTAGE/<camera>/`` (a video or ``img1/`` frames) and writes
``ROOT/NAME/`` in the form :mod:`dal_torchreid.footage.manifest` describes.

Boxes are clipped to the frame (after optional padding); boxes of other classes than
the kept ones (the MOTChallenge class column, 8th, where it holds one), low-confidence
boxes, boxes smaller than a minimum, a second box of one track in one frame, and tracks
left shorter than a minimum are dropped and counted; a track keeps at most
``max_frames`` of its boxes, spread evenly over it. A class or confidence of ``-1`` is
"not given": such a box is never dropped for it. Each camera
is decoded once, in order; a camera whose ``manifest.csv`` exists, cut with the same
settings from the same sources (``camera.json`` records their fingerprints), is not
redone, so a stopped run continues where it stopped; one whose footage or tracker file
changed is cut again.

The user's files are never written: ``ROOT/NAME`` may not be, hold or lie inside the
footage or tracks folder; only folders this tool made (a camera folder with
``camera.json``) are ever replaced; a lock (``ROOT/NAME/run.lock``) keeps a second run
out while one writes. Hidden cameras (a name starting with ``.``) are skipped and said;
a camera named as one of the data set's own files (``manifest.csv``, ...) is refused.
"""
from __future__ import annotations

import csv
import json
import math
import os
import os.path as osp
import shutil
import sys
import time
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from dal_torchreid.data.datamanager import registered_video_datasets
from dal_torchreid.files.save_dir import LOCK_FILE, SaveDirLock
from dal_torchreid.footage.dataset import is_footage_dataset
from dal_torchreid.footage.fingerprint import camera_fingerprint, same_sources
from dal_torchreid.footage.folders import check_dataset_name, check_output_folder
from dal_torchreid.footage.manifest import (
    CAMERA_INFO, INFO, MANIFEST, read_json, temporary_path, write_json, write_manifest
)
from dal_torchreid.footage.sources import CameraFootage, FootageError, check_regular_file
from dal_torchreid.footage.tracks import (
    CLASS, CONF, FRAME, HEIGHT, ID, LEFT, NOT_GIVEN, TOP, WIDTH, read_mot_file
)

STAGING_MARK = '.dal-make-tracklets'  # in a staging folder the tool made
PERSON = 1
"""The MOTChallenge class of a pedestrian: the class kept by default."""
_JPEG = [cv2.IMWRITE_JPEG_QUALITY, 95]
# Files of the data set folder ROOT/NAME itself: no camera may take one of these names.
DATA_SET_FILES = (MANIFEST, INFO, LOCK_FILE, temporary_path(MANIFEST), temporary_path(INFO))


@dataclass(frozen=True)
class TrackletSettings:
    """How tracker boxes become crops.

    Args:
        min_conf (float, optional): boxes of lower confidence are dropped; None keeps
            all. A box whose confidence is -1 (not given) is never dropped for it.
        classes (tuple, optional): the classes kept where the 8th column holds one
            (MOTChallenge: 1 is a pedestrian); -1 there (not given) is always kept; None
            keeps every class.
        min_height, min_width (int): clipped boxes smaller than this (pixels) are dropped.
        min_length (int): tracks with fewer boxes left are dropped.
        max_frames (int): most crops per track, spread evenly over it (0: all).
        padding (float): each side grows by this fraction of the box's size before clipping.

    Examples::

        settings = TrackletSettings(min_conf=0.5, min_length=5, max_frames=32)
        settings = TrackletSettings(classes=(1, 2))  # pedestrians and persons on vehicles
    """

    min_conf: float | None = None
    classes: tuple[int, ...] | None = (PERSON,)
    min_height: int = 16
    min_width: int = 8
    min_length: int = 4
    max_frames: int = 32
    padding: float = 0.0

    def __post_init__(self):
        if self.min_conf is not None and not math.isfinite(self.min_conf):
            raise ValueError(f'min_conf must be a finite number (or None: keep all), got '
                             f'{self.min_conf!r}')
        if self.classes is not None:
            classes = tuple(self.classes)
            if not classes or not all(float(c) == int(c) >= 0 for c in classes):
                raise ValueError(f'classes must be whole numbers >= 0 (or None: keep all), '
                                 f'got {self.classes!r}')
            object.__setattr__(self, 'classes', tuple(int(c) for c in classes))
        for name, ok, what in (('min_height', self.min_height >= 1, '>= 1'),
                               ('min_width', self.min_width >= 1, '>= 1'),
                               ('min_length', self.min_length >= 1, '>= 1'),
                               ('max_frames', self.max_frames >= 0, '>= 0 (0: all)'),
                               ('padding', 0 <= self.padding <= 1, 'in [0, 1]')):
            if not ok:
                raise ValueError(f'{name} must be {what}, got {getattr(self, name)!r}')

    def record(self) -> dict:
        """The settings as ``camera.json`` and ``tracklets.json`` record them (JSON's types:
        what a later run's settings are compared with)."""
        return json.loads(json.dumps(asdict(self)))


def list_cameras(footage: str, tracks: str) -> list[str]:
    """The cameras: one ``TRACKS/<camera>.txt`` each, each with a ``FOOTAGE/<camera>/``;
    hidden ones (:func:`hidden_cameras`) are left out.

    Raises :class:`~dal_torchreid.footage.sources.FootageError` naming a camera
    that has tracks but no footage folder, or footage but no tracks file, whose tracks
    file is not a file, or whose name is one of the data set's own files.
    """
    for folder, what in ((footage, 'footage folder'), (tracks, 'tracks folder')):
        if not osp.isdir(folder):
            raise FootageError(f'{what} "{folder}" does not exist')
    with_tracks = sorted(f[:-4] for f in os.listdir(tracks)
                         if f.endswith('.txt') and not f.startswith('.'))
    with_footage = sorted(d for d in os.listdir(footage)
                          if osp.isdir(osp.join(footage, d)) and not d.startswith('.'))
    if not with_tracks:
        raise FootageError(f'tracks folder "{tracks}" holds no <camera>.txt file')
    for camera in with_tracks:
        check_regular_file(osp.join(tracks, camera + '.txt'), f'camera "{camera}": tracks file')
        if camera in DATA_SET_FILES:
            raise FootageError(f'camera "{camera}" ("{osp.join(tracks, camera + ".txt")}"): '
                               'its folder would take the name of one of the data set\'s own '
                               f'files ({", ".join(DATA_SET_FILES)}); rename the camera (its '
                               'tracks file and footage folder)')
        if camera not in with_footage:
            raise FootageError(f'camera "{camera}": "{osp.join(tracks, camera + ".txt")}" has no '
                               f'footage folder "{osp.join(footage, camera)}"')
    for camera in with_footage:
        if camera not in with_tracks:
            raise FootageError(f'camera "{camera}": footage folder "{osp.join(footage, camera)}" '
                               f'has no tracks file "{osp.join(tracks, camera + ".txt")}"')
    return with_tracks


def hidden_cameras(footage: str, tracks: str) -> list[str]:
    """The tracks files and footage folders skipped as hidden (a name starting with ``.``),
    as paths."""
    return sorted([osp.join(tracks, f) for f in os.listdir(tracks)
                   if f.startswith('.') and f.endswith('.txt')]
                  + [osp.join(footage, d) for d in os.listdir(footage)
                     if d.startswith('.') and osp.isdir(osp.join(footage, d))])


def _clip_boxes(rows: np.ndarray, width: int, height: int, padding: float) -> np.ndarray:
    """``(N, 4)`` integer ``left, top, width, height`` of the padded boxes clipped to the frame."""
    pad_w, pad_h = rows[:, WIDTH] * padding, rows[:, HEIGHT] * padding
    x0 = np.clip(np.floor(rows[:, LEFT] - pad_w), 0, width)
    y0 = np.clip(np.floor(rows[:, TOP] - pad_h), 0, height)
    x1 = np.clip(np.ceil(rows[:, LEFT] + rows[:, WIDTH] + pad_w), 0, width)
    y1 = np.clip(np.ceil(rows[:, TOP] + rows[:, HEIGHT] + pad_h), 0, height)
    return np.stack([x0, y0, x1 - x0, y1 - y0], 1).astype(np.int64)


def select_crops(rows: np.ndarray, width: int, height: int,
                 settings: TrackletSettings) -> tuple[list[tuple], dict]:
    """The crops to cut from tracker ``rows`` of one camera, and what was dropped.

    Returns ``(crops, counts)``: crops as ``(track, frame, left, top, width, height)``
    sorted by frame then track; counts of ``boxes``, ``boxes_other_class`` (with
    ``classes_dropped``: how many of each class), ``boxes_low_conf``, ``boxes_small``,
    ``boxes_duplicate`` (a second box of one track in one frame), ``boxes_without_conf``
    (confidence -1, never dropped for it), ``tracks``, ``tracks_short``,
    ``tracks_kept`` and ``crops``. Each dropped box is counted once, by the first of
    these filters that drops it.
    """
    counts = {'boxes': len(rows)}
    kinds = rows[:, CLASS]
    in_class = np.ones(len(rows), dtype=bool) if settings.classes is None else (
        (kinds == NOT_GIVEN) | np.isin(kinds, settings.classes))
    without_conf = rows[:, CONF] == NOT_GIVEN
    confident = without_conf | (True if settings.min_conf is None
                                else rows[:, CONF] >= settings.min_conf)
    boxes = _clip_boxes(rows, width, height, settings.padding)
    big = (boxes[:, 2] >= settings.min_width) & (boxes[:, 3] >= settings.min_height)
    dropped_kinds, dropped_counts = np.unique(kinds[~in_class], return_counts=True)
    counts['boxes_other_class'] = int((~in_class).sum())
    counts['classes_dropped'] = {f'{k:g}': int(n) for k, n in zip(dropped_kinds, dropped_counts)}
    counts['boxes_without_conf'] = int((in_class & without_conf).sum())
    counts['boxes_low_conf'] = int((in_class & ~confident).sum())
    counts['boxes_small'] = int((in_class & confident & ~big).sum())
    keep = in_class & confident & big
    track_ids = rows[:, ID].astype(np.int64)
    counts['tracks'] = len(np.unique(track_ids))
    crops, short, duplicates = [], 0, 0
    for track in np.unique(track_ids[keep]):
        index = np.flatnonzero(keep & (track_ids == track))
        frames = rows[index, FRAME].astype(np.int64)
        order = np.argsort(frames, kind='stable')
        index, frames = index[order], frames[order]
        first = np.concatenate([[True], frames[1:] != frames[:-1]])
        duplicates += int((~first).sum())
        index = index[first]
        if len(index) < settings.min_length:
            short += 1
            continue
        if settings.max_frames and len(index) > settings.max_frames:
            index = index[np.unique(np.round(np.linspace(0, len(index) - 1,
                                                         settings.max_frames)).astype(int))]
        crops += [(int(track), int(rows[i, FRAME]), *map(int, boxes[i])) for i in index]
    counts['boxes_duplicate'] = duplicates
    counts['tracks_short'] = short
    counts['tracks_kept'] = len({c[0] for c in crops})
    counts['tracks_dropped'] = counts['tracks'] - counts['tracks_kept']
    counts['crops'] = len(crops)
    crops.sort(key=lambda c: (c[1], c[0]))
    return crops, counts


class Progress:
    """A camera's progress line, at most every ``every`` seconds: frame, rate, ETA."""

    def __init__(self, camera: str, last_frame: int, stream=None, every: float = 2.0):
        self.camera, self.last, self.every = camera, max(last_frame, 1), every
        self.stream = stream or sys.stdout
        self.start = self.shown = time.perf_counter()

    def update(self, frame: int, crops: int, final: bool = False) -> None:
        now = time.perf_counter()
        if not final and now - self.shown < self.every:
            return
        self.shown = now
        rate = frame / max(now - self.start, 1e-9)
        eta = (self.last - frame) / rate if rate > 0 else 0.0
        print(f'{self.camera}: frame {frame}/{self.last}, {crops} crops, {rate:.0f} frames/s, '
              f'ETA {eta:.0f} s', file=self.stream, flush=True)


def make_camera_tracklets(footage: CameraFootage, tracks_file: str, folder: str, camera: str,
                          settings: TrackletSettings, stream=None) -> dict:
    """Cuts one camera's crops into ``folder/<camera>/``; returns its counts.

    Crops go to a hidden staging folder first, renamed into place with the camera's
    ``manifest.csv`` once complete, so an interrupted camera leaves no half folder.
    """
    rows = read_mot_file(tracks_file)
    crops, counts = select_crops(rows, footage.width, footage.height, settings)
    fingerprint = camera_fingerprint(footage, tracks_file)
    staging = staging_folder(folder, camera)
    if osp.lexists(staging):  # left by an interrupted run of this tool (checked as ours)
        shutil.rmtree(staging)
    os.makedirs(staging)
    open(osp.join(staging, STAGING_MARK), 'w').close()
    by_frame: dict[int, list[tuple]] = {}
    for crop in crops:
        by_frame.setdefault(crop[1], []).append(crop)
    try:
        progress = Progress(camera, max(by_frame, default=0), stream)
        manifest, written = [], 0
        start = time.perf_counter()
        for number, image in footage.frames(by_frame):
            for track, frame, left, top, width, height in by_frame.pop(number):
                relative = osp.join(camera, f'{track:06d}', f'{frame:06d}.jpg')
                path = osp.join(staging, f'{track:06d}', f'{frame:06d}.jpg')
                os.makedirs(osp.dirname(path), exist_ok=True)
                if not cv2.imwrite(path, image[top:top + height, left:left + width], _JPEG):
                    raise OSError(f'cannot write crop "{path}"')
                source = footage.frame_path(frame) if footage.video is None else footage.video
                manifest.append(dict(crop=relative, camera=camera, track=track, frame=frame,
                                     left=left, top=top, width=width, height=height, source=source))
                written += 1
            progress.update(number, written)
        if crops:
            progress.update(max(c[1] for c in crops), written, final=True)
        counts['seconds'] = round(time.perf_counter() - start, 2)
        counts['last_frame'] = max((c[1] for c in crops), default=0)
        counts['frame_size'] = [footage.width, footage.height]
        write_json(osp.join(staging, CAMERA_INFO),
                   {'settings': settings.record(), 'source': footage.source,
                    'tracks': osp.abspath(tracks_file), 'fingerprint': fingerprint,
                    'counts': counts})
        write_manifest(osp.join(staging, MANIFEST), manifest)
        os.remove(osp.join(staging, STAGING_MARK))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # a camera is whole or absent
        raise
    target = osp.join(folder, camera)
    if osp.lexists(target):  # an earlier cut of this camera (checked as the tool's own)
        shutil.rmtree(target)
    os.rename(staging, target)
    return counts


def staging_folder(folder: str, camera: str) -> str:
    """Where a camera's crops are cut before they are renamed into ``folder/<camera>``."""
    return osp.join(folder, f'.{camera}.partial')


def finished_cameras(folder: str) -> list[str]:
    """The cameras of ``folder`` (``ROOT/NAME``) cut whole (``camera.json`` and
    ``manifest.csv``): what a later run keeps."""
    if not osp.isdir(folder):
        return []
    return sorted(d for d in os.listdir(folder) if not d.startswith('.')
                  and osp.isfile(osp.join(folder, d, CAMERA_INFO))
                  and osp.isfile(osp.join(folder, d, MANIFEST)))


def check_own_folders(folder: str, cameras: list[str]) -> None:
    """Raises :class:`FootageError` when ``folder/<camera>`` (or its staging folder) exists
    and was not made by this tool: the tool replaces only folders it made (a camera folder
    with ``camera.json``, a staging folder with its mark), never a user's."""
    for camera in cameras:
        target, staging = osp.join(folder, camera), staging_folder(folder, camera)
        if osp.lexists(target) and not (osp.isdir(target) and not osp.islink(target)
                                        and osp.isfile(osp.join(target, CAMERA_INFO))):
            raise FootageError(f'"{target}" exists and was not made by dal-make-tracklets (no '
                               f'{CAMERA_INFO}): it is never replaced; move it away or choose '
                               'another --root or --name')
        if osp.lexists(staging) and not (osp.isdir(staging) and not osp.islink(staging)
                                         and osp.isfile(osp.join(staging, STAGING_MARK))):
            raise FootageError(f'"{staging}" exists and was not made by dal-make-tracklets: it '
                               'is never deleted; move it away or choose another --root or '
                               '--name')


def make_tracklets(footage: str, tracks: str, root: str, name: str,
                   settings: TrackletSettings | None = None, stream=None) -> dict:
    """Writes the tracklet data set ``ROOT/NAME`` from footage and tracker output.

    Args:
        footage (str): ``FOOTAGE`` with one folder per camera.
        tracks (str): ``TRACKS`` with one MOTChallenge file per camera.
        root (str): data root.
        name (str): data set name: its folder under ``root``.
        settings (TrackletSettings, optional): the filters; defaults otherwise.
        stream (file, optional): where progress goes (stdout).

    Returns:
        dict: what ``tracklets.json`` holds: settings, cameras with their sources
        and counts, which cameras were kept from an earlier run and which hidden ones
        were skipped.

    Raises :class:`~dal_torchreid.footage.sources.FootageError` or
    :class:`~dal_torchreid.footage.tracks.TrackFileError` naming the file (and
    line or frame) at fault; cameras finished before it stay written.

    Examples::

        info = make_tracklets('footage', 'tracks', 'reid-data', 'shop')
        datamanager = dal_torchreid.footage.footage_datamanager('reid-data', 'shop')
    """
    settings = settings or TrackletSettings()
    check_dataset_name(name)
    if name in registered_video_datasets() and not is_footage_dataset(name):
        raise FootageError(f'--name "{name}" is a torchreid data set\'s: choose another name')
    folder = osp.join(root, name)
    check_output_folder(folder, '--root/--name', {'footage': footage, 'tracks': tracks})
    cameras = list_cameras(footage, tracks)
    sources = {camera: CameraFootage(osp.join(footage, camera)) for camera in cameras}
    out = stream or sys.stdout
    hidden = hidden_cameras(footage, tracks)
    for path in hidden:
        print(f'skipped "{path}": hidden (its name starts with "."); rename it to cut it',
              file=out)
    with SaveDirLock(folder, what='data set folder (--root/--name)'):
        check_own_folders(folder, cameras)
        info = {'footage': osp.abspath(footage), 'tracks': osp.abspath(tracks),
                'settings': settings.record(), 'cameras': {}, 'kept_from_earlier_run': [],
                'skipped_hidden': hidden}
        for camera in cameras:
            tracks_file = osp.join(tracks, camera + '.txt')
            earlier = _earlier_cut(folder, camera, settings)
            if earlier is not None and same_sources(
                    earlier.get('fingerprint'), camera_fingerprint(sources[camera], tracks_file)):
                print(f'{camera}: already done in "{osp.join(folder, camera)}", kept', file=out)
                info['kept_from_earlier_run'].append(camera)
                counts = earlier['counts']
            else:
                if earlier is not None:
                    print(f'{camera}: its footage or tracker file is not the one '
                          f'"{osp.join(folder, camera)}" was cut from: cut again', file=out)
                counts = make_camera_tracklets(sources[camera], tracks_file, folder, camera,
                                               settings, out)
            info['cameras'][camera] = {'source': sources[camera].source, 'counts': counts}
        rows = []
        for camera in cameras:
            with open(osp.join(folder, camera, MANIFEST), newline='') as f:
                rows += list(csv.DictReader(f))
        write_manifest(osp.join(folder, MANIFEST), rows)
        write_json(osp.join(folder, INFO), info)
    return info


def _earlier_cut(folder: str, camera: str, settings: TrackletSettings) -> dict | None:
    """The ``camera.json`` of a finished earlier cut of ``camera`` in ``folder``, or None.
    Raises :class:`FootageError` when it was cut with other settings."""
    done = osp.join(folder, camera, CAMERA_INFO)
    if not (osp.isfile(done) and osp.isfile(osp.join(folder, camera, MANIFEST))):
        return None
    earlier = read_json(done, 'camera record')
    if not isinstance(earlier.get('counts'), dict):  # damaged: this tool's folder, cut again
        return None
    if earlier.get('settings') != settings.record():
        raise FootageError(f'camera "{camera}" in "{folder}" was made with other settings '
                           f'({earlier.get("settings")}); use another --name, or remove '
                           f'"{osp.join(folder, camera)}" to redo it')
    return earlier
