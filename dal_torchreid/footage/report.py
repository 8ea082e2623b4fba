"""A static HTML report of a cross-camera association, with thumbnails.

``report.html`` lies beside a ``thumbs/`` folder (one small JPEG per tracklet, its
middle crop) and needs nothing else: no script, no network. It shows the counts (and
the scores when there was ground truth), every identity seen in several cameras with
its tracklets side by side per camera, and each tracklet's best matches in other
cameras with their cosine similarities (green: the same global id).
"""
from __future__ import annotations

import html
import os
import os.path as osp

import cv2

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
""" % THUMB_HEIGHT


def _thumbnail(tracklet, folder: str) -> str:
    """Writes the tracklet's middle crop, ``THUMB_HEIGHT`` high; returns its relative path."""
    name = f'{tracklet.camera}_{tracklet.track}.jpg'
    image = cv2.imread(tracklet.paths[len(tracklet.paths) // 2])
    if image is None:
        raise FileNotFoundError(f'crop "{tracklet.paths[len(tracklet.paths) // 2]}" cannot be read')
    scale = THUMB_HEIGHT / image.shape[0]
    image = cv2.resize(image, (max(1, round(image.shape[1] * scale)), THUMB_HEIGHT),
                       interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    cv2.imwrite(osp.join(folder, name), image)
    return f'thumbs/{name}'


def _figure(thumb: str, caption: str) -> str:
    return (f'<figure><img src="{html.escape(thumb)}" alt="{html.escape(caption)}">'
            f'<figcaption>{html.escape(caption)}</figcaption></figure>')


def _label(t) -> str:
    return f'{t.camera} #{t.track} f{t.first}-{t.last}'


def write_report(path: str, association, scores: dict | None = None) -> str:
    """Writes the report of ``association`` (:class:`~dal_torchreid.footage.association.Association`)
    to ``path`` and its thumbnails to ``thumbs/`` beside it; returns ``path``."""
    folder = osp.join(osp.dirname(osp.abspath(path)), 'thumbs')
    os.makedirs(folder, exist_ok=True)
    ts, ids = association.tracklets, association.ids
    thumbs = [_thumbnail(t, folder) for t in ts]
    cameras = sorted({t.camera for t in ts})
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
             f'{association.cannot_links} same-camera pairs overlapping in time kept apart.</p>']
    if scores:
        pair, ident = scores['pairwise'], scores['idf1']
        parts.append(f'<p id="scores">Against ground truth: cross-camera pairwise precision '
                     f'{pair["precision"]:.3f}, recall {pair["recall"]:.3f}, F1 {pair["f1"]:.3f}; '
                     f'multi-camera IDF1 {ident["IDF1"]:.3f} (IDP {ident["IDP"]:.3f}, '
                     f'IDR {ident["IDR"]:.3f}).</p>')
    parts.append('<h2>Identities seen in several cameras</h2><table id="identities"><tr>'
                 '<th>id</th>' + ''.join(f'<th>{html.escape(c)}</th>' for c in cameras) + '</tr>')
    for pid in several:
        cells = []
        for camera in cameras:
            cells.append('<td>' + ''.join(_figure(thumbs[i], _label(ts[i]))
                                          for i in members[pid] if ts[i].camera == camera)
                         + '</td>')
        parts.append(f'<tr><td>{pid}</td>{"".join(cells)}</tr>')
    parts.append('</table>')
    shown = min(len(ts), MAX_MATCH_ROWS)
    parts.append(f'<h2>Best matches in other cameras</h2><p>{shown} of {len(ts)} tracklets '
                 '(all in matches.csv); green: the same global id.</p><table id="matches">'
                 '<tr><th>tracklet</th><th>global id</th><th>matches (cosine similarity)</th></tr>')
    for i in range(shown):
        matches = []
        for j, sim in zip(association.match_index[i], association.match_similarity[i]):
            if j < 0:
                continue
            kind = 'same' if ids[j] == ids[i] else 'other'
            matches.append(f'<span class="{kind}">'
                           + _figure(thumbs[j], f'{_label(ts[j])} id {ids[j]} sim {sim:.2f}')
                           + '</span>')
        parts.append(f'<tr><td>{_figure(thumbs[i], _label(ts[i]))}</td><td>{ids[i]}</td>'
                     f'<td style="text-align:left">{"".join(matches)}</td></tr>')
    parts.append('</table></body></html>')
    with open(path, 'w') as f:
        f.write('\n'.join(parts))
    return path
