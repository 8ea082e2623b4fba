"""A static HTML report of a cross-camera association, with thumbnails.

``report.html`` lies beside a ``thumbs/`` folder (one small JPEG per tracklet: a crop
that no other track's box overlaps where one exists,
:func:`~dal_torchreid.footage.thumbnails.thumbnail_crop`) and needs nothing else: no
script, no network. It shows the counts (and the scores when there was ground truth),
a legend, every identity seen in several cameras with its tracklets side by side per
camera, and each tracklet's best matches in other cameras with their cosine
similarities (green: same global id). Tracks of low confidence or tiny boxes are
outlined and say so (:func:`~dal_torchreid.footage.thumbnails.track_marks`).
Thumbnail links are URL-escaped (a camera named ``a#1`` or ``b?2``); a thumbnail that
cannot be written is a :class:`~dal_torchreid.files.errors.WriteError` naming it.
"""
from __future__ import annotations

import html
import os
import os.path as osp
from typing import Mapping, Sequence
from urllib.parse import quote

import cv2
import numpy as np

from dal_torchreid.files.errors import WriteError, named_write
from dal_torchreid.footage.camera_links_figure import camera_links_figure
from dal_torchreid.footage.linking import how_ids_were_found
from dal_torchreid.footage.thumbnails import (
    LOW_CONFIDENCE, TINY_HEIGHT, boxes_by_frame, thumbnail_crop, track_marks
)
from dal_torchreid.footage.tracks import ID

REPORT = 'report.html'
THUMBS = 'thumbs'
THUMB_HEIGHT = 96
MAX_MATCH_ROWS = 500  # tracklets listed with their matches; the rest are in matches.csv

STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
td, th { border: 1px solid #ccc; padding: 4px; vertical-align: top; text-align: center; }
figure { display: inline-block; margin: 2px; }
figcaption { font-size: 11px; }
img { height: %dpx; }
.same { background: #d8f5d0; } .other { background: #f7e1e1; }
.doubtful img { outline: 3px dashed #e08a00; } .mark { color: #b35f00; }
""" % THUMB_HEIGHT


def thumbnail_path(tracklet) -> str:
    """The thumbnail of a tracklet, relative to the report: ``thumbs/<camera>_<track>.jpg``."""
    return f'{THUMBS}/{tracklet.camera}_{tracklet.track}.jpg'


def _thumbnail(tracklet, folder: str, frame_boxes: Mapping[int, np.ndarray]) -> str:
    """Writes the tracklet's least covered crop (:func:`thumbnail_crop`), ``THUMB_HEIGHT``
    high, under ``folder`` (the report's); returns its path relative to the report."""
    name = thumbnail_path(tracklet)
    write_thumbnail(tracklet.paths[thumbnail_crop(tracklet, frame_boxes)],
                    osp.join(folder, name))
    return name


def write_thumbnail(src: str, dst: str, height: int = THUMB_HEIGHT) -> None:
    """Writes image ``src`` scaled to ``height`` pixels to ``dst`` (the report's and the
    search page's thumbnails). Raises ``FileNotFoundError`` naming ``src`` when it cannot
    be read, and :class:`~dal_torchreid.files.errors.WriteError` naming ``dst`` when it
    cannot be written."""
    image = cv2.imread(src)
    if image is None:
        raise FileNotFoundError(f'crop "{src}" cannot be read (missing, or not an image)')
    scale = height / image.shape[0]
    size = (max(1, round(image.shape[1] * scale)), height)
    image = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    with named_write(dst):
        try:
            written = cv2.imwrite(dst, image)
        except cv2.error as err:
            raise WriteError(f'cannot write thumbnail "{dst}": '
                             f'{str(err).strip().splitlines()[-1]}') from err
        if not written or not osp.isfile(dst):
            raise WriteError(f'cannot write thumbnail "{dst}": OpenCV could not write it')


def _figure(thumb: str, caption: str, marks: Sequence[str] = ()) -> str:
    text = html.escape(caption) + ''.join(f'<br><span class="mark">{html.escape(m)}</span>'
                                          for m in marks)
    kind = ' class="doubtful"' if marks else ''
    return (f'<figure{kind}>'
            f'<img src="{html.escape(quote(thumb))}" alt="{html.escape(caption)}">'
            f'<figcaption>{text}</figcaption></figure>')


def _label(t) -> str:
    return f'{t.camera} #{t.track} f{t.first}-{t.last}'


def _legend() -> str:
    return ('<p id="legend">Legend: <span class="same">green</span>: same global id; '
            '<span class="other">red</span>: another global id; '
            '<span class="mark">dashed outline</span>: a doubtful track (mean tracker '
            f'confidence below {LOW_CONFIDENCE}, or boxes mostly under {TINY_HEIGHT} px high). '
            'Each thumbnail is a crop of its track that overlaps no other box where one exists.'
            '</p>')


def write_report(path: str, association, scores: dict | None = None,
                 tracker_rows: Mapping[str, np.ndarray] | None = None,
                 cameras: Sequence[str] = (), true_links: dict | None = None) -> str:
    """Writes the report of ``association`` (:class:`~dal_torchreid.footage.association.Association`)
    to ``path`` and its thumbnails to ``thumbs/`` beside it; returns ``path``.

    Args:
        path (str): the report's file.
        association: the tracklets, their ids and matches.
        scores (dict, optional): :func:`~dal_torchreid.footage.scores.score_footage`'s.
        tracker_rows (mapping, optional): ``{camera: rows of its tracker file}``
            (:func:`~dal_torchreid.footage.tracks.read_mot_file`): the other boxes a
            thumbnail avoids, and each track's confidence and box heights for its marks.
        cameras (sequence): the data set's cameras, those without a tracklet included.
        true_links (dict, optional): ``{(from, to): (mean, std)}`` true transit times in
            frames (synthetic footage), drawn beside the learned camera links.

    Raises :class:`~dal_torchreid.files.errors.WriteError` naming a thumbnail or the
    report that cannot be written.
    """
    folder = osp.dirname(osp.abspath(path))
    tracker_rows = tracker_rows or {}
    with named_write(osp.join(folder, THUMBS)):
        os.makedirs(osp.join(folder, THUMBS), exist_ok=True)
    ts, ids = association.tracklets, association.ids
    frames = {camera: boxes_by_frame(rows) for camera, rows in tracker_rows.items()}
    thumbs = [_thumbnail(t, folder, frames.get(t.camera, {})) for t in ts]
    marks = [track_marks(_track_rows(tracker_rows.get(t.camera), t.track)) for t in ts]
    cameras = sorted(set(cameras) | {t.camera for t in ts})
    empty = [c for c in cameras if not any(t.camera == c for t in ts)]
    members: dict[int, list[int]] = {}
    for i, pid in enumerate(ids.tolist()):
        members.setdefault(pid, []).append(i)
    several = sorted((pid for pid, m in members.items() if len({ts[i].camera for i in m}) >= 2),
                     key=lambda pid: (-len(members[pid]), pid))
    parts = ['<!DOCTYPE html><html><head><meta charset="utf-8"><title>Cross-camera identities'
             f'</title><style>{STYLE}</style></head><body>',
             '<h1>Cross-camera identities</h1>',
             f'<p>{len(ts)} tracklets in {len(cameras)} cameras; {association.num_identities} '
             f'global identities, {len(several)} of them seen in several cameras; '
             f'{association.cannot_links} same-camera pairs overlapping in time kept apart; '
             f'{sum(bool(m) for m in marks)} doubtful tracks.'
             + (f' No tracklet in {", ".join(html.escape(c) for c in empty)} (every track '
                'filtered out).' if empty else '') + '</p>']
    if scores:
        pair, ident = scores['pairwise'], scores['idf1']
        parts.append(f'<p id="scores">Against ground truth: cross-camera pairwise precision '
                     f'{pair["precision"]:.3f}, recall {pair["recall"]:.3f}, F1 {pair["f1"]:.3f}; '
                     f'multi-camera IDF1 {ident["IDF1"]:.3f} (IDP {ident["IDP"]:.3f}, '
                     f'IDR {ident["IDR"]:.3f}).</p>')
    parts.append(_association_line(getattr(association, 'record', {})))
    parts.append(_legend())
    parts.append('<h2>Identities seen in several cameras</h2><table id="identities"><tr>'
                 '<th>id</th>' + ''.join(f'<th>{html.escape(c)}</th>' for c in cameras) + '</tr>')
    for pid in several:
        cells = []
        for camera in cameras:
            cells.append('<td>' + ''.join(_figure(thumbs[i], _label(ts[i]), marks[i])
                                          for i in members[pid] if ts[i].camera == camera)
                         + '</td>')
        parts.append(f'<tr><td>{pid}</td>{"".join(cells)}</tr>')
    parts.append('</table>')
    shown = min(len(ts), MAX_MATCH_ROWS)
    parts.append(f'<h2>Best matches in other cameras</h2><p>{shown} of {len(ts)} tracklets '
                 '(all in matches.csv); green: same global id.</p><table id="matches">'
                 '<tr><th>tracklet</th><th>global id</th><th>matches (cosine similarity)</th></tr>')
    for i in range(shown):
        matches = []
        for j, sim in zip(association.match_index[i], association.match_similarity[i]):
            if j < 0:
                continue
            kind = 'same' if ids[j] == ids[i] else 'other'
            matches.append(f'<span class="{kind}">'
                           + _figure(thumbs[j], f'{_label(ts[j])} id {ids[j]} sim {sim:.2f}',
                                     marks[j])
                           + '</span>')
        parts.append(f'<tr><td>{_figure(thumbs[i], _label(ts[i]), marks[i])}</td><td>{ids[i]}</td>'
                     f'<td style="text-align:left">{"".join(matches)}</td></tr>')
    parts.append('</table>')
    if getattr(association, 'camera_links', None) is not None:
        parts.append(camera_links_figure(association.camera_links, true_links))
    parts.append('</body></html>')
    with named_write(path), open(path, 'w', encoding='utf-8') as f:
        f.write('\n'.join(parts))
    return path


def _association_line(record: dict) -> str:
    """One paragraph: how the ids were found
    (:func:`~dal_torchreid.footage.linking.how_ids_were_found`)."""
    if not record:
        return ''
    line = how_ids_were_found(record)
    return f'<p id="association">{html.escape(line[0].upper() + line[1:])}.</p>'


def _track_rows(rows: np.ndarray | None, track: int) -> np.ndarray:
    """The rows of ``track`` among a tracker file's ``rows`` (none without them)."""
    if rows is None:
        return np.zeros((0, 7))
    return rows[rows[:, ID] == track]
