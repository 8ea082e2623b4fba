"""A picture of the learned camera links for ``report.html``: plain HTML and inline SVG.

``camera_links.json`` (:meth:`~dal_torchreid.footage.camera_links.CameraLinks.to_dict`)
holds per ordered camera pair the transit time learned from the matches, as numbers
nobody reads. :func:`camera_links_figure` draws them: one small bar chart per pair of
different cameras with matches, the learned distribution of the gap (frames from the
last frame in one camera to the first in the other) against the gaps of random pairs
(chance), and on the demo's footage the true distribution, so that a reader sees at a
glance whether the links found a transit time, and whether it is the right one. The
gap bins are log-spaced (:func:`~dal_torchreid.footage.camera_links.log_gap`) and drawn
equal width; every bar says its bin and values on hover (an SVG ``<title>``). No script,
no external file; the fragment is well-formed XML, every name escaped.
"""
from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from itertools import pairwise

MAX_PAIRS = 60  # pairs drawn, those with the most matches
MAX_BARS = 48  # bars per pair: neighbouring gap bins are summed beyond that
WIDTH, HEIGHT = 240, 116
LEFT, RIGHT, TOP, BOTTOM = 6, 234, 14, 98  # the plot area inside an SVG
COLOURS = {'learned': '#3a78c2', 'chance': '#d0d0d0', 'true': '#111111'}


def camera_links_figure(data: dict, truth: Mapping[tuple, tuple] | None = None,
                        fps: float | None = None) -> str:
    """An HTML ``<section>`` picturing ``camera_links.json``'s links.

    Args:
        data (dict): the content of ``camera_links.json``
            (:func:`~dal_torchreid.footage.linking.camera_links_json`); when its ``used``
            is false, the section says so and why (its ``reason``).
        truth (mapping, optional): ``{(from_name, to_name): (mean_frames, std_frames)}``,
            the true normal transit times of the demo's footage, drawn as a third series.
        fps (float, optional): frames per second, to tell bins in seconds too.

    Returns:
        str: the fragment, one SVG per ordered pair of different cameras with matches
        (at most :data:`MAX_PAIRS`, those with the most matches), a legend once.

    Raises ``ValueError`` naming a pair whose distributions do not fit the gap bins, or
    on an ``fps`` that is not positive.

    Examples::

        data = json.load(open('OUT/camera_links.json'))
        parts.append(camera_links_figure(data, fps=25))
    """
    if fps is not None and not fps > 0:
        raise ValueError(f'frames per second must be > 0, got {fps}')
    head = '<section id="camera-links"><h2>Camera links</h2>'
    if not data.get('used'):
        reason = html.escape(str(data.get('reason') or 'no reason recorded'))
        return f'{head}<p>Camera links were not used: {reason}.</p></section>'
    edges = [float(e) for e in data.get('gap_edges_frames', [])]
    between = [link for link in data.get('links', []) if link['from'] != link['to']]
    drawn = sorted((link for link in between if link.get('matches', 0) > 0),
                   key=lambda link: -link['matches'])  # stable: the file's order in ties
    empty, left_out = len(between) - len(drawn), max(0, len(drawn) - MAX_PAIRS)
    truth = dict(truth or {})
    notes = [f'Used: {html.escape(str(data.get("reason", "")))}.' if data.get('reason')
             else 'Used.',
             f'{_pairs(len(drawn))} of different cameras with matches'
             + (f', the {MAX_PAIRS} with the most drawn; {left_out} more left out'
                if left_out else '') + '.',
             f'{_pairs(empty)} had no match (not drawn).' if empty else '']
    charts = [_chart(link, edges, truth.get((link['from'], link['to'])), fps)
              for link in drawn[:MAX_PAIRS]]
    return (f'{head}<p>{" ".join(n for n in notes if n)}</p>{_legend(bool(truth), fps)}'
            '<div style="display:flex;flex-wrap:wrap;gap:8px">' + ''.join(charts)
            + '</div></section>')


