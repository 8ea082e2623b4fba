"""What ``dal-search`` runs: one person's query against a footage's tracklets or a stored gallery.

Two places to search:

* a tracklet data set (``ROOT/NAME``, :func:`search_dataset`): every tracklet's feature is
  extracted with the model (as ``dal-associate`` extracts them), then ranked;
* a gallery an association wrote (``OUT/gallery.pth``, :func:`search_stored_gallery`):
  its stored features are ranked as they are, nothing is extracted; each hit carries its
  global id and session (its batch of footage), and the gallery's camera links are used
  where the association recorded them.

The query is a tracklet of what is searched (``CAMERA:TRACK``, :func:`parse_track`), or
crops of a person given as image files (their features pooled as a tracklet's, with the
model; for a gallery, only the model that made it,
:func:`~dal_torchreid.footage.gallery.check_compatible`).
Ranking is :func:`~dal_torchreid.footage.search.search`'s: other cameras first, by
similarity. ``OUT/search.csv`` holds every hit, ``OUT/search.html`` shows the best
with thumbnails and a time line (:mod:`~dal_torchreid.footage.search_report`).

Everything checkable without features is checked first, each a one-line error naming
the value or file: the query (:class:`QueryError`), the images, the gallery, ``OUT``
apart from the inputs; then ``OUT`` is locked (``OUT/run.lock``), an earlier search's
files moved into ``OUT/earlier-<time>/`` and every file checked writable.

Examples::

    summary = search_dataset('reid-data', 'shop', 'out/find', model, transform, query='cam1:7')
    summary = search_stored_gallery('out/shop', 'out/find', query='cam2:14')
"""
from __future__ import annotations

import os.path as osp
import warnings
from dataclasses import dataclass
from typing import Sequence

import cv2
from torch import nn

from dal_torchreid.data.datamanager import DataLayoutError
from dal_torchreid.files.errors import check_writable
from dal_torchreid.files.save_dir import SaveDirLock, set_aside_run_folder
from dal_torchreid.footage.association import on_gpu, tracklet_features
from dal_torchreid.footage.carried_ids import gallery_folder, transform_fingerprint
from dal_torchreid.footage.dataset import read_footage_tracklets
from dal_torchreid.footage.folders import check_output_folder, overlap
from dal_torchreid.footage.gallery import Gallery, check_compatible, load_gallery
from dal_torchreid.footage.manifest import dataset_sources
from dal_torchreid.footage.sources import FootageError
from dal_torchreid.footage.camera_links import TransitTimes
from dal_torchreid.footage.search import SearchHit, search
from dal_torchreid.footage.search_report import ReportQuery, write_search_csv, write_search_report
from dal_torchreid.footage.tracklet_table import TrackletTable

SEARCH_CSV, SEARCH_HTML, SEARCH_THUMBS = 'search.csv', 'search.html', 'thumbs'
SEARCH_FILES = (SEARCH_CSV, SEARCH_HTML, SEARCH_THUMBS)  # the first dates an earlier search


class QueryError(ValueError):
    """A query that names no tracklet of what is searched, or is no query at all."""


@dataclass
class QueryCrops:
    """Crops of a person given as images: a tracklet to :func:`tracklet_features`."""

    paths: list


def parse_track(text: str) -> tuple[str, int]:
    """``(camera, track)`` of ``CAMERA:TRACK`` (a camera name may hold ``:``; the track is
    after the last one). Raises :class:`QueryError` naming ``text``.

    Examples::

        parse_track('cam1:7')  # ('cam1', 7)
    """
    camera, _, track = str(text).rpartition(':')
    try:
        number = int(track)
    except ValueError:
        number = None
    if not camera or number is None:
        raise QueryError(f'--query "{text}": give CAMERA:TRACK, a camera and the tracker\'s id '
                         'of one of its tracks (e.g. cam1:7)')
    return camera, number


