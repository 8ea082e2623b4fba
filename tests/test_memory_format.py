"""Training in channels-last memory format: every engine, same values as contiguous."""
import pytest
import torch

import torchreid

from dal_torchreid.experiment.config import load_config
from dal_torchreid.engine import RecordedVideoSoftmaxEngine
from dal_torchreid.engine.memory_format import batch_to_memory_format, to_memory_format
from engine_helpers import run_epochs, tiny_datamanager, tiny_engine, tiny_model

CL = torch.channels_last
# 4 SGD steps of the tiny DAL run in each format, 2 threads (measured: losses within 7e-5,
# weights within 0.07% of the largest weight). Over more steps a rounding difference
# flips a hinge or nearest-anchor decision and the runs drift apart as any rounding
# change makes them: after 8 steps 2.4% and 6.4% (helper measurement under load: 0.5%, 1.6%).
LOSS_TOLERANCE = 1e-3
WEIGHT_TOLERANCE = 0.005


def test_batches_in_channels_last_keep_their_values():
    frames = torch.randn(6, 3, 8, 4)
    out = batch_to_memory_format(frames, True)
    assert out.is_contiguous(memory_format=CL) and torch.equal(out, frames)
    clips = torch.randn(2, 3, 3, 8, 4)
    out = batch_to_memory_format(clips, True)
    assert torch.equal(out, clips)
    assert out.view(6, 3, 8, 4).is_contiguous(memory_format=CL)  # torchreid's view
    assert batch_to_memory_format(frames, False) is frames
    model = to_memory_format(tiny_model(), True)
    assert model.conv1.weight.is_contiguous(memory_format=CL)
    assert to_memory_format(model, False).conv1.weight.is_contiguous()


def _input_formats(model):
    seen = []
    model.register_forward_pre_hook(
        lambda module, args: seen.append(args[0].is_contiguous(memory_format=CL)
                                         and not args[0].is_contiguous()))
    return seen


@pytest.mark.parametrize('channels_last', [True, False])
def test_supervised_engine_trains_in_its_memory_format(tiny_prid2011_root, channels_last):
    dm = tiny_datamanager(tiny_prid2011_root)
    model = torchreid.models.build_model('resnet18', num_classes=dm.num_train_pids,
                                         pretrained=False)
    engine = RecordedVideoSoftmaxEngine(dm, model, torchreid.optim.build_optimizer(model),
                                        use_gpu=False, channels_last=channels_last)
    assert model.conv1.weight.is_contiguous(memory_format=CL) == channels_last
    seen = _input_formats(model)
    model.train()
    engine.forward_backward(next(iter(dm.train_loader)))
    assert seen == [channels_last]
    with pytest.raises(ValueError, match='channels_last must be true or false'):
        RecordedVideoSoftmaxEngine(dm, model, torchreid.optim.build_optimizer(model),
                                   use_gpu=False, channels_last='yes')


def test_dal_training_in_channels_last_matches_contiguous(tiny_prid2011_root):
    """Same initial weights, same frames, SGD: the two formats take the same steps (the
    same associations, losses within LOSS_TOLERANCE) and end within WEIGHT_TOLERANCE of
    the largest weight."""
    results = {}
    for channels_last in (False, True):
        torch.manual_seed(0)
        engine = tiny_engine(tiny_datamanager(tiny_prid2011_root, height=64, width=32),
                             warmup_epochs=0, channels_last=channels_last, optim='sgd', lr=0.01)
        seen = _input_formats(engine.model)
        steps = run_epochs(engine, 1)
        assert len(steps) == 4 and all(s == channels_last for s in seen[:4])
        results[channels_last] = (steps, engine.model.state_dict())
    (steps_c, weights_c), (steps_l, weights_l) = results[False], results[True]
    assert [s[0] for s in steps_l] == pytest.approx([s[0] for s in steps_c], rel=LOSS_TOLERANCE)
    assert [s[3] for s in steps_l] == [s[3] for s in steps_c]
    scale = max(float(w.abs().max()) for w in weights_c.values() if w.is_floating_point())
    for name, w in weights_c.items():
        if w.is_floating_point():
            assert (weights_l[name] - w).abs().max() <= WEIGHT_TOLERANCE * scale, name


def test_config_key_reaches_every_engine():
    from dal_torchreid.experiment.builder import dal_engine_kwargs, softmax_engine_kwargs, triplet_engine_kwargs
    cfg = load_config(None, ['train.channels_last', 'False'])
    for kwargs in (dal_engine_kwargs, softmax_engine_kwargs, triplet_engine_kwargs):
        assert kwargs(cfg)['channels_last'] is False
        assert kwargs(load_config())['channels_last'] is True


def test_a_model_that_needs_contiguous_tensors_is_one_line_naming_the_setting():
    """torchreid's mudeep reshapes with view: in channels-last format it raised a bare
    RuntimeError in the first training step."""
    from dal_torchreid.experiment.builder import build_model
    from dal_torchreid.experiment.config import load_config
    from dal_torchreid.engine.memory_format import MemoryFormatError
    opts = ['model.name', 'mudeep', 'model.pretrained', 'False', 'data.height', '256',
            'data.width', '128', 'use_gpu', 'False']
    with pytest.raises(MemoryFormatError, match=r'model.name mudeep cannot run in channels-last '
                       r'memory format \(view size .*\): set train.channels_last False'):
        build_model(load_config(None, opts), 1)
    model = build_model(load_config(None, opts + ['train.channels_last', 'False']), 1)
    assert model.training
