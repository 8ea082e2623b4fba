"""What a search found, for a person to look at: ``search.html`` with thumbnails; ``search.csv``.

``search.html`` lies beside a ``thumbs/`` folder and needs nothing else: plain HTML and
inline SVG, no script, no network. On top, the query's crops; then the hits ranked,
each with a thumbnail (the middle crop of its tracklet), camera, frames, similarity,
global id and, with camera links, the walk's time and likelihood; last, a time line
per camera marking where the shown hits lie. Every name is HTML-escaped and every
file name URL-escaped, so camera names with ``#``, ``?``, ``<``, ``&``, quotes or spaces
stay text and their thumbnails still load. A crop that cannot be read, or a thumbnail
that cannot be written, raises naming the file: the page never holds a broken link.
"""
from __future__ import annotations

import csv
import html
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence, Union
from urllib.parse import quote

from dal_torchreid.footage.report import STYLE as REPORT_STYLE
from dal_torchreid.footage.report import write_thumbnail
from dal_torchreid.files.errors import named_write
from dal_torchreid.footage.search import SearchHit

MAX_ROWS = 200  # hits shown; all of them are in search.csv
QUERY_CROPS = 8  # query crops shown, spread over the tracklet
TIMELINE_WIDTH, TIMELINE_ROW, TIMELINE_LABEL = 760, 20, 160  # pixels
LABEL_CHARS = 22  # a camera name longer than that is cut on the time line (whole in its tip)

Crops = Union[Mapping[tuple, Sequence[str]], Callable[[SearchHit], Sequence[str]]]

# report.html's look (cluster.report), and this page's own rows
_STYLE = REPORT_STYLE + """
td { vertical-align: middle; }
.elsewhere { background: #eef6ff; } .owncam { background: #f4f4f4; }
.no { color: #b00; } .yes { color: #070; }
"""


@dataclass
class ReportQuery:
    """The query as the report shows it.

    Args:
        label (str): what it is, e.g. ``'cam1 track 7'`` or ``'3 images'``.
        crops (sequence of str): its crop files (a tracklet's, or the query images).
        camera (str, optional): its camera, for the time line (a tracklet query).
        first, last (int, optional): its frames.
        session (int): its session (frames compare within one).
    """

    label: str
    crops: Sequence[str] = field(default_factory=list)
    camera: str | None = None
    first: int | None = None
    last: int | None = None
    session: int = 0


def _file_part(text: str) -> str:
    """``text`` as part of a file name: path separators and NUL replaced, at most 80 chars."""
    return ''.join('_' if ch in '/\\\0' else ch for ch in text)[:80]


def _crops_of(crops: Crops | None, hit: SearchHit) -> Sequence[str]:
    if crops is None:
        return []
    if callable(crops):
        return crops(hit) or []
    return crops.get((hit.camera, hit.track)) or []


def _img(rel: str, alt: str) -> str:
    return f'<img src="{html.escape(quote(rel))}" alt="{html.escape(alt)}">'


def _frames(first: int, last: int, session: int, sessions: int) -> str:
    return (f'session {session}, ' if sessions > 1 else '') + f'frames {first}-{last}'


def _walk(hit: SearchHit) -> str:
    if hit.gap_frames is None:
        return ''
    if hit.direction == 'overlap':
        return f'overlaps the query by {1 - hit.gap_frames} frames'
    return f'{hit.gap_frames} frames {hit.direction} the query'