def check_query_images(paths: Sequence[str]) -> None:
    """Raises ``FileNotFoundError`` or :class:`QueryError` naming the first of ``paths``
    that is missing or is not an image OpenCV decodes."""
    for path in paths:
        if not osp.isfile(path):
            raise FileNotFoundError(f'--query-image "{path}" does not exist')
        if cv2.imread(path) is None:
            raise QueryError(f'--query-image "{path}" cannot be read as an image')


def query_row(table: TrackletTable, camera: str, track: int, session: int | None,
              where: str) -> int:
    """The row of ``camera:track`` (of ``session``) in ``table``, or a :class:`QueryError`
    saying whether the camera, the track or the session is not there (``where``: what is
    searched)."""
    cameras = sorted(set(table.cameras))
    text = f'--query "{camera}:{track}"'
    if camera not in cameras:
        raise QueryError(f'{text}: {where} has no camera "{camera}" (its cameras: '
                         f'{", ".join(cameras)})')
    rows = [i for i, (c, t) in enumerate(zip(table.cameras, table.tracks))
            if c == camera and t == track]
    if session is not None:
        rows = [i for i in rows if table.sessions[i] == session]
    sessions = sorted({table.sessions[i] for i in rows})
    if not rows:
        tracks = sorted({t for c, t, s in zip(table.cameras, table.tracks, table.sessions)
                         if c == camera and session in (None, s)})
        said = '' if session is None else f' in session {session}'
        raise QueryError(f'{text}: camera "{camera}" of {where} has no track {track}{said} '
                         f'(its tracks: {_ranges(tracks)})')
    if len(rows) > 1:
        raise QueryError(f'{text} names a tracklet in sessions {", ".join(map(str, sessions))} '
                         f'of {where}: add --session with one of them')
    return rows[0]


def _ranges(numbers: Sequence[int]) -> str:
    """``1-4, 7, 9-10`` of sorted whole numbers (at most 12 parts shown)."""
    parts, start = [], None
    for i, n in enumerate(numbers):
        if start is None:
            start = n
        if i + 1 == len(numbers) or numbers[i + 1] != n + 1:
            parts.append(str(start) if start == n else f'{start}-{n}')
            start = None
    return ', '.join(parts[:12]) + (', ...' if len(parts) > 12 else '')


def check_search_output(out: str, inputs: dict, images: Sequence[str]) -> None:
    """Raises :class:`~dal_torchreid.footage.sources.FootageError` when ``OUT`` is, holds or
    lies inside one of ``inputs`` (name: folder), or is or holds a query image's folder:
    a search never writes among the files it reads."""
    check_output_folder(out, '--out', inputs)
    for path in images:
        folder = osp.dirname(osp.abspath(path))
        if overlap(out, folder) in ('is', 'holds'):
            check_output_folder(out, '--out', {'query image\'s': folder})


def _prepare(out: str) -> None:
    """An earlier search's files in ``OUT`` moved aside; this one's checked writable."""
    set_aside_run_folder(out, SEARCH_FILES)
    check_writable([osp.join(out, SEARCH_CSV), osp.join(out, SEARCH_HTML),
                    osp.join(out, SEARCH_THUMBS, 'query-00.jpg')])


def image_feature(model: nn.Module, transform, paths: Sequence[str], pooling_method: str,
                  batch_size: int = 64):
    """The ``(D,)`` feature of crops given as images, pooled as a tracklet's (and
    normalised), on the model's device."""
    return tracklet_features(model, [QueryCrops(list(paths))], transform, pooling_method,
                             batch_size, on_gpu(model))[0]


def write_search(out: str, query: ReportQuery, hits: Sequence[SearchHit], crops) -> dict:
    """Writes ``OUT/search.csv`` (every hit) and ``OUT/search.html`` (the best, with
    thumbnails); returns what was written and the best hits, for the summary."""
    csv_path = write_search_csv(osp.join(out, SEARCH_CSV), hits)
    html = write_search_report(osp.join(out, SEARCH_HTML), query, hits, crops, csv_file=SEARCH_CSV)
    return {'query': query.label, 'hits': len(hits), 'csv': csv_path, 'html': html,
            'sessions': len({h.session for h in hits} | {query.session}),
            'best': [{'rank': h.rank, 'camera': h.camera, 'track': h.track,
                      'session': h.session, 'first': h.first, 'last': h.last,
                      'similarity': round(h.similarity, 4), 'global_id': h.global_id,
                      'other_camera': h.other_camera} for h in hits[:10]]}


