"""VideoClusterContrastEngine end to end on tiny synthetic PRID2011 and MARS layouts."""
import math
import re
import random
import tempfile

import numpy as np
import pytest
import torch

import torchreid

from dal_torchreid.cluster import ClusteringError
from dal_torchreid.data import TrackletFrameDataset
from dal_torchreid.data.pseudo_identity_sampler import PseudoIdentityClipSampler
from dal_torchreid.engine.diagnostics import ClusterMonitor, pair_metrics
from dal_torchreid.engine import VideoClusterContrastEngine
from dal_torchreid.engine.checkpoint import CheckpointError

from engine_helpers import tiny_datamanager, tiny_model

# tiny sets: one tracklet per person and camera, so camera-aware pairs
AWARE = dict(k1=4, k2=2, eps=0.6, min_samples=2, camera_centred=True, cross_camera=True,
             outliers='own_class')


class StepRecordingCC(VideoClusterContrastEngine):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.steps = []

    def forward_backward(self, data):
        out = super().forward_backward(data)
        self.steps.append(out['loss'])
        return out


def tiny_cc(datamanager, model=None, optim='adam', lr=3e-4, optimizer=None, **kwargs):
    model = tiny_model() if model is None else model
    if optimizer is None:
        optimizer = torchreid.optim.build_optimizer(model, optim=optim, lr=lr)
    options = dict(use_gpu=False, batch_size=16, seq_len=2, clips_per_identity=2, seed=0,
                   **AWARE)
    options.update(kwargs)
    return StepRecordingCC(datamanager, model, optimizer, **options)


def run(engine, epochs, save_dir=None, start_epoch=0):
    if save_dir is None:
        with tempfile.TemporaryDirectory(prefix='cc-test-') as scratch:
            return run(engine, epochs, scratch, start_epoch)
    engine.run(save_dir=save_dir, max_epoch=epochs, start_epoch=start_epoch,
               print_freq=10 ** 6, ranks=[1])
    return list(engine.steps)


def test_prid2011_clusters_trains_and_evaluates(tiny_prid2011_root, tmp_path):
    torch.manual_seed(0)
    dm = tiny_datamanager(tiny_prid2011_root)
    monitor = ClusterMonitor.from_datamanager(dm)
    engine = tiny_cc(dm, cluster_monitor=monitor)
    steps = run(engine, 2, str(tmp_path))
    assert len(steps) == 2 * len(engine.train_loader) > 0
    assert all(math.isfinite(s) for s in steps)
    labels = engine.criterion.labels
    assert len(labels) == 2 * dm.num_train_pids and (labels >= 0).all()  # own classes
    assert engine.criterion.num_clusters == int(labels.max()) + 1
    assert [h['epoch'] for h in monitor.history] == [1, 2]
    assert 0 <= monitor.history[0]['precision'] <= 1
    result = engine.test_results['prid2011']
    assert 0 <= result['mAP'] <= 1 and result['cmc'] == sorted(result['cmc'])
    # each step trains P x K clips of seq_len frames: the frame budget
    assert engine.frames_seen == len(steps) * 16
    assert (tmp_path / 'model' / 'checkpoint-latest.pth.tar').is_file()


def test_mars_layout_reference_settings(tiny_mars_root):
    torch.manual_seed(0)
    dm = tiny_datamanager(tiny_mars_root, source='mars')
    engine = tiny_cc(dm, k1=4, k2=2, eps=0.6, min_samples=2, camera_centred=False,
                     cross_camera=False, outliers='own_class')
    steps = run(engine, 1)
    assert steps and all(math.isfinite(s) for s in steps)
    assert 0 <= engine.test_results['mars']['mAP'] <= 1


def test_every_tracklet_an_outlier_is_a_clear_error(tiny_prid2011_root):
    engine = tiny_cc(tiny_datamanager(tiny_prid2011_root), min_samples=50, outliers='drop')
    with pytest.raises(ClusteringError, match='all 8 training tracklets are outliers'):
        run(engine, 1)


def seeded_run(dm):
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)
    engine = tiny_cc(dm)
    steps = run(engine, 2)
    return steps, engine.criterion.centroids.clone(), engine.criterion.labels.clone()


