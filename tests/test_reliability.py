"""Bad frames, non-finite losses, single-camera data, AMP and EMA in VideoDALEngine."""
import hashlib
import os
import tempfile
import threading
import warnings

import pytest
import torch

import torchreid

from dal_torchreid.data.frame_reading import BadFrameError

from cli_helpers import deadline
from engine_helpers import (
    PlainNet, StepRecordingEngine, run_epochs, tiny_datamanager, tiny_engine, tiny_model
)



def training_frames(dm):
    return [paths for paths, *_ in dm.train_loader.dataset.train]


def corrupt(path):
    with open(path, 'rb') as f:
        head = f.read(30)
    with open(path, 'wb') as f:
        f.write(head)  # a truncated PNG: the header survives, the data does not


def test_corrupt_frame_stops_with_its_name(prid_copy):
    dm = tiny_datamanager(prid_copy)
    bad = sorted(training_frames(dm)[0])[1]
    corrupt(bad)
    engine = tiny_engine(dm)
    with deadline(60), pytest.raises(BadFrameError, match=bad):
        run_epochs(engine, 1)


def test_missing_frame_stops_with_its_name(prid_copy):
    dm = tiny_datamanager(prid_copy)
    missing = sorted(training_frames(dm)[2])[0]
    os.remove(missing)
    with deadline(60), pytest.raises(BadFrameError, match='does not exist'):
        run_epochs(tiny_engine(dm), 1)


def test_skip_bad_frames_warns_once_per_file_and_trains(prid_copy):
    dm = tiny_datamanager(prid_copy)
    bad = sorted(training_frames(dm)[0])[0]
    corrupt(bad)
    engine = tiny_engine(dm, skip_bad_frames=True)
    with deadline(120), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        steps = run_epochs(engine, 2)
    about_bad = [w for w in caught if bad in str(w.message)]
    assert len(about_bad) == 1
    assert steps and all(torch.isfinite(torch.tensor(s[0])) for s in steps)


def test_tracklet_without_readable_frame_is_named(prid_copy):
    dm = tiny_datamanager(prid_copy)
    for path in training_frames(dm)[0]:
        corrupt(path)
    engine = tiny_engine(dm, skip_bad_frames=True)
    with deadline(60), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        with pytest.raises(BadFrameError, match=r'training tracklet 0 has no readable frame'):
            run_epochs(engine, 1)


def test_non_finite_loss_names_epoch_and_step_and_keeps_checkpoint(tiny_prid2011_root, tmp_path):
    torch.manual_seed(0)
    engine = tiny_engine(tiny_datamanager(tiny_prid2011_root), model=PlainNet())
    run_epochs(engine, 1, save_dir=str(tmp_path))
    latest = tmp_path / 'model' / 'checkpoint-latest.pth.tar'
    digest = hashlib.sha256(latest.read_bytes()).hexdigest()
    with torch.no_grad():
        engine.model.features[0].weight.fill_(float('nan'))
    with pytest.raises(FloatingPointError, match='epoch 2, step 1'):
        run_epochs(engine, 2, save_dir=str(tmp_path), start_epoch=1)
    assert hashlib.sha256(latest.read_bytes()).hexdigest() == digest
    assert torch.load(latest, weights_only=True)['epoch'] == 1


class RunningStatsPoisoningEngine(StepRecordingEngine):
    """Each step ends with NaN BatchNorm statistics, which the training loss never reads."""

    def forward_backward(self, data):
        out = super().forward_backward(data)
        self.model.bn1.running_var.fill_(float('nan'))
        return out


def test_non_finite_weights_stop_the_epoch_before_its_checkpoint(tiny_prid2011_root, tmp_path):
    dm = tiny_datamanager(tiny_prid2011_root)
    model = tiny_model()
    optimizer = torchreid.optim.build_optimizer(model, optim='adam', lr=3e-4)
    engine = RunningStatsPoisoningEngine(dm, model, optimizer, use_gpu=False, batch_size=16,
                                         warmup_epochs=1, seed=0)
    with pytest.raises(FloatingPointError, match=r'1 of its \d+ weight and buffer tensors hold '
                                                 r'NaN or infinite values after epoch 1 '
                                                 r'\(first "bn1.running_var"\)'):
        run_epochs(engine, 1, save_dir=str(tmp_path))
    assert engine.steps and all(torch.isfinite(torch.tensor(s[0])) for s in engine.steps)
    assert not (tmp_path / 'model').exists()  # nothing of the diverged epoch is saved
    with pytest.raises(FloatingPointError, match=r'\(a smaller learning rate may help\)$'):
        engine.check_finite_weights('now')  # float32: no word of bf16
    with pytest.raises(FloatingPointError, match='values before evaluation'):
        engine.test(ranks=[1])


def test_single_camera_warns_and_trains_intra_camera(tiny_prid2011_root):
    dm = tiny_datamanager(tiny_prid2011_root)
    trainset = dm.train_loader.dataset
    trainset.train = [item for item in trainset.train if item[2] == 0]
    with pytest.warns(UserWarning, match='single camera'):
        engine = tiny_engine(dm, warmup_epochs=0)
    steps = run_epochs(engine, 1)
    assert steps and all(s[3] == 0 for s in steps)
    # no association: every cross anchor follows its intra anchor
    intra = torch.nn.functional.normalize(engine.criterion.intra_anchors[0], dim=1)
    assert torch.allclose(engine.criterion.cross_anchors[0], intra, atol=1e-6)


