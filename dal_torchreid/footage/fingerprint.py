"""What a camera of a tracklet data set was cut from: its footage and tracker file, fingerprinted.

``ROOT/NAME/<camera>/camera.json`` records :func:`camera_fingerprint` of the camera's
sources. A re-run of ``dal-make-tracklets`` keeps a camera only when its sources are
the same (another ``--tracks`` or ``--footage``, or a tracker file edited in place, cuts
it again), and ``dal-associate`` refuses a tracker file whose content is not the one
the crops were cut from (its boxes would not match the data set's tracks).

A tracker file is fingerprinted by content (size and SHA-256: cheap for text); a video
by path, size and modification time (hashing gigabytes would cost as much as decoding
them); a frame folder by its image names, total size and newest modification time.

Examples::

    fingerprint = camera_fingerprint(CameraFootage('footage/cam1'), 'tracks/cam1.txt')
    same = fingerprint == json.load(open('reid-data/shop/cam1/camera.json'))['fingerprint']
"""
from __future__ import annotations

import hashlib
import os
import os.path as osp

from dal_torchreid.footage.sources import IMAGE_SUFFIXES, CameraFootage

_CHUNK = 1 << 20


def tracks_fingerprint(path: str) -> dict:
    """``{'path', 'size', 'sha256'}`` of a tracker file."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(_CHUNK), b''):
            digest.update(block)
    return {'path': osp.abspath(path), 'size': os.path.getsize(path),
            'sha256': digest.hexdigest()}


def footage_fingerprint(footage: CameraFootage) -> dict:
    """``{'path', 'size', 'mtime_ns'}`` of a camera's video, or of its frame folder (total
    size, newest time, and ``files``: a hash of the image names)."""
    if footage.video is not None:
        stat = os.stat(footage.video)
        return {'path': osp.abspath(footage.video), 'size': stat.st_size,
                'mtime_ns': stat.st_mtime_ns}
    names = sorted(f for f in os.listdir(footage.images)
                   if osp.splitext(f)[1].lower() in IMAGE_SUFFIXES)
    stats = [os.stat(osp.join(footage.images, name)) for name in names]
    return {'path': osp.abspath(footage.images), 'size': sum(s.st_size for s in stats),
            'mtime_ns': max((s.st_mtime_ns for s in stats), default=0),
            'files': hashlib.sha256('\n'.join(names).encode()).hexdigest()}


def camera_fingerprint(footage: CameraFootage, tracks_file: str) -> dict:
    """``{'footage': ..., 'tracks': ...}``: what ``camera.json`` records of a camera's sources."""
    return {'footage': footage_fingerprint(footage), 'tracks': tracks_fingerprint(tracks_file)}


def same_sources(a: dict | None, b: dict) -> bool:
    """Whether two :func:`camera_fingerprint` s name the same footage and tracker content."""
    return bool(a) and a.get('footage') == b['footage'] and same_tracks_content(
        a.get('tracks') or {}, b['tracks'])


def same_tracks_content(a: dict, b: dict) -> bool:
    """Whether two tracker-file fingerprints have the same content (wherever the files lie)."""
    return (a.get('size'), a.get('sha256')) == (b.get('size'), b.get('sha256'))
