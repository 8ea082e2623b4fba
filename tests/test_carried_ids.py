"""Ids carried from one batch of footage to the next: the label-free threshold, each tracklet's
old id or a new one never used, dal-associate --gallery and the gallery it writes."""
import csv
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from dal_torchreid.experiment.config import ConfigError, load_config
from dal_torchreid.footage.carried_ids import carry_threshold, gallery_background, keep_in_gallery
from dal_torchreid.footage.carry_threshold import (
    BACKGROUND_QUANTILE, best_other_similarities, youden_threshold
)
from dal_torchreid.footage.gallery import Gallery, ModelFingerprint, load_gallery
from dal_torchreid.footage.tracklet_carry import assign_identities, carry_tracklet_ids
from dal_torchreid.footage.tracklet_table import TrackletTable
from footage_fixtures import (  # noqa: F401  (fixtures)
    forget_footage_datasets, tiny_footage, tiny_tracklets
)

DIM = 64
FINGERPRINT = ModelFingerprint('ab' * 32, 'Tiny', 64, 32, (0.5,) * 3, (0.5,) * 3, 'avg')


def people(n, seed=0):
    return F.normalize(torch.randn(n, DIM, generator=torch.Generator().manual_seed(seed)), dim=1)


def looks(person, k, seed, noise=0.15):
    """``k`` tracklet features of one person: its vector and some noise."""
    g = torch.Generator().manual_seed(seed)
    return F.normalize(person[None] + noise * torch.randn(k, DIM, generator=g) / DIM ** 0.5,
                       dim=1)


def day_one(n=12):
    """A gallery of ``n`` people, two tracklets each (cam1, cam2); ids 3, 5, 7, ... (gaps),
    next id 100."""
    faces = people(n)
    features = torch.cat([looks(faces[p], 2, p) for p in range(n)])
    ids = [3 + 2 * p for p in range(n) for _ in range(2)]
    table = TrackletTable(['cam1', 'cam2'] * n, list(range(2 * n)), [10] * (2 * n),
                          [50] * (2 * n), ids)
    return Gallery(features, table, 0.5, FINGERPRINT, next_id=100), faces


def test_youden_places_the_threshold_where_the_two_samples_separate():
    value, separation = youden_threshold(np.array([.9, .92, .95, .5]), np.array([.4, .5, .55, .6]))
    assert .6 < value < .9 and separation == pytest.approx(.75)


def test_best_other_similarity_leaves_each_rows_own_identity_out():
    similarity = np.array([[1.0, .3, .5], [.2, .9, .1]])
    assert best_other_similarities(similarity, np.array([0, 1])).tolist() == [.5, .2]


def test_the_threshold_separates_returning_people_from_look_alikes():
    gallery, faces = day_one(20)
    returning = torch.cat([looks(faces[p], 1, 100 + p) for p in range(10)])
    new = torch.cat([looks(f, 1, 200 + i) for i, f in enumerate(people(10, seed=9))])
    features = torch.cat([returning, new])
    threshold, estimate, how = carry_threshold(gallery, features, None)
    best = (features @ gallery.summaries.T).max(1).values
    assert best[:10].min() > threshold > best[10:].max()  # every returning one above, no new one
    assert estimate.candidates == 20 and estimate.background == len(gallery)
    assert 'found without labels' in how and 'separate best' in how
    # with only two of them back, nothing shows that people came back: the 0.95 quantile
    few = torch.cat([returning[:2], new])
    threshold, estimate, how = carry_threshold(gallery, few, None)
    assert threshold == pytest.approx(np.quantile(gallery_background(gallery), 0.95))
    assert 'quantile' in how


def test_nobody_coming_back_gets_few_old_ids():
    gallery, _ = day_one(30)
    strangers = torch.cat([looks(f, 1, 300 + i) for i, f in enumerate(people(40, seed=5))])
    threshold, estimate, _ = carry_threshold(gallery, strangers, None)
    assert threshold >= np.quantile(gallery_background(gallery), BACKGROUND_QUANTILE) - 1e-9
    best = (strangers @ gallery.summaries.T).max(1).values
    assert (best >= threshold).float().mean() <= 0.1  # without the floor: about half


def test_too_few_new_tracklets_fall_back_on_the_association_then_the_gallery():
    gallery, faces = day_one()
    one = looks(faces[0], 1, 7)
    assert carry_threshold(gallery, one, 0.77)[0] == 0.77
    value, estimate, how = carry_threshold(gallery, one, None)
    assert value == gallery.threshold and 'too few' in how and estimate.value is None
    assert carry_threshold(gallery, one, None, setting=0.9)[0] == 0.9


def test_cannot_linked_tracklets_never_share_an_old_id():
    similarity = np.array([[.9, .8], [.95, .2], [.85, .7]])
    # 0 and 1 overlap in one camera: 1 (more similar) takes column 0, 0 its next best
    assert assign_identities(similarity, .75, {(0, 1)}).tolist() == [1, 0, 0]
    assert assign_identities(similarity, .75, {(0, 1), (1, 2), (0, 2)}).tolist() == [1, 0, -1]
    assert assign_identities(similarity, .99).tolist() == [-1, -1, -1]


