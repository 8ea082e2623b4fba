"""dal-associate's association methods end to end: the agglomerative default writes its
camera links and says how it found its threshold; dbscan and a set threshold are taken
as asked; dal-search reads the camera links a gallery keeps."""
import json
import os
from types import SimpleNamespace

import numpy as np
import pytest

from dal_torchreid.cli.associate import main
from dal_torchreid.footage.camera_links import TransitTimes, estimate_camera_links
from dal_torchreid.footage.search_run import stored_camera_links
from footage_fixtures import (  # noqa: F401  (fixtures)
    forget_footage_datasets, tiny_footage, tiny_tracklets
)
from test_camera_links import TRANSIT, walks

TINY_MODEL = ['model.name', 'resnet18', 'model.pretrained', 'False', 'use_gpu', 'False',
              'data.height', '32', 'data.width', '16', 'train.seed', '3']


def associate(tiny_tracklets, out, *extra):
    root, name = tiny_tracklets
    return main(['--root', root, '-s', name, '--out', str(out), *TINY_MODEL, *extra])


def test_the_default_association_records_its_threshold_and_writes_its_camera_links(
        tiny_tracklets, tmp_path, capsys):
    assert associate(tiny_tracklets, tmp_path / 'out') == 0
    printed = capsys.readouterr().out
    summary = json.loads((tmp_path / 'out' / 'summary.json').read_text())
    record = summary['association']
    assert record['method'] == 'agglomerative' and record['settings']['threshold'] is None
    assert isinstance(record['threshold'], float)
    assert record['threshold_found']['method'].startswith('two-component Gaussian mixture')
    assert f'merge threshold {record["threshold"]:.3f}' in printed
    links = json.loads((tmp_path / 'out' / 'camera_links.json').read_text())
    assert links['used'] == record['camera_links']['used'] and links['mode'] == 'auto'
    assert links['reason'] in printed and record['camera_links_file'] == 'camera_links.json'
    assert links['cameras'] == ['cam1', 'cam2', 'cam3']
    report = (tmp_path / 'out' / 'report.html').read_text()
    assert 'id="camera-links"' in report and 'id="association"' in report
    # no tracklet pair of one camera that overlaps in time shares an id
    ids = {}
    for row in (tmp_path / 'out' / 'identities.csv').read_text().splitlines()[1:]:
        camera, _, first, last, _, pid = row.split(',')
        ids.setdefault((camera, pid), []).append((int(first), int(last)))
    for spans in ids.values():
        spans.sort()
        assert all(b[0] > a[1] for a, b in zip(spans, spans[1:]))


def test_dbscan_and_a_set_threshold_are_taken_as_asked(tiny_tracklets, tmp_path, capsys):
    assert associate(tiny_tracklets, tmp_path / 'db', 'associate.method', 'dbscan') == 0
    summary = json.loads((tmp_path / 'db' / 'summary.json').read_text())
    assert summary['association']['method'] == 'dbscan'
    assert not (tmp_path / 'db' / 'camera_links.json').exists()
    assert 'camera-aware DBSCAN' in capsys.readouterr().out
    # a threshold no pair reaches: every tracklet is a person of its own
    assert associate(tiny_tracklets, tmp_path / 'set', 'associate.threshold', '1e6') == 0
    summary = json.loads((tmp_path / 'set' / 'summary.json').read_text())
    assert summary['association']['threshold'] == 1e6
    assert summary['association']['threshold_found']['method'] == 'set (associate.threshold)'
    assert summary['identities'] == summary['tracklets']
    assert associate(tiny_tracklets, tmp_path / 'bad', 'associate.threshold', 'high') == 2
    assert 'associate.threshold must be auto or a number' in capsys.readouterr().err
    assert not os.path.exists(tmp_path / 'bad' / 'summary.json')


def test_a_gallery_s_camera_links_answer_dal_search_by_camera_name():
    times, pairs = walks()
    links = estimate_camera_links(times, pairs)
    record = links.to_dict(['hall', 'stairs', 'exit'], used=True, reason='test')
    gallery = SimpleNamespace(camera_links=record, name='gallery "g"')  # what it reads
    transit = stored_camera_links(gallery)
    assert isinstance(transit, TransitTimes)
    mean, _ = TRANSIT[(0, 1)]
    at_mean = transit.transit_log_likelihood('hall', 'stairs', int(mean))
    far = transit.transit_log_likelihood('hall', 'stairs', int(20 * mean))
    assert at_mean > 0 > far and np.isfinite(far)
    assert transit.transit_log_likelihood('hall', 'roof', 10) == 0.0  # a camera it never saw
    gallery.camera_links = {'used': False, 'links': []}
    assert stored_camera_links(gallery) is None
    gallery.camera_links = dict(record, schema='something else')
    with pytest.warns(UserWarning, match='cannot use'):
        assert stored_camera_links(gallery) is None
