"""Weights and checkpoints are read with weights_only=True and refused when they do not fit."""
import os.path as osp

import numpy as np
import pytest
import torch

import torchreid

from dal_torchreid.engine.checkpoint import CheckpointError, resume_checkpoint
from dal_torchreid.models import WeightsError, load_weights

from cli_helpers import error_lines, run_train, tiny_options


def build(name='resnet18', num_classes=1):
    return torchreid.models.build_model(name, num_classes=num_classes, pretrained=False)


class Payload:
    """Unpickling this runs code: what weights_only=True must never do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))


def test_full_backbone_loads_and_a_classifier_of_another_size_is_kept(tmp_path, capsys):
    torch.manual_seed(0)
    source = build(num_classes=5)
    path = str(tmp_path / 'model.pth.tar-3')
    # as torchreid saves: a checkpoint dict, DataParallel prefix, numpy rank-1
    state = {'module.' + k: v for k, v in source.state_dict().items()}
    torch.save({'state_dict': state, 'epoch': 3, 'rank1': np.float64(0.5)}, path)
    model = build(num_classes=1)
    classifier = model.classifier.weight.clone()
    report = load_weights(model, path)
    assert report.complete and report.backbone_loaded == len(report.backbone) > 50
    for key, value in source.state_dict().items():
        if not key.startswith('classifier'):
            assert torch.equal(model.state_dict()[key], value), key
    assert torch.equal(model.classifier.weight, classifier)  # kept as initialised
    assert f'{len(report.backbone)} of {len(report.backbone)} backbone tensors matched' in \
        capsys.readouterr().out


def test_the_report_counts_classifier_tensors_not_batchnorm_counters_and_prints_briefly(
        tmp_path, capsys):
    source = build(num_classes=1)
    path = str(tmp_path / 'weights.pth')
    torch.save(source.state_dict(), path)
    report = load_weights(build(num_classes=1), path)
    n = len(report.backbone)
    line = f'{n} of {n} backbone tensors matched, and 2 classifier tensors'  # weight, bias
    assert line in capsys.readouterr().out
    assert repr(report) == f'WeightsReport({line}; complete)'


def test_weights_of_another_backbone_are_refused_naming_the_file(tmp_path):
    path = str(tmp_path / 'osnet.pth')
    torch.save(build('osnet_x0_25').state_dict(), path)
    model = build()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(WeightsError) as caught:
        load_weights(model, path)
    message = str(caught.value)
    assert message.startswith(f'weights file "{path}" does not fit ResNet: 0 of ')
    assert 'model.allow_partial_weights True' in message and '\n' not in message
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_partial_weights_need_allow_partial(tmp_path, capsys):
    source = build()
    path = str(tmp_path / 'partial.pth')
    torch.save({k: v for k, v in source.state_dict().items() if not k.startswith('layer4')},
               path)
    with pytest.raises(WeightsError, match=r'"layer4\.0\.conv1\.weight" missing'):
        load_weights(build(), path)
    model = build()
    report = load_weights(model, path, allow_partial=True)
    assert not report.complete and report.missing[0].startswith('layer4')
    assert torch.equal(model.conv1.weight, source.conv1.weight)
    assert not torch.equal(model.layer4[0].conv1.weight, source.layer4[0].conv1.weight)
    assert 'partial load' in capsys.readouterr().out


@pytest.mark.parametrize('loader', ['load_weights', 'resume_checkpoint'])
def test_a_file_that_runs_code_when_unpickled_is_refused_unrun(tmp_path, loader):
    marker = tmp_path / 'pwned'
    path = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': build().state_dict(), 'epoch': 1, 'x': Payload(str(marker))},
               path)
    model = build()
    with pytest.raises((WeightsError, CheckpointError)) as caught:
        if loader == 'load_weights':
            load_weights(model, path)
        else:
            resume_checkpoint(path, model)
    assert f'"{path}"' in str(caught.value) and '\n' not in str(caught.value)
    assert 'not a weights-only file' in str(caught.value)
    assert not marker.exists()


def test_resume_checkpoint_restores_a_torchreid_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = build(num_classes=4)
    optimizer = torchreid.optim.build_optimizer(model, optim='adam', lr=1e-3)
    scheduler = torchreid.optim.build_lr_scheduler(optimizer, stepsize=[2])
    model(torch.randn(2, 3, 32, 16)).sum().backward()
    optimizer.step()
    scheduler.step()
    torchreid.utils.save_checkpoint({'state_dict': model.state_dict(), 'epoch': 2,
                                     'rank1': np.float64(0.25),
                                     'optimizer': optimizer.state_dict(),
                                     'scheduler': scheduler.state_dict()},
                                    str(tmp_path), is_best=False)
    path = str(tmp_path / 'model.pth.tar-2')
    fresh = build(num_classes=4)
    fresh_optimizer = torchreid.optim.build_optimizer(fresh, optim='adam', lr=1e-3)
    fresh_scheduler = torchreid.optim.build_lr_scheduler(fresh_optimizer, stepsize=[2])
    assert resume_checkpoint(path, fresh, fresh_optimizer, fresh_scheduler) == 2
    assert torch.equal(fresh.conv1.weight, model.conv1.weight)
    assert fresh_scheduler.last_epoch == 1
    assert torch.equal(fresh_optimizer.state_dict()['state'][0]['exp_avg'],
                       optimizer.state_dict()['state'][0]['exp_avg'])
    with pytest.raises(CheckpointError, match=r'does not fit this model \(ResNet\): Error'):
        resume_checkpoint(path, build(num_classes=3))


def test_dal_train_refuses_weights_of_another_backbone(tiny_prid2011_root, tmp_path, capsys):
    path = str(tmp_path / 'osnet.pth')
    torch.save(build('osnet_x0_25').state_dict(), path)
    save_dir = tmp_path / 'log'
    code, out, err = run_train(tiny_options(tiny_prid2011_root, save_dir, 'test.evaluate',
                                            'True', 'model.load_weights', path), capsys)
    assert code == 2
    [line] = error_lines(err)
    assert line.startswith(f'error: weights file "{path}" does not fit ResNet: 0 of ')
    assert not osp.exists(save_dir / 'results.json')
    assert 'Successfully loaded' not in out


def test_supervised_resume_reads_weights_only(tiny_prid2011_root, tmp_path, capsys):
    marker = tmp_path / 'pwned'
    path = str(tmp_path / 'evil.pth.tar')
    torch.save({'state_dict': {}, 'epoch': 1, 'x': Payload(str(marker))}, path)
    code, _, err = run_train(tiny_options(
        tiny_prid2011_root, tmp_path / 'log', 'model.resume', path, 'train.max_epoch', '2',
        'video.train_sample_method', 'evenly', 'video.seq_len', '4', 'train.batch_size', '8',
        options=('--engine', 'softmax')), capsys)  # 2 tracklets of 4 frames a step
    assert code == 2
    assert error_lines(err) == [f'error: cannot load checkpoint "{path}": Unsupported global: '
                                'GLOBAL io.open was not an allowed global by default '
                                '(not a weights-only file)']
    assert not marker.exists()


def test_a_dal_checkpoint_gives_its_ema_weights_unless_asked_for_the_trained_ones(tmp_path, capsys):
    torch.manual_seed(0)
    trained, average = build(), build()
    path = str(tmp_path / 'model.pth.tar-2')
    torch.save({'state_dict': trained.state_dict(), 'epoch': 2,
                'ema': {'module': average.state_dict(), 'num_updates': 7, 'decay': 0.9}}, path)
    for ema, source, words in ((True, average, 'its EMA weights'),
                               (False, trained, 'its trained weights')):
        model = build()
        load_weights(model, path, ema=ema)
        assert torch.equal(model.conv1.weight, source.conv1.weight)
        assert words in capsys.readouterr().out
    torch.save({'state_dict': trained.state_dict(), 'epoch': 2, 'ema': None}, path)
    model = build()
    load_weights(model, path)  # a run without an EMA: its weights
    assert torch.equal(model.conv1.weight, trained.conv1.weight)
