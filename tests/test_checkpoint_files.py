"""The files a label-free run keeps: per-epoch weights, one resumable checkpoint, an export.

``model.pth.tar-N`` holds the weights evaluation used under ``state_dict`` (the EMA
when kept, the trained weights beside it), no optimiser or method state;
``checkpoint-latest.pth.tar`` alone resumes. torchreid's ``FeatureExtractor`` reads
either, and an exported file, and gets the features the run evaluated.
"""
import os
import os.path as osp

import pytest
import torch

import torchreid

from dal_torchreid.cli.export_weights import main as export_main
from dal_torchreid.data.frame_reading import read_frame
from dal_torchreid.engine.checkpoint import CheckpointError
from dal_torchreid.models import load_weights
from engine_helpers import HEIGHT, WIDTH, run_epochs, tiny_datamanager, tiny_engine, tiny_model

RESUMABLE = {'optimizer', 'scheduler', 'dal', 'scaler', 'rng', 'progress'}


@pytest.fixture(scope='module')
def ema_run(tiny_prid2011_root, tmp_path_factory):
    """A 1-epoch DAL run keeping an EMA well apart from the trained weights."""
    torch.manual_seed(0)
    datamanager = tiny_datamanager(tiny_prid2011_root, transforms=[])
    engine = tiny_engine(datamanager, ema_decay=0.5, warmup_epochs=0)
    save_dir = tmp_path_factory.mktemp('ema-run')
    run_epochs(engine, 1, str(save_dir))
    return engine, datamanager, save_dir / 'model'


def _load(path):
    return torch.load(path, map_location='cpu', weights_only=True)


def _same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_per_epoch_files_hold_the_evaluated_weights_and_only_the_latest_resumes(ema_run):
    engine, _, model_dir = ema_run
    epoch, latest = _load(model_dir / 'model.pth.tar-1'), _load(model_dir / 'checkpoint-latest.pth.tar')
    evaluated, trained = engine.step.ema.module.state_dict(), engine.model.state_dict()
    for state in (epoch, latest):
        assert _same(state['state_dict'], evaluated)  # what FeatureExtractor reads
        assert _same(state['trained_state_dict'], trained)
        assert state['ema'] == {'num_updates': engine.step.ema.num_updates, 'decay': 0.5}
        assert state['epoch'] == 1 and state['meta']['backbone'] == 'ResNet'
    assert not RESUMABLE & set(epoch) and RESUMABLE <= set(latest)
    sizes = {name: osp.getsize(model_dir / name) for name in os.listdir(model_dir)}
    # the Adam moments alone weigh as much as the weights and the EMA
    assert sizes['model.pth.tar-1'] < 0.55 * sizes['checkpoint-latest.pth.tar']


def test_a_per_epoch_file_evaluates_but_does_not_resume(ema_run):
    engine, datamanager, model_dir = ema_run
    fresh = tiny_engine(datamanager, ema_decay=0.5, warmup_epochs=0)
    path = str(model_dir / 'model.pth.tar-1')
    with pytest.raises(CheckpointError) as caught:
        fresh.resume(path)
    assert str(caught.value) == (
        f'checkpoint "{path}" holds weights only (a per-epoch file, without optimiser or '
        f'anchors): resume training from "{model_dir / "checkpoint-latest.pth.tar"}", '
        'evaluate it with test.evaluate True, or start from its weights with '
        'model.load_weights')
    assert fresh.resume(path, evaluation=True) == 1
    assert _same(fresh.step.ema.module.state_dict(), engine.step.ema.module.state_dict())
    assert _same(fresh.model.state_dict(), engine.model.state_dict())
    # the resumable checkpoint restores the EMA from its new place
    again = tiny_engine(datamanager, ema_decay=0.5, warmup_epochs=0)
    assert again.resume(str(model_dir / 'checkpoint-latest.pth.tar')) == 1
    assert _same(again.step.ema.module.state_dict(), engine.step.ema.module.state_dict())
    assert again.step.ema.num_updates == engine.step.ema.num_updates


def test_a_checkpoint_of_the_earlier_layout_still_resumes(ema_run, tmp_path):
    """Earlier versions kept the trained weights under state_dict and the EMA under
    ema['module']."""
    engine, datamanager, model_dir = ema_run
    state = _load(model_dir / 'checkpoint-latest.pth.tar')
    state['ema'] = dict(state['ema'], module=state['state_dict'])
    state['state_dict'] = state.pop('trained_state_dict')
    old = tmp_path / 'old.pth.tar'
    torch.save(state, old)
    fresh = tiny_engine(datamanager, ema_decay=0.5, warmup_epochs=0)
    assert fresh.resume(str(old)) == 1
    assert _same(fresh.model.state_dict(), engine.model.state_dict())
    assert _same(fresh.step.ema.module.state_dict(), engine.step.ema.module.state_dict())
    for ema, expected in ((True, engine.step.ema.module), (False, engine.model)):
        model = tiny_model()
        load_weights(model, str(old), ema=ema)
        assert _same(model.state_dict(), expected.state_dict())


def _extract(path, datamanager):
    frames = list(datamanager.test_loader['prid2011']['query'].dataset.data[0][0][:3])
    extractor = torchreid.utils.FeatureExtractor(
        model_name='resnet18', model_path=str(path), image_size=(HEIGHT, WIDTH), device='cpu',
        verbose=False)
    imgs = torch.stack([extractor.preprocess(read_frame(p)) for p in frames])
    return extractor(frames), imgs


def test_feature_extractor_gets_the_features_the_run_evaluated(ema_run, tmp_path, capsys):
    engine, datamanager, model_dir = ema_run
    exported = tmp_path / 'dal_resnet18.pth'
    assert export_main([str(model_dir / 'checkpoint-latest.pth.tar'), str(exported)]) == 0
    assert 'its EMA weights, which its evaluation used' in capsys.readouterr().out
    assert set(_load(exported)) == {'state_dict'}
    assert _same(_load(exported)['state_dict'], engine.step.ema.module.state_dict())
    for path in (model_dir / 'model.pth.tar-1', model_dir / 'checkpoint-latest.pth.tar',
                 exported):
        features, imgs = _extract(path, datamanager)
        with torch.no_grad():
            evaluated = engine.step.ema.module.eval()(imgs)
            trained = engine.model.eval()(imgs)
        assert torch.allclose(features, evaluated, atol=1e-5), path
        assert not torch.allclose(features, trained, atol=1e-3), path  # the EMA, not these
    trained_file = tmp_path / 'trained.pth'
    assert export_main([str(model_dir / 'model.pth.tar-1'), str(trained_file), '--trained']) == 0
    assert _same(_load(trained_file)['state_dict'], engine.model.state_dict())


def test_export_refuses_in_one_line(ema_run, tmp_path, capsys):
    _, _, model_dir = ema_run
    missing = tmp_path / 'missing.pth.tar'
    assert export_main([str(missing), str(tmp_path / 'out.pth')]) == 2
    assert capsys.readouterr().err == f'error: weights file "{missing}" does not exist\n'
    latest = str(model_dir / 'checkpoint-latest.pth.tar')
    assert export_main([latest, latest]) == 2
    assert capsys.readouterr().err == (f'error: export of "{latest}" would overwrite it: name '
                                       'another file\n')
    assert export_main([latest, str(tmp_path)]) == 2  # a folder in its place
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith('error: ') and f'"{tmp_path}"' in line