def test_identity_labels_do_not_reach_training(tiny_prid2011_root):
    dm = tiny_datamanager(tiny_prid2011_root)
    steps, centroids, labels = seeded_run(dm)
    trainset = dm.train_loader.dataset
    pids = sorted({item[1] for item in trainset.train})
    perm = dict(zip(pids, (np.random.default_rng(7).permutation(len(pids)) + 1000).tolist()))
    trainset.train = [(p, perm[pid], c, d) for p, pid, c, d in trainset.train]
    steps2, centroids2, labels2 = seeded_run(dm)
    assert steps == steps2
    assert torch.equal(centroids, centroids2) and torch.equal(labels, labels2)


def test_resume_continues_exactly_and_refuses_foreign_checkpoints(tiny_prid2011_root, tmp_path):
    dm = tiny_datamanager(tiny_prid2011_root, transforms=[])
    # negatives 'camera': the clusters' cameras come back from the labels and the data
    torch.manual_seed(0)
    whole = tiny_cc(dm, negatives='camera')
    run(whole, 3, str(tmp_path / 'whole'))
    torch.manual_seed(0)
    first = tiny_cc(dm, negatives='camera')
    run(first, 2, str(tmp_path / 'part'))
    latest = tmp_path / 'part' / 'model' / 'checkpoint-latest.pth.tar'
    state = torch.load(latest, weights_only=True)
    assert torch.equal(state['cc']['labels'], first.criterion.labels)
    torch.manual_seed(123)  # the checkpoint's random states replace these
    second = tiny_cc(dm, negatives='camera')
    assert second.resume(str(latest)) == 2
    assert torch.equal(second.criterion.centroids, first.criterion.centroids)
    assert torch.equal(second.criterion.camera_presence, first.criterion.camera_presence)
    run(second, 3, str(tmp_path / 'part'), start_epoch=2)
    assert second.steps == whole.steps[len(first.steps):]
    for a, b in zip(whole.model.state_dict().values(), second.model.state_dict().values()):
        assert torch.equal(a, b)
    # a DAL checkpoint, or one of another training set, is refused
    torch.save({'state_dict': {}, 'epoch': 1, 'optimizer': {}, 'dal': {}}, tmp_path / 'dal.pth')
    with pytest.raises(CheckpointError, match='not a Cluster Contrast checkpoint'):
        second.resume(str(tmp_path / 'dal.pth'))
    state['meta']['training_set'] = 'another'
    torch.save(state, tmp_path / 'foreign.pth')
    with pytest.raises(CheckpointError, match='training_set'):
        second.resume(str(tmp_path / 'foreign.pth'))


def test_sampler_draws_p_identities_of_k_clips_from_other_cameras():
    tracklets = [((f'a{t}_{i}' for i in range(5)), t % 2) for t in range(12)]
    dataset = TrackletFrameDataset([(tuple(p), c) for p, c in tracklets])
    sampler = PseudoIdentityClipSampler(dataset, batch_size=24, seq_len=3, clips_per_identity=2,
                                        steps_per_epoch=4, seed=0)
    labels = np.array([0, 0, 1, 1, 2, 2, -1, -1, 3, 4, 4, 5])  # 6: one tracklet per camera
    sampler.set_labels(labels)
    batches = list(sampler)
    assert len(batches) == 4 and all(len(b) == 24 for b in batches)
    for batch in batches:
        t = dataset.frame_tracklet[batch].reshape(8, 3)
        assert (t == t[:, :1]).all()  # a clip is frames of one tracklet, in order
        assert all((np.diff(np.asarray(batch).reshape(8, 3), axis=1) >= 0).ravel())
        clip_t = t[:, 0].reshape(4, 2)
        assert (labels[clip_t] >= 0).all()  # outliers sit out
        assert (labels[clip_t[:, 0]] == labels[clip_t[:, 1]]).all()
        for a, b in clip_t:
            if labels[a] in (0, 1, 2, 4):  # identities with tracklets in both cameras
                assert a % 2 != b % 2
    # two ranks split each global batch; together they see one process's batches
    halves = [PseudoIdentityClipSampler(dataset, 12, 3, 2, 4, seed=0, num_replicas=2, rank=r)
              for r in range(2)]
    for h in halves:
        h.set_labels(labels)
    assert [a + b for a, b in zip(*map(list, halves))] == batches
    with pytest.raises(ValueError, match='multiple of'):
        PseudoIdentityClipSampler(dataset, batch_size=10, seq_len=3, clips_per_identity=2)


