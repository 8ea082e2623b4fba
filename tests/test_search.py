"""Finding one person across cameras: the ranking, camera links, the report and its CSV."""
import csv
import math
import os.path as osp
import shutil
import subprocess
from pathlib import Path
from html.parser import HTMLParser
from urllib.parse import unquote

import numpy as np
import pytest
import torch

from dal_torchreid.footage.gallery import Gallery, ModelFingerprint
from dal_torchreid.footage.search import TRANSIT_WEIGHT, query_feature, search
from dal_torchreid.footage.search_report import (
    CSV_COLUMNS, ReportQuery, write_search_csv, write_search_report
)
from dal_torchreid.footage.tracklet_table import TrackletTable
from footage_fixtures import tiny_footage, tiny_tracklets  # noqa: F401  (fixtures)

DIM = 8
FINGERPRINT = ModelFingerprint('ab' * 32, 'tiny', 64, 32, (0.5,) * 3, (0.5,) * 3, 'avg')


def toward(similarity, axis=1):
    """A unit vector at cosine ``similarity`` to e0, the rest along ``e_axis``."""
    v = torch.zeros(DIM)
    v[0], v[axis] = similarity, math.sqrt(max(0.0, 1 - similarity ** 2))
    return v


def ranking_case():
    """The query cam1:1 is e0. Row: (camera, track, cosine to the query)."""
    rows = [('cam1', 1, 1.0),    # 0: the query
            ('cam1', 2, 0.99),   # 1: its own camera, most similar of all
            ('cam2', 5, 0.9),    # 2
            ('cam3', 6, 0.7),    # 3: tied with row 4
            ('cam2', 7, 0.7),    # 4
            ('cam3', 2, 0.5),    # 5
            ('cam1', 3, 0.2)]    # 6: its own camera
    features = torch.stack([toward(s, 1 + i % (DIM - 1)) for i, (_, _, s) in enumerate(rows)])
    table = TrackletTable([r[0] for r in rows], [r[1] for r in rows], list(range(0, 70, 10)),
                          list(range(5, 75, 10)), [10, 11, 12, 13, 14, 15, 16])
    return features, table


def keys(hits):
    return [(h.camera, h.track) for h in hits]


def test_other_cameras_come_first_the_query_is_left_out_and_ties_stay_in_row_order():
    features, table = ranking_case()
    hits = search(features, ('cam1', 1), tracklets=table)
    assert keys(hits) == [('cam2', 5), ('cam3', 6), ('cam2', 7), ('cam3', 2),
                          ('cam1', 2), ('cam1', 3)]
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5, 6]
    assert [h.index for h in hits] == [2, 3, 4, 5, 1, 6]
    np.testing.assert_allclose([h.similarity for h in hits], [0.9, 0.7, 0.7, 0.5, 0.99, 0.2],
                               atol=1e-6)
    assert [h.global_id for h in hits] == [12, 13, 14, 15, 11, 16]
    assert [h.other_camera for h in hits] == [True] * 4 + [False] * 2
    assert hits[0].first == 20 and hits[0].last == 25
    # a cut inside the tie keeps the earlier row; a cut past the other cameras fills from
    # the query's camera
    assert keys(search(features, ('cam1', 1), tracklets=table, top_k=2)) == [('cam2', 5),
                                                                             ('cam3', 6)]
    assert keys(search(features, ('cam1', 1), tracklets=table, top_k=5))[-1] == ('cam1', 2)


def test_a_tie_is_broken_by_row_order_whatever_the_rows_hold():
    features = torch.stack([toward(1.0)] + [toward(0.6, 2)] * 40)
    table = TrackletTable(['q'] + ['c'] * 40, list(range(41)), [0] * 41, [1] * 41)
    for k in (1, 7, 39):
        assert [h.index for h in search(features, ('q', 0), tracklets=table, top_k=k)] == \
            list(range(1, k + 1))
    # many ties among several scores: the ranking is (score down, row up), cut anywhere
    levels = torch.stack([toward(s, 3) for s in (0.2, 0.5, 0.8)])
    pick = torch.randint(0, 3, (600,), generator=torch.Generator().manual_seed(0))
    features = torch.cat([toward(1.0)[None], levels[pick]])
    table = TrackletTable(['q'] + ['c'] * 600, list(range(601)), [0] * 601, [1] * 601)
    expected = sorted(range(1, 601), key=lambda i: (-int(pick[i - 1]), i))
    for k in (None, 50, 333):
        hits = search(features, ('q', 0), tracklets=table, top_k=k)
        assert [h.index for h in hits] == expected[:k]


