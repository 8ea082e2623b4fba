"""Tracker output to a tracklet data set: crops of every kept track, with a manifest.

:func:`make_tracklets` reads ``TRACKS/<camera>.txt`` (a single-camera tracker's
MOTChallenge output) and ``FOOTAGE/<camera>/`` (a video or ``img1/`` frames) and writes
``ROOT/NAME/`` in the form :mod:`dal_torchreid.footage.manifest` describes.

Boxes are clipped to the frame (after optional padding); low-confidence boxes, boxes
smaller than a minimum and tracks left shorter than a minimum are dropped and counted;
a track keeps at most ``max_frames`` of its boxes, spread evenly over it. Each camera
is decoded once, in order; a camera whose ``manifest.csv`` exists, cut with the same
settings from the same sources (``camera.json`` records their fingerprints), is not
redone, so a stopped run continues where it stopped; one whose footage or tracker file
changed is cut again.

The user's files are never written: ``ROOT/NAME`` may not be, hold or lie inside the
footage or tracks folder; only folders this tool made (a camera folder with
``camera.json``) are ever replaced; a lock (``ROOT/NAME/run.lock``) keeps a second run
out while one writes.
"""
from __future__ import annotations

import csv
import json
import os
import os.path as osp
import shutil
import sys
import time
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from dal_torchreid.data.datamanager import registered_video_datasets
from dal_torchreid.files.save_dir import SaveDirLock
from dal_torchreid.footage.dataset import is_footage_dataset
from dal_torchreid.footage.fingerprint import camera_fingerprint, same_sources
from dal_torchreid.footage.folders import check_dataset_name, check_output_folder
from dal_torchreid.footage.manifest import CAMERA_INFO, INFO, MANIFEST, write_manifest
from dal_torchreid.footage.sources import CameraFootage, FootageError
from dal_torchreid.footage.tracks import CONF, FRAME, HEIGHT, ID, LEFT, TOP, WIDTH, read_mot_file

STAGING_MARK = '.dal-make-tracklets'  # in a staging folder the tool made
_JPEG = [cv2.IMWRITE_JPEG_QUALITY, 95]


@dataclass(frozen=True)
class TrackletSettings:
    """How tracker boxes become crops.

    Args:
        min_conf (float): boxes of lower confidence are dropped.
        min_height, min_width (int): clipped boxes smaller than this (pixels) are dropped.
        min_length (int): tracks with fewer boxes left are dropped.
        max_frames (int): most crops per track, spread evenly over it (0: all).
        padding (float): each side grows by this fraction of the box's size before clipping.

    Examples::

        settings = TrackletSettings(min_conf=0.5, min_length=5, max_frames=32)
    """

    min_conf: float = 0.0
    min_height: int = 16
    min_width: int = 8
    min_length: int = 4
    max_frames: int = 32
    padding: float = 0.0

    def __post_init__(self):
        for name, ok, what in (('min_height', self.min_height >= 1, '>= 1'),
                               ('min_width', self.min_width >= 1, '>= 1'),
                               ('min_length', self.min_length >= 1, '>= 1'),
                               ('max_frames', self.max_frames >= 0, '>= 0 (0: all)'),
                               ('padding', 0 <= self.padding <= 1, 'in [0, 1]')):
            if not ok:
                raise ValueError(f'{name} must be {what}, got {getattr(self, name)!r}')


def list_cameras(footage: str, tracks: str) -> list[str]:
    """The cameras: one ``TRACKS/<camera>.txt`` each, each with a ``FOOTAGE/<camera>/``.

    Raises :class:`~dal_torchreid.footage.sources.FootageError` naming a camera
    that has tracks but no footage folder, or footage but no tracks file.
    """
    for folder, what in ((footage, 'footage folder'), (tracks, 'tracks folder')):
        if not osp.isdir(folder):
            raise FootageError(f'{what} "{folder}" does not exist')
    with_tracks = sorted(f[:-4] for f in os.listdir(tracks) if f.endswith('.txt'))
    with_footage = sorted(d for d in os.listdir(footage)
                          if osp.isdir(osp.join(footage, d)) and not d.startswith('.'))
    if not with_tracks:
        raise FootageError(f'tracks folder "{tracks}" holds no <camera>.txt file')
    for camera in with_tracks:
        if camera not in with_footage:
            raise FootageError(f'camera "{camera}": "{osp.join(tracks, camera + ".txt")}" has no '
                               f'footage folder "{osp.join(footage, camera)}"')
    for camera in with_footage:
        if camera not in with_tracks:
            raise FootageError(f'camera "{camera}": footage folder "{osp.join(footage, camera)}" '
                               f'has no tracks file "{osp.join(tracks, camera + ".txt")}"')
    return with_tracks


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
    sorted by frame then track; counts of ``boxes``, ``boxes_low_conf``,
    ``boxes_small``, ``boxes_duplicate`` (a second box of one track in one frame),
    ``tracks``, ``tracks_short``, ``tracks_kept`` and ``crops``.
    """
    counts = {'boxes': len(rows)}
    confident = rows[:, CONF] >= settings.min_conf
    boxes = _clip_boxes(rows, width, height, settings.padding)
    big = (boxes[:, 2] >= settings.min_width) & (boxes[:, 3] >= settings.min_height)
    counts['boxes_low_conf'] = int((~confident).sum())
    counts['boxes_small'] = int((confident & ~big).sum())
    keep = confident & big
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
        with open(osp.join(staging, CAMERA_INFO), 'w') as f:
            json.dump({'settings': asdict(settings), 'source': footage.source,
                       'tracks': osp.abspath(tracks_file), 'fingerprint': fingerprint,
                       'counts': counts}, f, indent=2)
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
        and counts, and which cameras were kept from an earlier run.

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
    with SaveDirLock(folder, what='data set folder (--root/--name)'):
        check_own_folders(folder, cameras)
        info = {'footage': osp.abspath(footage), 'tracks': osp.abspath(tracks),
                'settings': asdict(settings), 'cameras': {}, 'kept_from_earlier_run': []}
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
        with open(osp.join(folder, INFO), 'w') as f:
            json.dump(info, f, indent=2)
    return info


def _earlier_cut(folder: str, camera: str, settings: TrackletSettings) -> dict | None:
    """The ``camera.json`` of a finished earlier cut of ``camera`` in ``folder``, or None.
    Raises :class:`FootageError` when it was cut with other settings."""
    done = osp.join(folder, camera, CAMERA_INFO)
    if not (osp.isfile(done) and osp.isfile(osp.join(folder, camera, MANIFEST))):
        return None
    with open(done) as f:
        earlier = json.load(f)
    if earlier['settings'] != asdict(settings):
        raise FootageError(f'camera "{camera}" in "{folder}" was made with other settings '
                           f'({earlier["settings"]}); use another --name, or remove '
                           f'"{osp.join(folder, camera)}" to redo it')
    return earlier