def test_pair_metrics():
    stats = pair_metrics([0, 0, 1, 1, -1, 2], [5, 5, 5, 6, 6, 7])
    # predicted pairs: (0,1) correct, (2,3) wrong; true pairs: 3 of person 5, 1 of 6
    assert stats['precision'] == 0.5 and stats['recall'] == 0.25
    assert stats['num_classes'] == 3 and stats['num_clusters'] == 2
    assert stats['outlier_fraction'] == pytest.approx(2 / 6)


def test_bad_engine_arguments_are_named(tiny_prid2011_root):
    dm = tiny_datamanager(tiny_prid2011_root)
    for kwargs, word in [(dict(k1=1), 'k1'), (dict(eps=1.5), 'eps'),
                         (dict(outliers='keep'), 'outliers'), (dict(temperature=0), 'temperature'),
                         (dict(momentum=1), 'momentum'), (dict(batch_size=10), 'batch_size'),
                         (dict(clips_per_identity=0), 'clips_per_identity'),
                         (dict(memory_update='x'), 'memory_update'),
                         (dict(negatives='own'), 'negatives'),
                         (dict(proxies='own'), 'proxies'),
                         (dict(proxies='camera', negatives='camera'), 'proxies')]:
        with pytest.raises(ValueError, match=word):
            tiny_cc(dm, **kwargs)


def test_registered_in_torchreid():
    assert torchreid.engine.VideoClusterContrastEngine is VideoClusterContrastEngine
    from dal_torchreid.losses import ClusterMemory
    assert torchreid.losses.ClusterMemory is ClusterMemory
    assert torchreid.data.PseudoIdentityClipSampler is PseudoIdentityClipSampler


def test_a_dal_argument_is_named_as_dal_s(tiny_prid2011_root):
    """The user guide's DAL example with the engine swapped: one clear TypeError, not
    torchreid's about its base class."""
    with pytest.raises(TypeError, match=r"VideoClusterContrastEngine\(\) got an unexpected keyword "
                       r"argument 'warmup_epochs' \(a VideoDALEngine argument\); it takes .*k1"):
        tiny_cc(tiny_datamanager(tiny_prid2011_root), warmup_epochs=2)


def test_clusters_and_outliers_printed_without_a_monitor(tiny_prid2011_root, capsys):
    torch.manual_seed(0)
    engine = tiny_cc(tiny_datamanager(tiny_prid2011_root))
    run(engine, 1)
    out = capsys.readouterr().out
    line = re.search(r'=> epoch 1 clusters: (\d+) of 2\+ tracklets \((\d+) classes\), '
                     r'([\d.]+)% outliers\n', out)
    assert line, out
    labels = engine.criterion.labels.cpu().numpy()
    assert int(line.group(2)) == len(np.unique(labels[labels >= 0]))