def test_features_need_not_be_normalised_and_a_gallery_is_searched_alike():
    features, table = ranking_case()
    scaled = features * torch.arange(1, 8, dtype=torch.float32)[:, None]
    assert keys(search(scaled.numpy(), ('cam1', 1), tracklets=table)) == \
        keys(search(features, ('cam1', 1), tracklets=table))
    gallery = Gallery(scaled, table, 0.5, FINGERPRINT)
    hits = search(gallery, ('cam1', 1), top_k=3)
    assert keys(hits) == [('cam2', 5), ('cam3', 6), ('cam2', 7)]
    assert hits[0].similarity == pytest.approx(0.9, abs=1e-6)


def test_query_by_several_crops_searches_with_their_normalised_mean():
    features, table = ranking_case()
    crops = torch.stack([3 * (toward(0.6, 1) + toward(0.8, 2)),
                         3 * (toward(0.6, 1) - toward(0.8, 2) + 2 * toward(0.0, 3))])
    mean = crops.mean(0)
    assert torch.allclose(query_feature(crops), mean / mean.norm())
    assert torch.allclose(query_feature([crops[0], crops[1]]), query_feature(crops))
    hits = search(features, crops, tracklets=table)
    expected = features @ (mean / mean.norm())
    order = sorted(range(7), key=lambda i: (-float(expected[i]), i))
    assert [h.index for h in hits] == order  # no camera to prefer, no row left out
    assert all(h.other_camera and h.gap_frames is None for h in hits)
    one = search(features, crops[0], tracklets=table)
    assert [h.index for h in one] != order  # one crop alone ranks otherwise


class Corridor:
    """cam1 -> cam2 takes 90 to 110 frames; nothing else is known; records every call."""

    def __init__(self):
        self.calls = []

    def transit_log_likelihood(self, from_camera, to_camera, gap_frames):
        self.calls.append((from_camera, to_camera, gap_frames))
        if (from_camera, to_camera) == ('cam1', 'cam2'):
            return 2.0 if 90 <= gap_frames <= 110 else -3.0
        return 0.0