def timeline_svg(query: ReportQuery, hits: Sequence[SearchHit]) -> str:
    """An inline SVG: one line per (session, camera) of ``hits``, the frames of the session
    across, a mark over each hit's frames (darker: more similar) and the query's in red."""
    spans = [(h.session, h.camera, h.first, h.last, h) for h in hits]
    if query.camera is not None and query.first is not None and query.last is not None:
        spans.append((query.session, query.camera, query.first, query.last, None))
    if not spans:
        return ''
    sessions = sorted({s[0] for s in spans})
    lines = sorted({(s[0], s[1]) for s in spans})
    extent = {s: (min(x[2] for x in spans if x[0] == s), max(x[3] for x in spans if x[0] == s))
              for s in sessions}
    height = TIMELINE_ROW * len(lines) + 24
    width = TIMELINE_LABEL + TIMELINE_WIDTH + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             'role="img" aria-label="time line per camera">']
    for y, (session, camera) in enumerate(lines):
        top = y * TIMELINE_ROW
        label = (f'{session}: ' if len(sessions) > 1 else '') + camera
        short = label if len(label) <= LABEL_CHARS else label[:LABEL_CHARS - 1] + '\u2026'
        parts.append(f'<text x="0" y="{top + 14}" font-size="12"><title>{html.escape(label)}'
                     f'</title>{html.escape(short)}</text>'
                     f'<rect x="{TIMELINE_LABEL}" y="{top + 9}" width="{TIMELINE_WIDTH}" '
                     'height="2" fill="#ccc"/>')
        low, high = extent[session]
        scale = TIMELINE_WIDTH / max(1, high - low)
        for s, c, first, last, hit in spans:
            if (s, c) != (session, camera):
                continue
            x = TIMELINE_LABEL + (first - low) * scale
            width = max(3.0, (last - first) * scale)
            if hit is None:
                colour, tip = '#d22', f'query: {query.label}, frames {first}-{last}'
            else:
                shade = max(0.15, min(1.0, hit.similarity))
                colour = f'rgba(20,70,200,{shade:.2f})'
                tip = (f'rank {hit.rank}: {hit.camera} track {hit.track}, frames {first}-{last}, '
                       f'similarity {hit.similarity:.3f}')
            parts.append(f'<rect x="{x:.1f}" y="{top + 3}" width="{width:.1f}" height="14" '
                         f'fill="{colour}"><title>{html.escape(tip)}</title></rect>')
    axis = '; '.join((f'session {s}: ' if len(sessions) > 1 else '') +
                     f'frames {extent[s][0]} to {extent[s][1]}, left to right' for s in sessions)
    parts.append(f'<text x="{TIMELINE_LABEL}" y="{TIMELINE_ROW * len(lines) + 16}" '
                 f'font-size="11">{html.escape(axis)}</text>')
    parts.append('</svg>')
    return ''.join(parts)