def test_several_clusterings_an_epoch_split_its_steps_and_step_the_rate_once(
        tiny_prid2011_root):
    dm = tiny_datamanager(tiny_prid2011_root, transforms=[])
    monitor = ClusterMonitor.from_datamanager(dm)
    model = tiny_model()
    optimizer = torchreid.optim.build_optimizer(model, optim='adam', lr=1e-3)
    scheduler = torchreid.optim.build_lr_scheduler(optimizer, 'single_step', stepsize=1,
                                                   gamma=0.1)
    engine = tiny_cc(dm, model=model, optimizer=optimizer, scheduler=scheduler,
                     clusterings_per_epoch=2, cluster_monitor=monitor)
    steps = engine.epoch_steps
    assert steps >= 2
    clustered = []
    cluster = engine.cluster
    engine.cluster = lambda: clustered.append(len(engine.steps)) or cluster()
    run(engine, 2)
    # re-clustered before each half of each epoch, the epoch's steps all made
    assert clustered == [0, steps // 2, steps, steps + steps // 2]
    assert len(engine.steps) == 2 * steps
    assert [(h['epoch'], h['clustering']) for h in monitor.history] == [(1, 1), (1, 2), (2, 1),
                                                                          (2, 2)]
    assert optimizer.param_groups[0]['lr'] == pytest.approx(1e-5)  # two epochs, two steps
    with pytest.raises(ValueError, match='clusterings_per_epoch 1000 exceeds'):
        tiny_cc(dm, clusterings_per_epoch=1000)
    with pytest.raises(ValueError, match='clusterings_per_epoch must be >= 1'):
        tiny_cc(dm, clusterings_per_epoch=0)


def test_epoch_time_split_is_recorded_and_printed(tiny_prid2011_root, capsys):
    engine = tiny_cc(tiny_datamanager(tiny_prid2011_root))
    run(engine, 2)
    assert [t['epoch'] for t in engine.epoch_times] == [1, 2]
    for times in engine.epoch_times:
        assert set(times) == {'epoch', 'features', 'neighbours', 'grouping', 'training'}
        assert times['features'] > 0 and times['training'] > 0 and times['grouping'] > 0
    out = capsys.readouterr().out
    assert '=> epoch 2 time: feature extraction' in out and 'training steps' in out


def test_feature_frames_cap_the_clustering_frames_evenly(tiny_prid2011_root, monkeypatch):
    from dal_torchreid.data.frames import evenly_spaced
    from dal_torchreid.engine import video_cluster_contrast
    assert evenly_spaced(list('abcdefghij'), 4) == ['a', 'd', 'g', 'j']
    assert evenly_spaced(list('abc'), 4) == ['a', 'b', 'c'] == evenly_spaced(list('abc'), 0)
    for n, cap in [(10, 3), (7, 7), (40, 16), (17, 1)]:
        picked = evenly_spaced(list(range(n)), cap)
        assert picked == np.linspace(0, n - 1, min(cap, n)).round().astype(int).tolist()
    dm = tiny_datamanager(tiny_prid2011_root)
    seen = []
    real = video_cluster_contrast.AllFramesDataset
    monkeypatch.setattr(video_cluster_contrast, 'AllFramesDataset',
                        lambda paths, *a, **k: seen.append(paths) or real(paths, *a, **k))
    torch.manual_seed(0)
    capped = tiny_cc(dm, feature_frames=3).tracklet_features()
    torch.manual_seed(0)
    every = tiny_cc(dm).tracklet_features()
    full = dm.train_loader.dataset.train
    assert [len(p) for p in seen[0]] == [3] * len(full)
    assert [list(p) for p in seen[1]] == [list(item[0]) for item in full]
    assert seen[0] == [evenly_spaced(list(item[0]), 3) for item in full]
    assert capped.shape == every.shape and not torch.allclose(capped, every)
    with pytest.raises(ValueError, match='feature_frames'):
        tiny_cc(dm, feature_frames=-1)


def test_assignment_pseudo_labels_pair_two_cameras(tiny_prid2011_root, tiny_mars_root):
    torch.manual_seed(0)
    dm = tiny_datamanager(tiny_prid2011_root)
    monitor = ClusterMonitor.from_datamanager(dm)
    engine = tiny_cc(dm, pseudo_labels='assignment', assignment_min_margin=-2,
                     cluster_monitor=monitor)
    run(engine, 1)
    labels = engine.criterion.labels
    cameras = torch.tensor(engine.train_loader.dataset.tracklet_camera)
    # margin -2 keeps every assigned pair: each class one tracklet of each camera
    assert sorted(torch.bincount(labels).tolist()) == [2] * dm.num_train_pids
    for y in range(dm.num_train_pids):
        assert sorted(cameras[labels == y].tolist()) == [0, 1]
    assert monitor.history[0]['num_clusters'] == dm.num_train_pids
    with pytest.raises(ValueError, match='two cameras'):
        tiny_cc(tiny_datamanager(tiny_mars_root, source='mars'), pseudo_labels='assignment')
