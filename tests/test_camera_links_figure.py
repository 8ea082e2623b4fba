"""The camera-links picture of report.html: one chart per matched pair, escaped, well formed."""
import html
import json
import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from dal_torchreid.footage.camera_links import (
    SCHEMA,
    TrackletTimes,
    estimate_camera_links,
)
from dal_torchreid.footage.camera_links_figure import (
    BOTTOM,
    COLOURS,
    LEFT,
    MAX_BARS,
    MAX_PAIRS,
    RIGHT,
    camera_links_figure,
    normal_bin_mass,
)

SVG = '{http://www.w3.org/2000/svg}'
NAMES = ['a<b>', 'b&"c', 'c']
TRANSIT = {(0, 1): (40.0, 4.0), (1, 2): (90.0, 6.0)}  # frames, mean and std
PEOPLE = 80


def walks(seed=0, span=3000):
    """People walking cam0 -> cam1 -> cam2 with the TRANSIT gaps (whole frames); the
    true steps: all 0 -> 1, 50 of the 1 -> 2 ones, and 7 pairs 0 -> 2."""
    rng = np.random.default_rng(seed)
    cameras, first, last, pairs = [], [], [], {(0, 1): [], (1, 2): [], (0, 2): []}
    for _ in range(PEOPLE):
        t, mine = int(rng.integers(0, span)), []
        for camera in range(3):
            length = int(rng.integers(20, 40))
            mine.append(len(cameras))
            cameras.append(camera), first.append(t), last.append(t + length - 1)
            if camera < 2:
                t += length - 1 + round(rng.normal(*TRANSIT[(camera, camera + 1)]))
        for (a, b), steps in pairs.items():
            steps.append((mine[a], mine[b]))
    n = len(cameras)
    times = TrackletTimes(np.asarray(cameras), np.asarray(first), np.asarray(last),
                          np.full(n, 2), np.zeros(n, np.int64))
    return times, np.asarray(pairs[0, 1] + pairs[1, 2][:50] + pairs[0, 2][:7])


@pytest.fixture(scope='module')
def data():
    times, pairs = walks()
    links = estimate_camera_links(times, pairs)
    return json.loads(json.dumps(links.to_dict(NAMES, used=True, reason='x <sharper>')))


def well_formed(fragment: str) -> ET.Element:
    return ET.fromstring(f'<root>{fragment}</root>')


def caption(a: int, b: int, matches: int) -> str:
    return html.escape(f'{NAMES[a]} → {NAMES[b]} ({matches} matches)')


