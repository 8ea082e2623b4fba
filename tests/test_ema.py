"""ModelEMA: trainable parameters averaged as the release, everything else live."""
import pytest
import torch
from torch import nn

from dal_torchreid.engine.ema import EMA_DECAY, ModelEMA, check_ema_decay


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.classifier = nn.Linear(4, 2)
        self.classifier.requires_grad_(False)  # DAL: neither trained nor averaged

    def forward(self, x):
        return self.classifier(self.bn(self.conv(x)).mean(dim=(2, 3)))


def decays(steps, decay):
    return [min(decay, (1 + n) / (10 + n)) for n in range(steps)]


def trainable(model):
    return {k: p.detach().clone() for k, p in model.named_parameters() if p.requires_grad}


def train_steps(model, ema, steps):
    """Moves every parameter (the frozen ones too, as a weight load would) and the BN
    statistics; returns the live trainable parameters after each step."""
    seen = []
    for step in range(steps):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
            model.train()(torch.randn(4, 3, 5, 5) + step)
        seen.append(trainable(model))
        ema.update(model)
    return seen


def test_trainable_weights_follow_the_release_schedule():
    torch.manual_seed(0)
    model = Net()
    want = trainable(model)
    assert sorted(want) == ['bn.bias', 'bn.weight', 'conv.weight']  # BN's affine is trained
    ema = ModelEMA(model, decay=0.3)
    seen = train_steps(model, ema, 6)
    for d, live in zip(decays(6, 0.3), seen):  # 0.1, 0.18.., 0.25, then capped at 0.3
        want = {k: d * want[k] + (1 - d) * live[k] for k in want}
    for name, avg in want.items():
        assert torch.allclose(ema.module.get_parameter(name), avg, atol=1e-6), name
        assert not torch.allclose(avg, model.get_parameter(name), atol=1e-3), name
    assert ema.num_updates == 6 and ema.current_decay() == 0.3


def test_buffers_and_frozen_parameters_are_the_live_ones():
    torch.manual_seed(0)
    model = Net()
    ema = ModelEMA(nn.DataParallel(model))
    train_steps(model, ema, 3)
    for name, buf in model.named_buffers():
        assert torch.equal(ema.module.get_buffer(name), buf), name
    assert ema.module.bn.num_batches_tracked.item() == 3
    assert torch.equal(ema.module.classifier.weight, model.classifier.weight)
    assert torch.equal(ema.module.classifier.bias, model.classifier.bias)
    assert not any(p.requires_grad for p in ema.module.parameters())
    assert not ema.module.training


def test_state_dict_round_trip_and_bad_decay():
    torch.manual_seed(0)
    model = Net()
    ema = ModelEMA(model, decay=0.9)
    train_steps(model, ema, 2)
    other = ModelEMA(Net())
    other.load_state_dict(ema.state_dict())
    assert other.num_updates == 2 and other.decay == 0.9
    assert torch.equal(other.module.conv.weight, ema.module.conv.weight)
    assert ModelEMA(model).decay == EMA_DECAY == 0.9999
    for bad in (0.0, 1.0):
        with pytest.raises(ValueError, match='^ema_decay must be in'):
            check_ema_decay(bad)
        with pytest.raises(ValueError, match='^ema_decay must be in'):
            ModelEMA(model, decay=bad)