def linked_case():
    # query cam1:1 frames 100-150 (session 0)
    rows = [('cam1', 1, 100, 150, 1.0, 0),
            ('cam2', 2, 250, 300, 0.80, 0),   # 100 frames after: the corridor's time
            ('cam2', 3, 400, 420, 0.85, 0),   # 250 frames after: too late for the corridor
            ('cam3', 4, 10, 60, 0.60, 0),     # 40 frames before
            ('cam1', 5, 140, 200, 0.95, 0),   # own camera, overlapping: another person
            ('cam2', 6, 120, 130, 0.50, 0),   # overlaps the query in time, other camera
            ('cam2', 7, 250, 300, 0.70, 1)]   # another session: frames not comparable
    features = torch.stack([toward(r[4], 1 + i % (DIM - 1)) for i, r in enumerate(rows)])
    table = TrackletTable([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                          [r[3] for r in rows], None, [r[5] for r in rows])
    return features, table


def test_camera_links_give_each_hit_its_walk_and_rerank_by_the_combined_score():
    features, table = linked_case()
    links = Corridor()
    hits = {h.track: h for h in search(features, ('cam1', 1), tracklets=table,
                                       camera_links=links)}
    assert (hits[2].gap_frames, hits[2].direction, hits[2].transit_log_likelihood,
            hits[2].reachable) == (100, 'after', 2.0, True)
    assert (hits[3].gap_frames, hits[3].direction, hits[3].reachable) == (250, 'after', False)
    assert (hits[4].gap_frames, hits[4].direction, hits[4].transit_log_likelihood) == \
        (40, 'before', 0.0)
    assert hits[6].direction == 'overlap' and hits[6].gap_frames == 120 - 150
    assert hits[5].transit_log_likelihood == -math.inf and hits[5].reachable is False
    assert hits[5].score == -math.inf  # two tracks of one camera at once: two people
    assert hits[7].gap_frames is None and hits[7].transit_log_likelihood is None
    assert hits[7].score == pytest.approx(0.70, abs=1e-6)
    assert hits[2].score == pytest.approx(0.80 + TRANSIT_WEIGHT * 2.0, abs=1e-6)
    # the direction of each walk: the tracklet that starts first is where it comes from
    assert ('cam3', 'cam1', 40) in links.calls and ('cam1', 'cam2', 100) in links.calls
    assert not any(call[2] == 140 - 150 for call in links.calls)  # own camera: not asked
    assert len(links.calls) == 4  # the other session is not asked
    ranked = [h.track for h in search(features, ('cam1', 1), tracklets=table,
                                      camera_links=links)]
    # 2: 0.80 + 0.2, 7: 0.70 (no time), 4: 0.60 + 0, 3: 0.85 - 0.3 (too late for the
    # corridor), 6: 0.50 - 0.3; 5 (own camera) last
    assert ranked == [2, 7, 4, 3, 6, 5]
    assert [h.track for h in search(features, ('cam1', 1), tracklets=table)] == \
        [3, 2, 7, 4, 6, 5]  # appearance only
    plain = search(features, ('cam1', 1), tracklets=table,
                   camera_links=lambda a, b, gap: Corridor().transit_log_likelihood(a, b, gap))
    assert [h.track for h in plain] == ranked  # a plain function serves as well


@pytest.mark.parametrize('query, kwargs, message', [
    (('cam9', 1), {}, 'no tracklet cam9:1'),
    (('cam2', 2), {}, 'names 2 tracklets (sessions 0, 1)'),
    (torch.ones(DIM + 1), {}, 'query feature has 9 dimensions'),
    (torch.zeros(DIM), {}, 'average to zero'),
    (('cam1', 1), {'top_k': 0}, 'top_k must be >= 1'),
    (('cam1', 1), {'camera_links': lambda a, b, g: float('nan')},
     "transit_log_likelihood('cam1', 'cam2', 100) returned nan"),
    (('cam1', 1), {'camera_links': lambda a, b, g: None}, 'returned None'),
])
def test_bad_queries_are_refused_in_one_line(query, kwargs, message):
    features, table = linked_case()
    table.tracks[6] = 2  # cam2:2 in sessions 0 and 1
    with pytest.raises((KeyError, ValueError)) as err:
        search(features, query, tracklets=table, **kwargs)
    text = err.value.args[0]
    assert message in text
    assert '\n' not in text


def test_searching_features_needs_one_row_per_tracklet():
    features, table = ranking_case()
    with pytest.raises(ValueError, match='6 features for 7 tracklets'):
        search(features[:6], ('cam1', 1), tracklets=table)
    with pytest.raises(ValueError, match='needs their tracklets'):
        search(features, ('cam1', 1))


# --- the report -------------------------------------------------------------------------

NASTY = 'cam <script>alert(1)</script> #1?&"x\''


def _crop(path, colour):
    import cv2
    image = np.zeros((64, 32, 3), np.uint8)
    image[:, :] = colour
    image[16:48, 8:24] = (255 - colour[0], 80, colour[2])
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return str(path)


@pytest.fixture
def nasty_search(tmp_path):
    """A search over cameras whose names need escaping, with crop files under those names."""
    cameras = [NASTY, 'cam 2', 'cam&3']
    table = TrackletTable([cameras[i % 3] for i in range(9)], list(range(9)),
                          [i * 30 for i in range(9)], [i * 30 + 20 for i in range(9)],
                          [1 + i % 4 for i in range(9)])
    features = torch.stack([toward(1 - i / 10, 1 + i % (DIM - 1)) for i in range(9)])
    crops = {}
    for i, (camera, track) in enumerate(zip(table.cameras, table.tracks)):
        crops[(camera, track)] = [_crop(tmp_path / 'crops' / camera / f'{track}-{k}.jpg',
                                        (40 * i % 255, 120, 20 * k)) for k in range(3)]
    hits = search(features, (NASTY, 0), tracklets=table)
    query = ReportQuery(f'{NASTY} track 0', crops[(NASTY, 0)], NASTY, 0, 20)
    return tmp_path / 'out', query, hits, crops


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.scripts = [], 0

    def handle_starttag(self, tag, attrs):
        self.scripts += tag == 'script'
        self.links += [value for name, value in attrs if name in ('src', 'href')]


def test_the_report_escapes_every_name_and_every_link_resolves(nasty_search):
    out, query, hits, crops = nasty_search
    out.mkdir()
    write_search_csv(str(out / 'search.csv'), hits)
    page = write_search_report(str(out / 'search.html'), query, hits, crops,
                               csv_file='search.csv')
    text = open(page, encoding='utf-8').read()
    assert '<script>' not in text and '&lt;script&gt;alert(1)&lt;/script&gt; #1?&amp;' in text
    parser = _Links()
    parser.feed(text)
    assert parser.scripts == 0
    assert len(parser.links) == 3 + len(hits) + 1  # query crops, one per hit, the CSV
    for link in parser.links:
        assert '#' not in link and '?' not in link and ' ' not in link
        assert osp.isfile(osp.join(out, unquote(link))), link
    assert '<svg' in text and text.count('<rect') >= len(hits) + 1
    with open(out / 'search.csv', newline='', encoding='utf-8') as f:
        rows = list(csv.reader(f))
    assert rows[0] == CSV_COLUMNS and len(rows) == len(hits) + 1
    assert rows[1][:4] == ['1', hits[0].camera, str(hits[0].track), '0']
    assert {r[1] for r in rows[1:]} == {NASTY, 'cam 2', 'cam&3'}


def test_a_thumbnail_that_cannot_be_made_is_an_error_naming_the_file(nasty_search):
    out, query, hits, crops = nasty_search
    missing = dict(crops)
    bad = out.parent / 'crops' / 'gone.jpg'
    key = (hits[1].camera, hits[1].track)
    missing[key] = [str(bad)]
    with pytest.raises(FileNotFoundError, match='gone.jpg'):
        write_search_report(str(out / 'search.html'), query, hits, missing)
    blocked = out / 'thumbs' / 'query-00.jpg'
    blocked.unlink()  # written by the first try
    blocked.mkdir()  # a folder where the thumbnail goes
    with pytest.raises(OSError, match='query-00.jpg'):
        write_search_report(str(out / 'search.html'), query, hits, crops)


def test_search_html_renders_in_headless_chromium(nasty_search, tmp_path):
    chromium = shutil.which('chromium') or shutil.which('chromium-browser')
    if chromium is None:
        pytest.skip('Chromium is not installed: the screenshot check needs it')
    out, query, hits, crops = nasty_search
    out.mkdir()
    page = write_search_report(str(out / 'search.html'), query, hits, crops)
    shot = tmp_path / 'search.png'
    subprocess.run([chromium, '--headless', '--no-sandbox', '--disable-gpu',
                    '--disable-background-networking', '--disable-component-update',
                    '--no-first-run', f'--screenshot={shot}', '--window-size=1000,800',
                    Path(page).resolve().as_uri()],
                   check=True, capture_output=True, timeout=120)
    import cv2
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[:2] == (800, 1000)
    assert len(np.unique(image.reshape(-1, 3) // 16, axis=0)) > 20  # thumbnails, not a blank page


def crop_features(paths):
    """A stand-in for a model: each crop's 16x8 colour thumbnail, as a vector."""
    import cv2
    return torch.stack([torch.from_numpy(cv2.resize(cv2.imread(p), (8, 16)).astype(np.float32))
                        .reshape(-1) for p in paths])


def test_footage_tracklets_are_searched_by_a_track_or_by_crops_and_reported(tiny_tracklets,
                                                                           tmp_path):
    from dal_torchreid.footage import read_footage_tracklets
    root, name = tiny_tracklets
    tracklets = read_footage_tracklets(osp.join(root, name))
    features = torch.stack([crop_features(t.paths).mean(0) for t in tracklets])
    ids = list(range(1, len(tracklets) + 1))
    target = tracklets[len(tracklets) // 2]
    by_track = search(features, (target.camera, target.track), tracklets=tracklets,
                      global_ids=ids)
    assert len(by_track) == len(tracklets) - 1
    assert (target.camera, target.track) not in keys(by_track)
    cameras = [h.other_camera for h in by_track]
    assert cameras == sorted(cameras, reverse=True) and any(cameras) and not all(cameras)
    # its own crops as query images: the tracklet itself first, similarity 1
    by_crops = search(features, crop_features(target.paths), tracklets=tracklets, global_ids=ids)
    assert keys(by_crops)[0] == (target.camera, target.track)
    assert by_crops[0].similarity == pytest.approx(1.0, abs=1e-5)
    assert by_crops[0].global_id == ids[len(tracklets) // 2]
    out = tmp_path / 'out'
    out.mkdir()
    query = ReportQuery(f'{target.camera} track {target.track}', target.paths, target.camera,
                        target.first, target.last)
    page = write_search_report(str(out / 'search.html'), query, by_track,
                               {(t.camera, t.track): t.paths for t in tracklets})
    parser = _Links()
    parser.feed(open(page, encoding='utf-8').read())
    assert len(parser.links) == min(len(target.paths), 8) + len(by_track)
    assert all(osp.isfile(osp.join(out, unquote(link))) for link in parser.links)


def test_the_search_benchmark_measures_each_size_in_a_process_of_its_own(capsys):
    from dal_torchreid.benchmarks import search_scale
    assert search_scale.main(['--sizes', '300', '--dims', '16', '--threads', '1',
                              '--queries', '3']) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert 'median of 3 queries' in lines[0] and len(lines) == 3
    cells = lines[2].split()
    assert cells[:2] == ['300', '16'] and all(float(c) >= 0 for c in cells[2:])
    assert float(cells[-1]) == pytest.approx(300 * 16 * 4 / 2 ** 20, abs=0.05)