def test_bf16_autocast_on_cpu(tiny_prid2011_root):
    # 64x48, not the suite's 32x16: below it ResNet-18's kernels reach wholly into padding,
    # where oneDNN's bf16 backward gives NaN weight gradients at random and the engine
    # refuses bf16 (tests/test_conv_padding.py); at 64x48 no tap lies wholly in padding
    torch.manual_seed(0)
    engine = tiny_engine(tiny_datamanager(tiny_prid2011_root, height=64, width=48), amp='bf16')
    dtypes = []
    engine.criterion.register_forward_pre_hook(lambda module, args: dtypes.append(args[0].dtype))
    steps = run_epochs(engine, 1)
    assert dtypes and all(d == torch.bfloat16 for d in dtypes)
    assert all(torch.isfinite(torch.tensor(s[0])) for s in steps)


def test_divergence_under_cpu_bf16_suggests_float32(tiny_prid2011_root):
    engine = tiny_engine(tiny_datamanager(tiny_prid2011_root, height=64, width=48), amp='bf16')
    engine.model.layer4[0].conv1.weight.data[0, 0, 0, 0] = float('nan')
    with pytest.raises(FloatingPointError, match=r'after epoch 3 \(first "layer4.0.conv1.weight"'
                                                 r'\).*under amp "bf16" on the CPU.*'
                                                 r'try amp "" \(float32\)'):
        engine.check_finite_weights('after epoch 3')


def test_ema_is_evaluated_and_saved(tiny_prid2011_root, tmp_path):
    torch.manual_seed(0)
    engine = tiny_engine(tiny_datamanager(tiny_prid2011_root), ema_decay=0.9)
    run_epochs(engine, 1, save_dir=str(tmp_path))
    ema = engine.step.ema
    ema_weight = ema.module.conv1.weight
    assert not torch.equal(ema_weight, engine.model.conv1.weight)
    state = torch.load(tmp_path / 'model' / 'checkpoint-latest.pth.tar', weights_only=True)
    assert torch.equal(state['state_dict']['conv1.weight'], ema_weight)  # what is evaluated
    assert torch.equal(state['trained_state_dict']['conv1.weight'], engine.model.conv1.weight)
    calls = {'ema': 0, 'trained': 0}
    ema.module.register_forward_hook(lambda *a: calls.__setitem__('ema', calls['ema'] + 1))
    engine.model.register_forward_hook(lambda *a: calls.__setitem__('trained', calls['trained'] + 1))
    engine.test(ranks=[1])
    assert calls['ema'] > 0 and calls['trained'] == 0
    assert engine.model is not ema.module  # training weights restored after the test


def test_all_frame_evaluation_names_a_corrupt_test_frame(prid_copy):
    dm = tiny_datamanager(prid_copy)
    bad = sorted(dm.test_loader['prid2011']['query'].dataset.data[0][0])[0]
    corrupt(bad)
    engine = tiny_engine(dm, eval_frame_batch_size=16)
    with deadline(60), pytest.raises(BadFrameError, match=bad):
        engine.test(ranks=[1])


def test_a_run_without_a_save_dir_leaves_nothing_in_the_temp_folder(tiny_prid2011_root,
                                                                      tmp_path, monkeypatch):
    # each run writes checkpoints of hundreds of MB at full size: the suite must not
    # pile them up in /tmp (it once filled CI's disk)
    scratch = tmp_path / 'tmp'
    scratch.mkdir()
    monkeypatch.setattr(tempfile, 'tempdir', str(scratch))
    steps = run_epochs(tiny_engine(tiny_datamanager(tiny_prid2011_root)), 1)
    assert steps
    assert list(scratch.iterdir()) == []


def event_files(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith('events.out.tfevents'))


def test_a_failed_run_closes_its_log_before_the_error_reaches_the_caller(prid_copy, tmp_path):
    # torchreid closes its TensorBoard writer only after a finished run; left open, its
    # thread could write into the run's folder while the caller removes it
    dm = tiny_datamanager(prid_copy)
    os.remove(sorted(training_frames(dm)[2])[0])
    engine = tiny_engine(dm)
    save_dir = tmp_path / 'run'
    before = set(threading.enumerate())
    with deadline(60), pytest.raises(BadFrameError):
        engine.run(save_dir=str(save_dir), max_epoch=1, print_freq=10 ** 6, ranks=[1])
    assert engine.writer is None
    assert set(threading.enumerate()) - before == set()  # the writer's thread has ended
    assert len(event_files(save_dir)) == 1


def test_a_second_run_logs_into_its_own_save_dir(tiny_prid2011_root, tmp_path):
    engine = tiny_engine(tiny_datamanager(tiny_prid2011_root))
    first, second = tmp_path / 'first', tmp_path / 'second'
    run_epochs(engine, 1, str(first))
    run_epochs(engine, 2, str(second), start_epoch=1)
    assert len(event_files(first)) == 1
    assert len(event_files(second)) == 1
