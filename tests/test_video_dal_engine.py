"""VideoDALEngine end to end on tiny synthetic PRID2011 and MARS layouts."""
import math
import os
import random
import re

import numpy as np
import pytest
import torch

import torchreid

from dal_torchreid.data import TrackletFrameDataset
from dal_torchreid.engine import VideoDALEngine
from dal_torchreid.engine.checkpoint import CheckpointError

from engine_helpers import (
    anchors_of, assert_same_anchors, run_epochs, tiny_datamanager, tiny_engine, tiny_model
)


def check_results(results):
    assert 0.0 <= results['mAP'] <= 1.0
    assert all(0.0 <= v <= 1.0 for v in results['cmc'])
    assert results['cmc'] == sorted(results['cmc'])  # a CMC curve never decreases


def test_prid2011_trains_across_warm_up_and_evaluates(tiny_prid2011_root, tmp_path):
    torch.manual_seed(0)
    dm = tiny_datamanager(tiny_prid2011_root)
    engine = tiny_engine(dm, warmup_epochs=1)
    assert engine.criterion.tracklets_per_camera == [dm.num_train_pids] * 2
    before = anchors_of(engine)
    engine.run(save_dir=str(tmp_path), max_epoch=2, print_freq=1, ranks=[1, 5])
    # warm-up epoch 1 makes no association; epoch 2 associates across cameras
    assert any(not torch.equal(a, b) for a, b in zip(before, anchors_of(engine)))
    check_results(engine.test_results['prid2011'])
    assert os.path.isfile(tmp_path / 'model' / 'model.pth.tar-2')
    assert os.path.isfile(tmp_path / 'model' / 'checkpoint-latest.pth.tar')


def test_association_starts_only_after_warm_up(tiny_prid2011_root):
    torch.manual_seed(0)
    engine = tiny_engine(tiny_datamanager(tiny_prid2011_root), warmup_epochs=1)
    steps_per_epoch = len(engine.train_loader)
    steps = run_epochs(engine, 2)
    assert all(s[3] == 0 for s in steps[:steps_per_epoch])
    assert sum(s[3] for s in steps[steps_per_epoch:]) > 0
    assert all(math.isfinite(s[0]) for s in steps)


def test_mars_layout_with_three_or_more_cameras(tiny_mars_root, tmp_path):
    torch.manual_seed(0)
    dm = tiny_datamanager(tiny_mars_root, source='mars')
    engine = tiny_engine(dm, warmup_epochs=1)
    assert engine.criterion.num_cameras >= 3
    # MARS has several tracklets per person and camera: each is its own class
    trainset = dm.train_loader.dataset.train
    assert sum(engine.criterion.tracklets_per_camera) == len(trainset)
    engine.run(save_dir=str(tmp_path), max_epoch=2, print_freq=1, ranks=[1, 5])
    check_results(engine.test_results['mars'])


@pytest.mark.parametrize('name, loss', [
    ('resnet18', 'softmax'), ('mobilenetv2_x1_0', 'triplet'), ('osnet_x0_25', 'softmax'),
])
def test_backbone_families(tiny_prid2011_root, name, loss):
    torch.manual_seed(0)
    model = tiny_model(name, loss)
    engine = tiny_engine(tiny_datamanager(tiny_prid2011_root), model=model, warmup_epochs=0)
    assert engine.criterion.feature_dim == model.classifier.in_features
    steps = run_epochs(engine, 1)
    assert steps and all(math.isfinite(s[0]) for s in steps)
    assert engine.criterion.intra_anchors[0].abs().sum() > 0


def test_model_without_embedding_is_refused(tiny_prid2011_root):
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 16, 4))
    with pytest.raises(TypeError, match='classifier'):
        tiny_engine(tiny_datamanager(tiny_prid2011_root), model=model)


def seeded_run(datamanager, epochs=2):
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)
    engine = tiny_engine(datamanager, warmup_epochs=1)
    return run_epochs(engine, epochs), anchors_of(engine)


def test_identity_labels_do_not_reach_training(tiny_prid2011_root):
    dm = tiny_datamanager(tiny_prid2011_root)
    steps, anchors = seeded_run(dm)
    # relabel every identity arbitrarily (a random permutation plus an offset)
    trainset = dm.train_loader.dataset
    pids = sorted({item[1] for item in trainset.train})
    perm = dict(zip(pids, (np.random.default_rng(7).permutation(len(pids)) + 1000).tolist()))
    trainset.train = [(p, perm[pid], c, d) for p, pid, c, d in trainset.train]
    steps2, anchors2 = seeded_run(dm)
    assert steps == steps2
    assert_same_anchors(anchors, anchors2)