def normal_bin_mass(edges: Sequence[float], mean: float, std: float) -> list[float]:
    """The probability of each gap bin (``len(edges) + 1``, the outer two open) of a
    whole number of frames drawn from a normal ``(mean, std)`` and rounded.

    A gap ``g`` falls in bin ``k`` when ``edges[k-1] <= g < edges[k]``; it is ``round(x)``
    of a normal ``x``, so the bin holds ``x`` in ``[ceil(edges[k-1]) - 0.5,
    ceil(edges[k]) - 0.5)``. A ``std`` of 0 is all in the bin of ``round(mean)``.

    Examples::

        normal_bin_mass([0, 10, 20], 12.0, 3.0)  # [~0.0, ~0.20, ~0.79, ~0.01]
    """
    if not (math.isfinite(mean) and math.isfinite(std) and std >= 0):
        raise ValueError(f'a true transit time needs a finite mean and std >= 0, '
                         f'got {mean}, {std}')
    bounds = [math.ceil(e) - 0.5 for e in edges]
    if std == 0:
        return [float(lo <= round(mean) < hi) for lo, hi in
                zip([-math.inf] + bounds, bounds + [math.inf])]
    cdf = [0.5 * (1 + math.erf((b - mean) / (std * math.sqrt(2)))) for b in bounds]
    return [max(0.0, hi - lo) for lo, hi in pairwise([0.0, *cdf, 1.0])]


def _pairs(count: int) -> str:
    return f'{count} ordered pair' + ('' if count == 1 else 's')


def _merged(values: Sequence[float], size: int) -> list[float]:
    """``values`` summed in runs of ``size``."""
    return [sum(values[i:i + size]) for i in range(0, len(values), size)]


def _chart(link: dict, edges: list[float], true: tuple | None, fps: float | None) -> str:
    """One pair's caption and SVG."""
    name = f'{link["from"]} → {link["to"]}'
    bins = len(edges) + 1
    if len(link['same']) != bins or len(link['chance']) != bins:
        raise ValueError(f'camera links {name}: {len(link["same"])} learned and '
                         f'{len(link["chance"])} chance bins for {bins} gap bins')
    size = -(-bins // MAX_BARS)
    shown_edges = edges[size - 1::size]
    series = {'chance': _merged(link['chance'], size), 'learned': _merged(link['same'], size)}
    if true is not None:
        series['true'] = normal_bin_mass(shown_edges, float(true[0]), float(true[1]))
    count = len(series['learned'])
    top = max(max(v) for v in series.values()) or 1.0
    w = (RIGHT - LEFT) / count

    def y(p: float) -> float:
        return BOTTOM - (BOTTOM - TOP) * p / top

    def rect(k: int, p: float, inset: float = 0.0) -> str:
        return (f'<rect x="{LEFT + k * w + inset:.1f}" y="{y(p):.1f}" '
                f'width="{max(w - 2 * inset, 0.1):.1f}" height="{BOTTOM - y(p):.1f}"/>')

    chance = ''.join(rect(k, p) for k, p in enumerate(series['chance']))
    learned = ''.join(rect(k, p, 0.2 * w) for k, p in enumerate(series['learned']))
    parts = [f'<g fill="{COLOURS["chance"]}">{chance}</g>',
             f'<g fill="{COLOURS["learned"]}">{learned}</g>']
    if 'true' in series:
        steps = ' '.join(f'{LEFT + k * w + d:.1f},{y(p):.1f}' for k, p in
                         enumerate(series['true']) for d in (0, w))
        parts.append(f'<polyline points="{steps}" fill="none" stroke="{COLOURS["true"]}" '
                     'stroke-width="1.3"/>')
    parts.append(f'<line x1="{LEFT}" y1="{BOTTOM}" x2="{RIGHT}" y2="{BOTTOM}" stroke="#888"/>')
    parts.append(_ticks(shown_edges, w))
    parts.append(f'<text x="{LEFT}" y="{TOP - 4}" font-size="9" fill="#666">'
                 f'p max {top:.2g}</text>')
    hover = []
    for k in range(count):
        values = ', '.join(f'{key} {series[key][k]:.3f}' for key in ('learned', 'chance', 'true')
                           if key in series)
        hover.append(f'<rect x="{LEFT + k * w:.1f}" y="{TOP}" width="{w:.1f}" '
                     f'height="{BOTTOM - TOP}"><title>{_bin(shown_edges, k, fps)}: {values}'
                     '</title></rect>')
    parts.append(f'<g fill="#fff" fill-opacity="0">{"".join(hover)}</g>')
    matches = link['matches']
    caption = html.escape(f'{name} ({matches} match{"" if matches == 1 else "es"})')
    return ('<div style="font-size:12px;text-align:left">'
            f'<div style="font-weight:bold">{caption}</div>'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img"><title>{caption}</title>'
            + ''.join(parts) + '</svg></div>')


def _ticks(edges: list[float], w: float, spacing: float = 26) -> str:
    """Round gaps (0, then 1, 10, 100, ... and 3, 30, ... either way) labelled under the
    axis where they do not crowd; at 0 a dashed line (left of it the views overlap)."""
    def place(value: float) -> float | None:
        for j in range(len(edges) - 1):
            if edges[j] <= value < edges[j + 1]:
                return LEFT + (j + 1 + (value - edges[j]) / (edges[j + 1] - edges[j])) * w
        return None

    marks: list[tuple[float, float]] = []
    for value in [0.0] + [sign * lead * 10.0 ** k for lead in (1, 3) for k in range(9)
                          for sign in (1, -1)]:
        x = place(value)
        if x is not None and all(abs(x - other) >= spacing for other, _ in marks):
            marks.append((x, value))
    out = []
    for x, value in marks:
        dash, top = (' stroke-dasharray="2,2"', TOP) if value == 0 else ('', BOTTOM)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{BOTTOM + 3}" '
                   f'stroke="#888"{dash}/>'
                   f'<text x="{x:.1f}" y="{BOTTOM + 12}" font-size="9" fill="#444" '
                   f'text-anchor="middle">{_frames(value)}</text>')
    return ''.join(out)