def test_returning_people_keep_their_id_new_people_get_ids_never_used():
    gallery, faces = day_one()
    newcomers = people(2, seed=42)
    features = torch.cat([looks(faces[0], 2, 500), looks(faces[4], 1, 501),
                          looks(newcomers[0], 2, 502), looks(newcomers[1], 1, 503)])
    # the new association's clusters: it joined person 4 and newcomer 1 (a mistake)
    clusters = [1, 1, 2, 3, 3, 2]
    ids, grown = carry_tracklet_ids(gallery, features, ['cam1', 'cam2', 'cam3', 'cam1', 'cam2',
                                                        'cam3'],
                                    [1] * 6, [9] * 6, clusters, 0.8, tracks=list(range(6)),
                                    fingerprint=FINGERPRINT, source='/data/day2')
    assert ids[:3].tolist() == [3, 3, 11]  # persons 0 and 4: their old ids
    assert ids[3] == ids[4] and ids[5] != ids[3]  # newcomer 0's two tracklets share one id
    assert {ids[3], ids[5]} == {100, 101}  # next_id on, never an old or gap id
    assert grown.next_id == 102 and grown.sources == ['', '/data/day2']
    assert grown.table.sessions == [0] * 24 + [1] * 6
    assert grown.table.global_ids[24:] == ids.tolist()


class FakeAssociation:
    """What keep_in_gallery reads of an Association."""

    def __init__(self, features, cameras, ids, threshold=None):
        from dal_torchreid.footage import FootageTracklet
        self.features = features
        self.ids = np.asarray(ids)
        self.tracklets = [FootageTracklet(c, 0, i, [1, 9], ['a', 'b'], [], 'v')
                          for i, c in enumerate(cameras)]
        if threshold is not None:
            self.threshold = threshold


def test_the_gallery_written_records_the_threshold_and_how_it_was_found(tmp_path):
    gallery, faces = day_one()
    features = torch.cat([looks(faces[p], 1, 600 + p) for p in range(8)])
    association = FakeAssociation(features, ['cam3'] * 8, range(1, 9))
    ids, records = keep_in_gallery(str(tmp_path), association, gallery, FINGERPRINT,
                                   source='/data/day2')
    assert ids.tolist() == [3 + 2 * p for p in range(8)]
    record = records['gallery']
    assert record['carried_ids'] == 8 and record['new_ids'] == 0
    assert record['estimate']['value'] == record['threshold'] and 'without labels' in \
        record['threshold_how']
    assert record['association_threshold'] is None and not record['association_camera_links']
    state = torch.load(tmp_path / 'gallery.pth', weights_only=True)
    assert state['threshold'] == pytest.approx(record['threshold'])
    assert state['sessions'].tolist() == [0] * 24 + [1] * 8
    # a first gallery: the association's threshold where it gives one
    first, records = keep_in_gallery(str(tmp_path / 'first'), FakeAssociation(
        features, ['cam1'] * 8, range(1, 9), threshold=0.66), None, FINGERPRINT)
    assert records['gallery']['threshold'] == 0.66 and records['gallery']['association_threshold'] == 0.66
    assert load_gallery(str(tmp_path / 'first')).threshold == 0.66


def test_the_carry_threshold_key_is_checked():
    assert load_config(None, ['associate.carry_threshold', '0.7']).associate.carry_threshold == 0.7
    assert load_config(None).associate.carry_threshold == 0.0
    for bad in ('1.5', '-0.1'):
        with pytest.raises(ConfigError, match=r'associate.carry_threshold must be in \[0, 1\]'):
            load_config(None, ['associate.carry_threshold', bad])


TINY_MODEL = ['model.name', 'resnet18', 'model.pretrained', 'False', 'use_gpu', 'False',
              'data.height', '32', 'data.width', '16']


def read_ids(path):
    with open(path, newline='') as f:
        return {(r['camera'], int(r['track'])): int(r['global_id']) for r in csv.DictReader(f)}


@pytest.fixture(scope='module')
def day_two(tiny_footage, tiny_tracklets, tmp_path_factory):
    """Day 1: dal-associate of the tiny footage; day 2: the same footage again with
    ``--gallery`` of day 1. ``(day 1 OUT, day 2 OUT, model options)``."""
    import torchreid
    from dal_torchreid.cli.associate import main
    root, name = tiny_tracklets
    footage = tiny_footage[0]
    base = tmp_path_factory.mktemp('days')
    torch.manual_seed(1)
    weights = str(base / 'w.pth')
    torch.save(torchreid.models.build_model('resnet18', num_classes=1,
                                            pretrained=False).state_dict(), weights)
    model = TINY_MODEL + ['model.load_weights', weights]
    one, two = str(base / 'day1'), str(base / 'day2')
    assert main(['--root', root, '-s', name, '--out', one, '--footage', footage, *model]) == 0
    assert main(['--root', root, '-s', name, '--out', two, '--footage', footage,
                 '--gallery', one, *model, 'associate.carry_threshold', '0.5']) == 0
    return one, two, model