def test_label_free_dataset_has_no_identity():
    tracklets = [(('a1', 'a2'), 0), (('b1',), 1), (('c1', 'c2', 'c3'), 0)]
    ds = TrackletFrameDataset(tracklets)
    assert ds.tracklets_per_camera == [2, 1]
    assert ds.tracklet_label == [0, 0, 1]
    assert ds.frame_tracklet.tolist() == [0, 0, 1, 2, 2, 2]
    assert not any('pid' in name for name in vars(ds))


def test_save_then_resume_restores_anchors_and_epoch(tiny_prid2011_root, tmp_path):
    torch.manual_seed(0)
    dm = tiny_datamanager(tiny_prid2011_root)
    engine = tiny_engine(dm, warmup_epochs=1)
    run_epochs(engine, 2, save_dir=str(tmp_path))
    latest = tmp_path / 'model' / 'checkpoint-latest.pth.tar'
    # loadable under torch's default weights_only=True
    state = torch.load(latest, weights_only=True)
    assert state['epoch'] == 2
    fresh = tiny_engine(dm, warmup_epochs=1)
    assert fresh.resume(str(latest)) == 2
    assert fresh.epoch == 2
    assert_same_anchors(anchors_of(engine), anchors_of(fresh))
    for a, b in zip(engine.model.state_dict().values(), fresh.model.state_dict().values()):
        assert torch.equal(a, b)


def test_resume_refuses_a_foreign_checkpoint(tiny_prid2011_root, tmp_path):
    path = tmp_path / 'other.pth'
    torch.save({'state_dict': {}, 'epoch': 1}, path)
    engine = tiny_engine(tiny_datamanager(tiny_prid2011_root))
    with pytest.raises(CheckpointError, match='not a DAL checkpoint'):
        engine.resume(str(path))
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        engine.resume(str(tmp_path / 'missing.pth'))


def test_features_anchor_init_is_mean_normalised_frame_feature(tiny_prid2011_root):
    torch.manual_seed(0)
    dm = tiny_datamanager(tiny_prid2011_root)
    engine = tiny_engine(dm, anchor_init='features')
    engine.initialize_anchors_from_features()
    ds = engine.train_loader.dataset
    t = 3  # any training tracklet
    model = engine.model.eval()
    with torch.no_grad():
        frames = torch.stack([dm.transform_te(torchreid.utils.read_image(p))
                              for p in ds.tracklet_paths[t]])
        expected = torch.nn.functional.normalize(model(frames), dim=1).mean(0)
    c, k = ds.tracklet_camera[t], ds.tracklet_label[t]
    assert torch.allclose(engine.criterion.intra_anchors[c][k], expected, atol=1e-5)
    assert torch.allclose(engine.criterion.cross_anchors[c][k], expected, atol=1e-5)


def test_registration_is_idempotent_and_replaces_nothing(monkeypatch):
    import dal_torchreid
    from dal_torchreid.plugin import register_plugin
    assert torchreid.engine.VideoDALEngine is VideoDALEngine
    assert torchreid.losses.DeepAssociationLoss is dal_torchreid.losses.DeepAssociationLoss
    assert torchreid.data.TrackletFrameDataset is TrackletFrameDataset
    softmax = torchreid.engine.VideoSoftmaxEngine
    assert 'torchreid.engine.VideoDALEngine' in register_plugin()
    assert torchreid.engine.VideoSoftmaxEngine is softmax
    sentinel = object()
    monkeypatch.setattr(torchreid.losses, 'DeepAssociationLoss', sentinel)
    with pytest.warns(UserWarning, match='already exists'):
        names = register_plugin()
    assert torchreid.losses.DeepAssociationLoss is sentinel
    assert 'torchreid.losses.DeepAssociationLoss' not in names


