"""Training in channels-last memory format: every engine, same values as contiguous."""
import pytest
import torch

import torchreid

from dal_torchreid.config import load_config
from dal_torchreid.engine import RecordedVideoSoftmaxEngine
from dal_torchreid.engine.memory_format import batch_to_memory_format, to_memory_format
from engine_helpers import run_epochs, tiny_datamanager, tiny_engine, tiny_model

CL = torch.channels_last
# largest difference of a weight or an intra anchor after 8 steps in the two formats,
# relative to the largest |value| (measured: about 1e-6 for weights, 3e-7 for anchors)
TRAINED_TOLERANCE = 1e-4


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
    """Same initial weights, same frames: 8 steps (2 epochs) in each format end within
    TRAINED_TOLERANCE in every weight and anchor, with the same associations."""
    results = {}
    for channels_last in (False, True):
        torch.manual_seed(0)
        engine = tiny_engine(tiny_datamanager(tiny_prid2011_root), warmup_epochs=0,
                             channels_last=channels_last)
        seen = _input_formats(engine.model)
        steps = run_epochs(engine, 2)
        assert len(steps) >= 6 and seen and all(s == channels_last for s in seen[:len(steps)])
        results[channels_last] = (steps, engine.model.state_dict(),
                                  engine.criterion.intra_memory.clone())
    (steps_c, weights_c, anchors_c), (steps_l, weights_l, anchors_l) = results[False], results[True]
    assert [s[3] for s in steps_c] == [s[3] for s in steps_l]
    assert [s[0] for s in steps_l] == pytest.approx([s[0] for s in steps_c], rel=1e-4)
    for name, w in weights_c.items():
        if w.is_floating_point():
            scale = w.abs().max().clamp_min(1e-12)
            assert (weights_l[name] - w).abs().max() / scale <= TRAINED_TOLERANCE, name
    assert (anchors_l - anchors_c).abs().max() / anchors_c.abs().max() <= TRAINED_TOLERANCE


def test_config_key_reaches_every_engine():
    from dal_torchreid.builder import dal_engine_kwargs, softmax_engine_kwargs, triplet_engine_kwargs
    cfg = load_config(None, ['train.channels_last', 'False'])
    for kwargs in (dal_engine_kwargs, softmax_engine_kwargs, triplet_engine_kwargs):
        assert kwargs(cfg)['channels_last'] is False
        assert kwargs(load_config())['channels_last'] is True
