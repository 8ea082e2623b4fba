"""Builders shared by the engine tests: tiny data managers, backbones and engines."""
import tempfile

import torch
from torch import nn

import torchreid

import dal_torchreid  # noqa: F401  (registers the plugin)
from dal_torchreid.engine import VideoDALEngine

HEIGHT, WIDTH = 32, 16


def tiny_datamanager(root, source='prid2011', **kwargs):
    options = dict(root=str(root), sources=source, height=HEIGHT, width=WIDTH, workers=0,
                   use_gpu=False, batch_size_train=2, batch_size_test=4, seq_len=4)
    options.update(kwargs)
    return torchreid.data.VideoDataManager(**options)


def tiny_model(name='resnet18', loss='softmax'):
    return torchreid.models.build_model(name, num_classes=1, loss=loss, pretrained=False)


class StepRecordingEngine(VideoDALEngine):
    """VideoDALEngine that keeps each step's (loss, intra, cross, associations)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.steps = []

    def forward_backward(self, data):
        out = super().forward_backward(data)
        last = self.criterion.last_step
        self.steps.append((out['loss'], last.loss_intra.item(), last.loss_cross.item(),
                           int(last.num_associations)))
        return out


def tiny_engine(datamanager, model=None, lr=3e-4, optim='adam', **kwargs):
    model = tiny_model() if model is None else model
    optimizer = torchreid.optim.build_optimizer(model, optim=optim, lr=lr)
    options = dict(use_gpu=False, batch_size=16, warmup_epochs=1, seed=0)
    options.update(kwargs)
    return StepRecordingEngine(datamanager, model, optimizer, **options)


class PlainNet(nn.Module):
    """A BN-free backbone with torchreid's interface: logits in train, embedding in eval."""

    def __init__(self, dim=16):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, dim))
        self.classifier = nn.Linear(dim, 1)

    def forward(self, x):
        v = self.features(x)
        return self.classifier(v) if self.training else v


def run_epochs(engine, epochs, save_dir=None, start_epoch=0):
    """Trains to epoch ``epochs`` with ``engine.run`` (its final test included) and
    returns the steps it made."""
    before = len(engine.steps)
    if save_dir is None:  # a run's checkpoints are large: none outlives the call
        with tempfile.TemporaryDirectory(prefix='dal-test-') as scratch:
            return run_epochs(engine, epochs, scratch, start_epoch)
    engine.run(save_dir=save_dir, max_epoch=epochs, start_epoch=start_epoch,
               print_freq=10 ** 6, ranks=[1])
    return engine.steps[before:]


def anchors_of(engine):
    return [a.clone() for a in engine.criterion.intra_anchors + engine.criterion.cross_anchors]


def assert_same_anchors(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert torch.equal(x, y)