def _image_label(images: Sequence[str]) -> str:
    return (f'"{osp.basename(images[0])}"' if len(images) == 1
            else f'{len(images)} images ("{osp.basename(images[0])}", ...)')


def search_dataset(root: str, name: str, out: str, model: nn.Module, transform, *,
                   query: str | None = None, images: Sequence[str] = (),
                   pooling_method: str = 'avg', batch_size: int = 64,
                   top_k: int | None = None) -> dict:
    """Ranks every tracklet of data set ``ROOT/NAME`` by similarity to the query; writes ``OUT``.

    Args:
        root (str), name (str): the tracklet data set (``dal-make-tracklets``).
        out (str): output folder: ``search.csv``, ``search.html`` and ``thumbs/``.
        model (nn.Module): the backbone features are extracted with (eval mode).
        transform: its test transform (torchreid's ``build_transforms``).
        query (str, optional): ``CAMERA:TRACK``, a tracklet of the data set.
        images (sequence of str): or crops of the person as image files.
        pooling_method (str), batch_size (int): as ``dal-associate`` extracts features.
        top_k (int, optional): hits kept; default all.

    Returns:
        dict: the query, the number of hits, the files written and the ten best hits.

    Examples::

        summary = search_dataset('reid-data', 'shop', 'out/find', model, transform,
                                 query='cam1:7')
    """
    if bool(query) == bool(images):
        raise QueryError('give one query: --query CAMERA:TRACK or --query-image CROP.jpg')
    folder = osp.join(root, name)
    tracklets = read_footage_tracklets(folder)
    table = TrackletTable.from_tracklets(tracklets)
    where = f'data set "{folder}"'
    row = None
    if query:
        row = query_row(table, *parse_track(query), None, where)
    check_query_images(images)
    sources = dataset_sources(root, name)
    check_search_output(out, {'tracklet data set': folder,
                              'data set\'s footage': sources.get('footage'),
                              'data set\'s tracks': sources.get('tracks')}, images)
    with SaveDirLock(out, what='--out'):
        _prepare(out)
        features = tracklet_features(model, tracklets, transform, pooling_method, batch_size,
                                     on_gpu(model))
        if row is not None:
            t = tracklets[row]
            hits = search(features, (t.camera, t.track), tracklets=table, top_k=top_k)
            report = ReportQuery(f'{t.camera} track {t.track}', t.paths, t.camera, t.first,
                                 t.last)
        else:
            feature = image_feature(model, transform, images, pooling_method, batch_size)
            hits = search(features, feature.cpu(), tracklets=table, top_k=top_k)
            report = ReportQuery(_image_label(images), list(images))
        return write_search(out, report, hits, {(t.camera, t.track): t.paths for t in tracklets})


def session_inputs(session: int, folder: str) -> dict:
    """The folders of a gallery session that ``--out`` must keep out of: its tracklet data
    set and, where that data set still says, the footage and tracks it was cut from."""
    inputs = {f'session {session}\'s tracklet data set': folder}
    try:
        sources = dataset_sources(osp.dirname(folder), osp.basename(folder))
    except (OSError, FootageError):  # a data set gone since: its crops are shown as gone too
        return inputs
    inputs[f'session {session}\'s footage'] = sources.get('footage')
    inputs[f'session {session}\'s tracks'] = sources.get('tracks')
    return inputs


def stored_camera_links(gallery: Gallery) -> TransitTimes | None:
    """The camera links the association recorded in ``gallery.camera_links``, asked by
    camera name (:class:`~dal_torchreid.footage.camera_links.TransitTimes`): None when it
    recorded none or did not use them. A record this version cannot read is said in a
    warning, and the search goes on by appearance only."""
    record = gallery.camera_links
    if not record or not record.get('links'):
        return None
    try:
        return TransitTimes.from_dict(record)
    except (ValueError, KeyError, TypeError, IndexError) as err:
        warnings.warn(f'{gallery.name} records camera links in a form this version cannot '
                      f'use ({err}): the search ranks by appearance only')
        return None