def column(data, gap: float) -> int:
    """The bar a gap of ``gap`` frames is drawn in (bins summed as the figure does)."""
    bins = len(data['gap_edges_frames']) + 1
    size = -(-bins // MAX_BARS)
    return int(np.searchsorted(data['gap_edges_frames'][size - 1::size], gap, side='right'))


def chart(root: ET.Element, index: int) -> ET.Element:
    return root.findall(f'.//{SVG}svg')[index]


def peak_column(xs, heights, w) -> int:
    return round((xs[int(np.argmax(heights))] - LEFT) / w)


def test_one_chart_per_matched_pair_most_matches_first_names_escaped(data):
    out = camera_links_figure(data)
    assert out.startswith('<section') and '<h2>Camera links</h2>' in out
    root = well_formed(out)
    assert len(root.findall(f'.//{SVG}svg')) == out.count('<svg') == 3
    titles = [caption(0, 1, PEOPLE), caption(1, 2, 50), caption(0, 2, 7)]
    assert all(t in out for t in titles)
    assert out.index(titles[0]) < out.index(titles[1]) < out.index(titles[2])
    assert '<b>' not in out and 'b&"c' not in out and 'a&lt;b&gt;' in out
    assert '3 ordered pairs had no match' in out and 'Used: x &lt;sharper&gt;.' in out
    assert 'learned' in out and 'chance' in out
    assert 'true (demo)' not in out and '<polyline' not in out
    assert out.count('id="camera-links-legend"') == 1


def test_the_truth_is_drawn_where_the_learned_transit_time_peaks(data):
    truth = {(NAMES[a], NAMES[b]): value for (a, b), value in TRANSIT.items()}
    out = camera_links_figure(data, truth=truth, fps=25)
    root = well_formed(out)
    assert 'true (demo)' in out and out.count('<polyline') == 2
    assert ' s)' in out and '25 frames a second' in out  # bins told in seconds too
    bins = len(data['gap_edges_frames']) + 1
    w = (RIGHT - LEFT) / -(-bins // -(-bins // MAX_BARS))  # bars: bins summed in runs
    for k, (a, b) in enumerate([(0, 1), (1, 2)]):
        svg = chart(root, k)
        points = [tuple(map(float, p.split(',')))
                  for p in svg.find(f'{SVG}polyline').get('points').split()]
        true_peak = peak_column([x for x, _ in points], [-y for _, y in points], w)
        assert abs(true_peak - column(data, TRANSIT[a, b][0])) <= 1
        learned = svg.find(f'{SVG}g[@fill="{COLOURS["learned"]}"]')
        xs = [float(r.get('x')) for r in learned]
        heights = [BOTTOM - float(r.get('y')) for r in learned]
        assert abs(peak_column(xs, heights, w) - true_peak) <= 2
    assert chart(root, 2).find(f'{SVG}polyline') is None  # no truth for 0 -> 2
    with pytest.raises(ValueError, match='frames per second'):
        camera_links_figure(data, fps=0)


def test_normal_bin_mass_of_whole_frames():
    edges = [0.0, 10.0, 20.0]
    mass = normal_bin_mass(edges, 12.0, 3.0)

    def cdf(x):
        return 0.5 * (1 + math.erf((x - 12.0) / (3.0 * math.sqrt(2))))

    # gaps 0 .. 9 are the rounded normals in [-0.5, 9.5)
    assert mass[1] == pytest.approx(cdf(9.5) - cdf(-0.5))
    assert sum(mass) == pytest.approx(1.0)
    assert normal_bin_mass([-0.7, 0.3, 1.5], 1.0, 0.0) == [0.0, 0.0, 1.0, 0.0]
    with pytest.raises(ValueError, match='std'):
        normal_bin_mass(edges, 1.0, -1.0)


def test_links_not_used_say_why():
    data = {'schema': SCHEMA, 'mode': 'auto', 'used': False,
            'reason': 'no sharper than <chance> & "random"', 'cameras': NAMES, 'links': []}
    out = camera_links_figure(data, truth={('a', 'b'): (1.0, 1.0)})
    well_formed(out)
    assert 'not used' in out and '<svg' not in out
    assert html.escape(data['reason']) in out and '<chance>' not in out


def test_at_most_60_pairs_drawn_the_ones_with_most_matches():
    cameras = [f'cam{i}' for i in range(9)]  # 72 ordered pairs of different cameras
    pairs = [(a, b) for a in cameras for b in cameras if a != b]
    links = [{'from': a, 'to': b, 'matches': k + 1, 'same': [0.2, 0.5, 0.3],
              'chance': [0.3, 0.4, 0.3]} for k, (a, b) in enumerate(pairs)]
    links += [{'from': c, 'to': c, 'matches': 99, 'same': [0.2, 0.5, 0.3],
               'chance': [0.3, 0.4, 0.3]} for c in cameras]  # a camera to itself: not drawn
    data = {'schema': SCHEMA, 'used': True, 'reason': 'on', 'cameras': cameras,
            'gap_edges_frames': [-1.0, 1.0], 'links': links}
    out = camera_links_figure(data)
    well_formed(out)
    assert out.count('<svg') == MAX_PAIRS == 60
    assert '12 more left out' in out
    assert '(72 matches)' in out and '(13 matches)' in out and '(12 matches)' not in out
    assert '(99 matches)' not in out and 'no match' not in out
    links[71]['same'] = [1.0]
    with pytest.raises(ValueError, match=re.escape('cam8 → cam7: 1 learned')):
        camera_links_figure(data)