def _frames(value: float) -> str:
    """A gap edge in few characters: ``-0.7``, ``40``, ``1k``, ``1.2k``, ``35k``."""
    size = abs(value)
    if size < 10:
        text = f'{value:.1f}'.removesuffix('.0')
        return '0' if text in ('0', '-0') else text
    if size < 1000:
        return f'{value:.0f}'
    return (f'{value / 1000:.1f}'.removesuffix('.0') if size < 10000
            else f'{value / 1000:.0f}') + 'k'


def _bin(edges: list[float], k: int, fps: float | None) -> str:
    """Bin ``k``'s gaps in words, in seconds too with ``fps``."""
    def said(frames: float) -> str:
        return f'{frames:.4g}' + (f' ({frames / fps:.3g} s)' if fps else '')

    if not edges:
        return 'any gap'
    if k == 0:
        return f'gap below {said(edges[0])} frames'
    if k == len(edges):
        return f'gap {said(edges[-1])} frames or more'
    return f'gap {said(edges[k - 1])} to {said(edges[k])} frames'


def _legend(truth: bool, fps: float | None) -> str:
    def swatch(key: str, label: str) -> str:
        fill = (f'border-top:2px solid {COLOURS[key]};height:4px' if key == 'true' else
                f'background:{COLOURS[key]};height:10px')
        return (f'<span style="display:inline-block;width:12px;{fill};margin:0 3px 0 10px">'
                f'</span>{label}')

    keys = ['learned', 'chance'] + (['true'] if truth else [])
    labels = {'learned': 'learned', 'chance': 'chance', 'true': 'true (demo)'}
    rate = f' ({fps:g} frames a second)' if fps else ''
    return ('<p id="camera-links-legend" style="font-size:12px">Legend:'
            + ''.join(swatch(k, labels[k]) for k in keys)
            + '. Each chart: the transit time of one ordered camera pair, frames from the '
            f'last frame in the first camera to the first in the second{rate} (negative, left '
            'of the dashed 0: seen in both at once); learned from the matches against the '
            'gaps of random pairs' + (', and the true one of the demo' if truth else '')
            + '. Bins are log-spaced, drawn equal width, the outer two open; each chart has its '
            'own scale; hover a bar for its values.</p>')