def test_associate_gallery_carries_ids_into_every_file_it_writes(day_two):
    one, two, _ = day_two
    first, second = read_ids(osp.join(one, 'identities.csv')), read_ids(
        osp.join(two, 'identities.csv'))
    gallery = load_gallery(one)
    old = set(first.values())
    assert set(second.values()) <= old | set(range(gallery.next_id, gallery.next_id + 100))
    summary = json.load(open(osp.join(two, 'summary.json')))
    record = summary['gallery']
    assert record['threshold'] == 0.5 and record['threshold_how'] == 'associate.carry_threshold'
    assert record['carried_tracklets'] == len(second)  # the same footage: all seen before
    assert summary['identities'] == len(set(second.values()))
    # the tracker files carry the same ids as identities.csv
    for camera in ('cam1', 'cam2', 'cam3'):
        rows = np.loadtxt(osp.join(two, f'{camera}.txt'), delimiter=',', ndmin=2)
        assert set(rows[:, 1].astype(int)) <= {g for (c, _), g in second.items() if c == camera}
    grown = torch.load(osp.join(two, 'gallery.pth'), weights_only=True)
    assert grown['sessions'].tolist() == [0] * len(first) + [1] * len(second)
    assert grown['next_id'] >= gallery.next_id
    assert 'scores' in summary and osp.isfile(osp.join(two, 'report.html'))


def test_a_new_person_never_gets_an_id_used_before(day_two, tiny_tracklets, tmp_path):
    from dal_torchreid.cli.associate import main
    one, two, model = day_two
    root, name = tiny_tracklets
    grown = load_gallery(two)
    used = set(grown.table.global_ids)
    # at similarity 1.0 only a tracklet identical to a whole identity of the gallery (one
    # alone in its identity) is seen before; every other cluster is new on day 3
    three = str(tmp_path / 'day3')
    assert main(['--root', root, '-s', name, '--out', three, '--gallery', two, *model,
                 'associate.carry_threshold', '1.0']) == 0
    third = read_ids(osp.join(three, 'identities.csv'))
    carried = {g for g in third.values() if g in used}
    new = sorted(set(third.values()) - carried)
    assert new and new == list(range(grown.next_id, grown.next_id + len(new)))
    singles = {g for g in used if grown.table.global_ids.count(g) <= 2}  # one tracklet a day
    assert carried <= singles
    record = json.load(open(osp.join(three, 'summary.json')))['gallery']
    assert (record['carried_ids'], record['new_ids']) == (len(carried), len(new))
    assert load_gallery(three).next_id == max(new) + 1


def test_a_foreign_gallery_is_refused_in_one_line_before_anything_is_written(
        day_two, tiny_tracklets, tmp_path, capsys):
    from dal_torchreid.cli.associate import main
    one, _, model = day_two
    root, name = tiny_tracklets
    out = tmp_path / 'out'
    capsys.readouterr()
    code = main(['--root', root, '-s', name, '--out', str(out), '--gallery', one,
                 *model[:6], 'data.height', '64', 'data.width', '32', *model[-2:]])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert 'was made by ResNet at 32x16' in err[0] and 'ResNet at 64x32' in err[0]
    assert not out.exists()
    code = main(['--root', root, '-s', name, '--out', str(out), '--gallery', one + '/nothing',
                 *model])
    assert code == 2 and 'nothing' in capsys.readouterr().err and not out.exists()
    before = sorted(os.listdir(one))
    code = main(['--root', root, '-s', name, '--out', one, '--gallery', one, *model])
    assert code == 2 and 'is the gallery folder' in capsys.readouterr().err
    assert sorted(os.listdir(one)) == before  # nothing moved aside


def test_the_fingerprint_reads_the_input_size_and_normalisation_of_the_transform():
    import torchreid
    import torchvision.transforms as T
    from dal_torchreid.footage.carried_ids import transform_fingerprint
    model = torch.nn.Conv2d(3, 4, 3)
    _, transform = torchreid.data.transforms.build_transforms(64, 32, transforms=[],
                                                              norm_mean=[0.5] * 3,
                                                              norm_std=[0.25] * 3)
    fingerprint = transform_fingerprint(model, transform, 'max')
    assert (fingerprint.model_name, fingerprint.height, fingerprint.width) == ('Conv2d', 64, 32)
    assert fingerprint.norm_mean == (0.5,) * 3 and fingerprint.norm_std == (0.25,) * 3
    assert fingerprint.pooling_method == 'max'
    with pytest.warns(UserWarning, match='0x0'):
        bare = transform_fingerprint(model, T.Compose([T.ToTensor()]), 'max')
    assert (bare.height, bare.width) == (0, 0) and bare != fingerprint
