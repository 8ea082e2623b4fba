"""The identity gallery: read weights-only, foreign or damaged files refused, ids carried."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from dal_torchreid.footage.gallery import (
    GALLERY_FILE, Gallery, GalleryError, ModelFingerprint, carry_ids, check_compatible,
    gallery_state, load_gallery, match_identities, model_fingerprint, save_gallery
)
from dal_torchreid.footage.tracklet_table import TrackletTable

DIM = 16
FINGERPRINT = ModelFingerprint('cd' * 32, 'osnet_x1_0', 256, 128, (0.485, 0.456, 0.406),
                               (0.229, 0.224, 0.225), 'avg')


def unit(axis, similarity=1.0, other=None):
    """e_axis, or a unit vector at cosine ``similarity`` to e_axis, the rest along e_other."""
    v = torch.zeros(DIM)
    v[axis] = similarity
    if other is not None:
        v[other] = math.sqrt(1 - similarity ** 2)
    return v


def day_one():
    """Identities 1, 2 and 5, next id 8 (3, 4, 6 and 7 were used once and are gone); id 2 has
    two tracklets in two cameras."""
    features = torch.stack([unit(0), unit(1), unit(1, 0.9, 9), unit(2)])
    table = TrackletTable(['cam1', 'cam1', 'cam2', 'cam2'], [1, 2, 4, 7], [10, 40, 90, 200],
                          [30, 80, 120, 260], [1, 2, 2, 5])
    return Gallery(features, table, 0.6, FINGERPRINT, {'cam1->cam2': {'mean_gap': 50.0}},
                   next_id=8)


def test_a_gallery_round_trips_through_a_weights_only_file(tmp_path):
    gallery = day_one()
    path = save_gallery(str(tmp_path), gallery)
    assert path == str(tmp_path / GALLERY_FILE)
    assert not [p for p in tmp_path.iterdir() if p.name != GALLERY_FILE]  # no temporary left
    state = torch.load(path, weights_only=True)
    assert state['format'] == 'dal_torchreid.gallery' and state['version'] == 1
    assert state['camera_names'] == ['cam1', 'cam2']
    assert state['global_ids'].tolist() == [1, 2, 2, 5] and state['next_id'] == 8
    assert state['summary_ids'].tolist() == [1, 2, 5]
    expected = torch.nn.functional.normalize(unit(1) + unit(1, 0.9, 9), dim=0)
    assert torch.allclose(state['summaries'][1], expected, atol=1e-6)
    assert state['fingerprint']['model_name'] == 'osnet_x1_0'
    loaded = load_gallery(str(tmp_path))
    assert loaded.table == gallery.table and loaded.fingerprint == gallery.fingerprint
    assert torch.equal(loaded.features, gallery.features) and loaded.next_id == 8
    assert loaded.threshold == 0.6 and loaded.camera_links == gallery.camera_links
    assert loaded.source == path


def test_a_gallery_of_another_model_or_input_size_is_refused_in_one_line():
    gallery = day_one()
    check_compatible(gallery, FINGERPRINT)
    for other in (ModelFingerprint('ef' * 32, *list(vars(FINGERPRINT).values())[1:]),
                  ModelFingerprint(FINGERPRINT.weights_sha256, 'osnet_x1_0', 128, 64,
                                   FINGERPRINT.norm_mean, FINGERPRINT.norm_std, 'avg')):
        with pytest.raises(GalleryError) as err:
            check_compatible(gallery, other)
        text = str(err.value)
        assert '\n' not in text and FINGERPRINT.describe() in text and other.describe() in text
        with pytest.raises(GalleryError):
            carry_ids(gallery, torch.eye(DIM)[:1], ['cam1'], [1], [2], [1], 0.6, tracks=[1],
                      fingerprint=other)


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.classifier = nn.Linear(4, 10)


def test_the_fingerprint_follows_the_backbone_weights_and_the_input():
    torch.manual_seed(0)
    model = Tiny()
    base = model_fingerprint(model, 'tiny', 64, 32, [0.5] * 3, [0.5] * 3, 'avg')
    assert len(base.weights_sha256) == 64
    nn.init.normal_(model.classifier.weight)  # a classifier built at random makes no feature
    model.bn.num_batches_tracked += 3
    assert model_fingerprint(model, 'tiny', 64, 32, [0.5] * 3, [0.5] * 3, 'avg') == base
    assert model_fingerprint(model, 'tiny', 64, 48, [0.5] * 3, [0.5] * 3, 'avg') != base
    assert model_fingerprint(model, 'tiny', 64, 32, [0.5] * 3, [0.5] * 3, 'max') != base
    with torch.no_grad():
        model.conv.weight[0, 0, 0, 0] += 1e-3
    assert model_fingerprint(model, 'tiny', 64, 32, [0.5] * 3, [0.5] * 3,
                             'avg').weights_sha256 != base.weights_sha256


def _damage(tmp_path, change):
    state = gallery_state(day_one())
    change(state)
    path = tmp_path / 'gallery.pth'
    torch.save(state, path)
    return str(path)


@pytest.mark.parametrize('change, message', [
    (lambda s: s.pop('next_id'), 'key "next_id" is missing'),
    (lambda s: s.update(version=7), 'has version 7'),
    (lambda s: s.update(format='other'), 'is not a gallery'),
    (lambda s: s.update(tracks=s['tracks'][:2]), '"tracks" must be int64 of shape (4,)'),
    (lambda s: s.update(next_id=5), 'next_id 5 is not above the largest global id 5'),
    (lambda s: s.update(next_id=True), 'key "next_id" holds a bool'),
    (lambda s: s['global_ids'].__setitem__(0, 0), 'global id >= 1, found 0'),
    (lambda s: s['summaries'].__setitem__(0, -s['summaries'][0]), '"summaries" do not match'),
    (lambda s: s['fingerprint'].pop('height'), 'fingerprint: key "height" is missing'),
    (lambda s: s.update(threshold=1.5), 'threshold must be a number in (0, 1]'),
    (lambda s: s['features'].__setitem__((0, 0), float('nan')), 'NaN or infinite'),
    (lambda s: s['camera_index'].__setitem__(0, 9), 'points outside the 2 camera_names'),
    (lambda s: s['first'].__setitem__(0, 99), 'ends (frame 30) before it starts (frame 99)'),
])
def test_a_damaged_gallery_is_refused_in_one_line_naming_the_file(tmp_path, change, message):
    path = _damage(tmp_path, change)
    with pytest.raises(GalleryError) as err:
        load_gallery(path)
    text = str(err.value)
    assert message in text and f'gallery "{path}"' in text and '\n' not in text


def test_a_corrupt_or_missing_gallery_file_is_refused_naming_it(tmp_path):
    good = save_gallery(str(tmp_path / 'good.pth'), day_one())
    for name, data in (('garbage.pth', b'not a gallery at all'),
                       ('truncated.pth', open(good, 'rb').read()[:300])):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(GalleryError) as err:
            load_gallery(str(path))
        assert f'gallery "{path}" cannot be loaded' in str(err.value)
        assert '\n' not in str(err.value)
    with pytest.raises(FileNotFoundError, match='nowhere'):
        load_gallery(str(tmp_path / 'nowhere'))
    with pytest.raises(GalleryError, match='not a gallery'):
        load_gallery(_damage(tmp_path, lambda s: s.clear()))


def test_carried_ids_keep_returning_people_and_give_new_people_ids_never_used():
    previous = day_one()
    # day two: cluster 10 is person 2 again (two tracklets), cluster 11 is somebody new,
    # cluster 12 resembles person 5 only a little (under the threshold)
    features = torch.stack([unit(1, 0.95, 10), unit(1, 0.9, 11), unit(12), unit(2, 0.4, 13)])
    ids, grown = carry_ids(previous, features, ['cam3', 'cam1', 'cam1', 'cam2'], [5, 5, 50, 9],
                           [40, 30, 70, 20], [10, 10, 11, 12], 0.6, tracks=[1, 7, 2, 3],
                           fingerprint=FINGERPRINT)
    assert ids.tolist() == [2, 2, 8, 9]  # neither a gap (3, 4) nor one above the largest (6)
    assert grown.next_id == 10 and len(grown) == 8
    assert grown.table.sessions == [0, 0, 0, 0, 1, 1, 1, 1]
    assert grown.table.global_ids == [1, 2, 2, 5, 2, 2, 8, 9]
    assert grown.table.cameras[4:] == ['cam3', 'cam1', 'cam1', 'cam2']
    assert grown.summary_ids.tolist() == [1, 2, 5, 8, 9]
    assert grown.camera_links == previous.camera_links and grown.threshold == 0.6
    # day three: the newcomer of day two comes back; nobody gets an id used before
    ids3, grown3 = carry_ids(grown, torch.stack([unit(12, 0.97, 14), unit(15)]), ['cam2', 'cam2'],
                             [1, 1], [9, 9], [0, 1], 0.6, tracks=[1, 2], fingerprint=FINGERPRINT,
                             camera_links={})
    assert ids3.tolist() == [8, 10] and grown3.next_id == 11 and grown3.camera_links == {}
    assert grown3.table.sessions[-2:] == [2, 2]
    # (camera, track) names a tracklet of each day: the session tells them apart
    assert grown3.table.index_of('cam2', 2, session=2) == 9
    with pytest.raises(KeyError, match='sessions 0, 1'):
        grown3.table.index_of('cam1', 2)


def test_ids_are_assigned_one_to_one_with_the_largest_total_similarity():
    old = torch.stack([unit(0), unit(1)])
    # a: 0.72 to x, 0.69 to y; b: 0.70 to x, nothing near y. Greedy (a-x first) would leave
    # b without its person; the assignment gives a-y, b-x (0.69 + 0.70 > 0.72)
    a = 0.72 * unit(0) + 0.69 * unit(1) + math.sqrt(1 - 0.72 ** 2 - 0.69 ** 2) * unit(5)
    b = unit(0, 0.70, 6)
    sims = torch.stack([a, b]) @ old.T
    assert sims[0, 0] > sims[1, 0] > sims[0, 1] > 0.5 > sims[1, 1]
    assert match_identities(torch.stack([a, b]), old, 0.5) == [(0, 1), (1, 0)]
    # two clusters near one identity: only the nearer takes its id
    assert match_identities(torch.stack([unit(0, 0.9, 3), unit(0, 0.8, 4)]), old, 0.5) == [(0, 0)]
    assert match_identities(torch.stack([unit(7)]), old, 0.5) == []
    with pytest.raises(ValueError, match=r'threshold must be in \(0, 1\]'):
        match_identities(old, old, 0.0)


def test_carry_refuses_features_that_do_not_fit_the_gallery():
    previous = day_one()
    with pytest.raises(ValueError, match='16-dimensional'):
        carry_ids(previous, torch.ones(2, 8), ['c', 'c'], [1, 1], [2, 2], [1, 2], 0.6,
                  tracks=[1, 2], fingerprint=FINGERPRINT)
    with pytest.raises(ValueError, match='new_ids has shape'):
        carry_ids(previous, torch.ones(2, DIM), ['c', 'c'], [1, 1], [2, 2], [1], 0.6,
                  tracks=[1, 2], fingerprint=FINGERPRINT)
    with pytest.raises(GalleryError, match='camera_links.cam1'):
        carry_ids(previous, torch.ones(1, DIM), ['c'], [1], [2], [1], 0.6, tracks=[1],
                  fingerprint=FINGERPRINT, camera_links={'cam1': {'gap': np.float32(3)}})