class SessionCrops:
    """Each hit's crops, from the tracklet data set of its session (``gallery.sources``);
    a session whose data set is gone is shown without pictures, with one warning."""

    def __init__(self, gallery: Gallery) -> None:
        self.sources = gallery.sources
        self.loaded: dict[int, dict] = {}

    def paths(self, session: int, camera: str, track: int) -> list:
        if session not in self.loaded:
            folder = self.sources[session] if session < len(self.sources) else ''
            try:
                found = {(t.camera, t.track): t.paths for t in read_footage_tracklets(folder)} \
                    if folder else {}
            except (OSError, ValueError, DataLayoutError) as err:
                warnings.warn(f'session {session}: its crops are not shown ({err})')
                found = {}
            found = {k: v for k, v in found.items() if v and osp.isfile(v[len(v) // 2])}
            self.loaded[session] = found
        return self.loaded[session].get((camera, track), [])

    def __call__(self, hit: SearchHit) -> list:
        return self.paths(hit.session, hit.camera, hit.track)


def search_stored_gallery(gallery: str, out: str, *, query: str | None = None,
                          session: int | None = None, images: Sequence[str] = (),
                          model: nn.Module | None = None, transform=None,
                          pooling_method: str = 'avg', batch_size: int = 64,
                          top_k: int | None = None) -> dict:
    """Ranks the tracklets of a stored gallery by similarity to the query; writes ``OUT``.

    Nothing is extracted for a query by track; query images need the model that made
    the gallery (refused otherwise, before any feature is computed).

    Args:
        gallery (str): an association's ``OUT`` (or its ``gallery.pth``).
        out (str): output folder: ``search.csv``, ``search.html`` and ``thumbs/``.
        query (str, optional): ``CAMERA:TRACK`` of a tracklet in the gallery.
        session (int, optional): its session, where several hold ``CAMERA:TRACK``.
        images (sequence of str): or crops of the person as image files; then ``model``
            and ``transform`` are needed.
        model (nn.Module, optional), transform, pooling_method (str), batch_size (int):
            for ``images``.
        top_k (int, optional): hits kept; default all.

    Returns:
        dict: the query, the number of hits, the files written and the ten best hits.

    Examples::

        summary = search_stored_gallery('out/shop', 'out/find', query='cam2:14')
    """
    if bool(query) == bool(images):
        raise QueryError('give one query: --query CAMERA:TRACK or --query-image CROP.jpg')
    stored = load_gallery(gallery)
    where = stored.name
    row = None
    if query:
        row = query_row(stored.table, *parse_track(query), session, where)
    check_query_images(images)
    if images:
        if model is None or transform is None:
            raise QueryError('--query-image needs the model that made the gallery (model.name, '
                             'model.load_weights, data.height, data.width)')
        check_compatible(stored, transform_fingerprint(model, transform, pooling_method))
    inputs = {'gallery': gallery_folder(gallery)}
    for s, folder in enumerate(stored.sources):
        if folder:
            inputs.update(session_inputs(s, folder))
    check_search_output(out, inputs, images)
    crops = SessionCrops(stored)
    with SaveDirLock(out, what='--out'):
        _prepare(out)
        if row is not None:
            t = stored.table
            key = (t.sessions[row], t.cameras[row], t.tracks[row])
            hits = search(stored, key, top_k=top_k, camera_links=stored_camera_links(stored))
            report = ReportQuery(f'{key[1]} track {key[2]}'
                                 + (f' (session {key[0]})' if len(set(t.sessions)) > 1 else ''),
                                 crops.paths(*key), key[1], t.first[row], t.last[row], key[0])
        else:
            feature = image_feature(model, transform, images, pooling_method, batch_size)
            hits = search(stored, feature.cpu(), top_k=top_k)
            report = ReportQuery(_image_label(images), list(images))
        return write_search(out, report, hits, crops)