def test_bad_engine_arguments_are_named(tiny_prid2011_root):
    dm = tiny_datamanager(tiny_prid2011_root)
    for kwargs, word in [(dict(warmup_epochs=-1), 'warmup_epochs'),
                         (dict(anchor_init='random'), 'anchor_init'),
                         (dict(sampling='identity'), 'sampling'),
                         (dict(batch_size=1), 'batch_size'),
                         (dict(margin=0), 'margin'),
                         (dict(eta=0), 'eta'),
                         (dict(intra_mutual_neighbors=-1), 'intra_mutual_neighbors'),
                         (dict(amp='fp16'), 'fp16')]:
        with pytest.raises(ValueError, match=word):
            tiny_engine(dm, **kwargs)


def test_association_monitor_reports_each_epoch(tiny_prid2011_root):
    from dal_torchreid.engine.diagnostics import AssociationMonitor
    torch.manual_seed(0)
    dm = tiny_datamanager(tiny_prid2011_root)
    monitor = AssociationMonitor.from_datamanager(dm)
    engine = tiny_engine(dm, warmup_epochs=1, association_monitor=monitor)
    steps = run_epochs(engine, 2)
    history = monitor.history
    assert [h['epoch'] for h in history] == [1, 2]
    assert history[0]['num_associations'] == 0  # warm-up: no cyclic ranking
    assert 0 < history[1]['num_associations'] <= sum(s[3] for s in steps)
    # PRID2011: every training person has one tracklet in each of the 2 cameras
    assert history[1]['num_true_pairs'] == dm.num_train_pids
    assert 0.0 <= history[1]['precision'] <= 1.0 and 0.0 <= history[1]['recall'] <= 1.0


def test_associations_printed_without_a_monitor(tiny_prid2011_root, capsys):
    from dal_torchreid.engine.diagnostics import AssociationMonitor
    dm = tiny_datamanager(tiny_prid2011_root)
    torch.manual_seed(0)
    run_epochs(tiny_engine(dm, warmup_epochs=1, seed=0), 2)
    out = capsys.readouterr().out
    counts = [int(n) for n in re.findall(r'=> epoch \d associations: (\d+) tracklet pairs\n', out)]
    torch.manual_seed(0)  # the same run with a monitor: the same counts, scored
    monitor = AssociationMonitor.from_datamanager(dm)
    run_epochs(tiny_engine(dm, warmup_epochs=1, seed=0, association_monitor=monitor), 2)
    assert counts == [h['num_associations'] for h in monitor.history]
    assert counts[0] == 0 and counts[1] > 0


def test_a_cluster_contrast_argument_is_named_as_its(tiny_prid2011_root):
    with pytest.raises(TypeError, match=r"VideoDALEngine\(\) got an unexpected keyword argument "
                       r"'eps' \(a VideoClusterContrastEngine argument\); it takes .*warmup"):
        tiny_engine(tiny_datamanager(tiny_prid2011_root), eps=0.6)


def test_mutual_neighbours_spared_each_epoch_and_negatives_scored(tiny_mars_root, capsys):
    from dal_torchreid.engine.diagnostics import AssociationMonitor
    dm = tiny_datamanager(tiny_mars_root, source='mars')
    monitor = AssociationMonitor.from_datamanager(dm)
    torch.manual_seed(0)
    engine = tiny_engine(dm, warmup_epochs=1, seed=0, intra_mutual_neighbors=1,
                         association_monitor=monitor)
    assert engine.criterion.intra_mutual_neighbors == 1
    run_epochs(engine, 2)
    out = capsys.readouterr().out
    pairs = [int(n) for n in re.findall(r'=> epoch \d: (\d+) pairs of tracklets of one camera', out)]
    # epoch 1 starts from zero anchors: no pairs; epoch 2 from the anchors epoch 1 wrote
    assert pairs[0] == 0 and pairs[1] > 0
    spared = engine.criterion.spared_negatives
    total = sum(engine.criterion.tracklets_per_camera)
    assert spared.shape == (total, 1) and int((spared < total).sum()) == 2 * pairs[1]
    for h in monitor.history:  # the negatives scored against identities, each epoch
        assert 0.0 < h['negatives_other'] <= 1.0 and 0.0 <= h['negatives_same_person'] <= 1.0
    assert [s['num_pairs'] for s in monitor.spared_history] == pairs  # scored as found
    assert len(re.findall(r'=> epoch \d intra-camera negatives: ', out)) == 2
    # off by default: the release's negatives, no pairs searched
    release = tiny_engine(dm, warmup_epochs=1, seed=0)
    run_epochs(release, 1)
    assert release.criterion.spared_negatives is None