def write_search_report(out_html: str, query: ReportQuery, hits: Sequence[SearchHit],
                        crops: Crops | None = None, max_rows: int = MAX_ROWS,
                        csv_file: str | None = None) -> str:
    """Writes ``search.html`` (see the module) to ``out_html`` and its thumbnails to
    ``thumbs/`` beside it; returns ``out_html``.

    Args:
        out_html (str): the page to write.
        query (ReportQuery): the query, with its crops.
        hits (sequence): :func:`~dal_torchreid.footage.search.search`'s hits, best first.
        crops (mapping or callable, optional): each hit's crop files: a mapping from
            ``(camera, track)`` (one session's tracklets, e.g. ``{(t.camera, t.track): t.paths}``)
            or a function of the :class:`SearchHit` (a gallery of several sessions); a hit
            without crops is shown without a picture.
        max_rows (int): hits shown (``search.csv`` holds them all).
        csv_file (str, optional): ``search.csv``'s path, linked from the page.

    Examples::

        hits = search(gallery, ('cam1', 7), top_k=100)
        tracklet = tracklets[gallery.table.index_of('cam1', 7)]
        write_search_report('out/search.html', ReportQuery('cam1 track 7', tracklet.paths,
                            'cam1', tracklet.first, tracklet.last), hits,
                            {(t.camera, t.track): t.paths for t in tracklets})
    """
    folder = osp.join(osp.dirname(osp.abspath(out_html)), 'thumbs')
    os.makedirs(folder, exist_ok=True)
    shown = list(hits[:max_rows])
    sessions = len({h.session for h in hits} | {query.session})
    step = max(1, len(query.crops) / QUERY_CROPS)
    picks = [query.crops[int(i * step)] for i in range(min(QUERY_CROPS, len(query.crops)))]
    query_figures = []
    for i, crop in enumerate(picks):
        name = f'query-{i:02d}.jpg'
        write_thumbnail(crop, osp.join(folder, name))
        query_figures.append(f'<figure>{_img("thumbs/" + name, query.label)}</figure>')
    linked = any(h.transit_log_likelihood is not None for h in shown)
    timed = any(h.gap_frames is not None for h in shown)
    parts = ['<!DOCTYPE html><html><head><meta charset="utf-8"><title>Search: '
             f'{html.escape(query.label)}</title><style>{_STYLE}</style></head><body>',
             f'<h1>Where else was {html.escape(query.label)}?</h1>',
             '<div id="query">' + (''.join(query_figures) or '<p>(no crops)</p>') + '</div>',
             f'<p>{len(hits)} tracklets ranked by cosine similarity, other cameras first; '
             f'{len(shown)} shown' + (f', all in <a href="{html.escape(quote(csv_file))}">'
                                      f'{html.escape(osp.basename(csv_file))}</a>'
                                      if csv_file else '') + '.</p>',
             '<h2>Time line per camera</h2>', timeline_svg(query, shown),
             '<h2>Matches</h2><table id="hits"><tr><th>rank</th><th>crop</th><th>camera</th>'
             '<th>track</th><th>time</th><th>similarity</th><th>global id</th>'
             + ('<th>walk</th>' if timed else '')
             + ('<th>reachable</th><th>score</th>' if linked else '') + '</tr>']
    for hit in shown:
        paths = _crops_of(crops, hit)
        if paths:
            name = f'{hit.rank:05d}-{_file_part(hit.camera)}-{hit.track}.jpg'
            write_thumbnail(paths[len(paths) // 2], osp.join(folder, name))
            picture = _img('thumbs/' + name, f'{hit.camera} track {hit.track}')
        else:
            picture = '(no crops)'
        cells = [str(hit.rank), picture, html.escape(hit.camera), str(hit.track),
                 _frames(hit.first, hit.last, hit.session, sessions), f'{hit.similarity:.3f}',
                 '' if hit.global_id is None else str(hit.global_id)]
        if timed:
            cells.append(html.escape(_walk(hit)))
        if linked:
            reach = {True: '<span class="yes">yes</span>', False: '<span class="no">no</span>',
                     None: ''}[hit.reachable]
            cells += [reach, f'{hit.score:.3f}']
        kind = 'elsewhere' if hit.other_camera else 'owncam'
        parts.append(f'<tr class="{kind}">' + ''.join(f'<td>{c}</td>' for c in cells) + '</tr>')
    parts.append('</table></body></html>')
    with named_write(out_html), open(out_html, 'w', encoding='utf-8') as f:
        f.write('\n'.join(parts))
    return out_html


CSV_COLUMNS = ['rank', 'camera', 'track', 'session', 'first_frame', 'last_frame', 'similarity',
               'global_id', 'other_camera', 'gap_frames', 'direction', 'transit_log_likelihood',
               'reachable', 'score']


def write_search_csv(path: str, hits: Sequence[SearchHit]) -> str:
    """``search.csv``: one row per hit, best first (:data:`CSV_COLUMNS`; empty where a value
    does not exist); returns ``path``."""
    def cell(value):
        if value is None:
            return ''
        if isinstance(value, bool):
            return int(value)
        return f'{value:.4f}' if isinstance(value, float) else value
    with named_write(path), open(path, 'w', newline='', encoding='utf-8') as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for h in hits:
            writer.writerow([cell(v) for v in (
                h.rank, h.camera, h.track, h.session, h.first, h.last, h.similarity, h.global_id,
                h.other_camera, h.gap_frames, h.direction, h.transit_log_likelihood, h.reachable,
                h.score)])
    return path
