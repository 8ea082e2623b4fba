"""Every torchreid backbone with the DAL engine from Python, in the plugin's default format.

Each model of ``torchreid.models.build_model`` is built as a user builds it
(``pretrained=False``, one class) and given to ``VideoDALEngine`` with the
default ``channels_last``; it takes one DAL step at the smallest input its
architecture accepts. The models that cannot are listed with their reason, and
the lists must stay exactly these: a new failure fails the test. The README
names the models (its "Any torchreid backbone" paragraph).
"""
import warnings

import pytest
import torch
from torch import nn

import torchreid

from dal_torchreid.engine import VideoClusterContrastEngine, VideoDALEngine
from dal_torchreid.engine.memory_format import MemoryFormatError
from dal_torchreid.models import available_models
from engine_helpers import run_epochs, tiny_datamanager, tiny_engine

# The smallest input (height, width) of the architectures that refuse 32x16 (their feature
# maps shrink to nothing; mudeep's classifier is sized for 256x128). Measured.
SMALLEST_INPUT = {
    **dict.fromkeys(['densenet121', 'densenet169', 'densenet201', 'densenet161',
                     'densenet121_fc512', 'nasnsetmobile', 'squeezenet1_0',
                     'squeezenet1_0_fc512', 'squeezenet1_1'], (64, 32)),
    **dict.fromkeys(['inceptionresnetv2', 'inceptionv4'], (160, 80)),
    'mudeep': (256, 128),
}
# Refused by the engine: several classifiers, so no single embedding to train on
SEVERAL_CLASSIFIERS = {'hacnn', 'pcb_p4', 'pcb_p6'}
# Refused in channels-last format (a view of a tensor assumed contiguous); they train with
# channels_last=False
NEEDS_CONTIGUOUS = {'mudeep'}


def _dal_engine(datamanager, model, **kwargs):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)  # no state: cheap for big models
    return VideoDALEngine(datamanager, model, optimizer, use_gpu=False, batch_size=4,
                          warmup_epochs=0, seed=0, **kwargs)


def _one_step(engine):
    """One DAL step; returns its loss, whether the model got its batch in channels-last
    format, and whether the step changed the weights."""
    model = engine.model
    seen = []
    hook = model.register_forward_pre_hook(
        lambda module, args: seen.append(args[0].is_contiguous(memory_format=torch.channels_last)
                                         and not args[0].is_contiguous()))
    before = [p.detach().clone() for p in model.parameters() if p.requires_grad]
    model.train()
    out = engine.forward_backward(next(iter(engine.train_loader)))
    hook.remove()
    after = [p for p in model.parameters() if p.requires_grad]
    return out['loss'], seen, any(not torch.equal(a, b) for a, b in zip(after, before))


def test_every_torchreid_backbone_takes_a_dal_step(tiny_prid2011_root):
    torch.manual_seed(0)
    names = available_models()  # torchreid.models.show_avai_models()
    assert len(names) >= 40 and 'resnet50' in names
    managers = {}
    trained, refused, contiguous = [], {}, []
    for name in names:
        size = SMALLEST_INPUT.get(name, (32, 16))
        if size not in managers:
            managers[size] = tiny_datamanager(tiny_prid2011_root, height=size[0], width=size[1],
                                              transforms=[])
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # torchreid: "no pretrained weights" etc.
            model = torchreid.models.build_model(name, num_classes=1, pretrained=False)
        try:
            engine = _dal_engine(managers[size], model)
        except TypeError as err:  # the engine's one-classifier requirement
            refused[name] = str(err)
            continue
        except MemoryFormatError as err:
            assert '\n' not in str(err), name
            assert str(err).endswith('pass channels_last=False to the engine '
                                     '(train.channels_last False)'), str(err)
            contiguous.append(name)
            engine = _dal_engine(managers[size], model, channels_last=False)
        loss, seen, changed = _one_step(engine)
        assert torch.isfinite(torch.tensor(loss)), name
        assert changed, f'{name}: the step left the weights as they were'
        assert seen[:1] == [name not in contiguous], name  # the batch's format
        trained.append(name)
        del engine, model
    assert set(refused) == SEVERAL_CLASSIFIERS
    assert all('cannot read an embedding' in msg for msg in refused.values())
    assert set(contiguous) == NEEDS_CONTIGUOUS
    assert len(trained) == len(names) - len(SEVERAL_CLASSIFIERS)


class ViewNet(nn.Module):
    """A backbone that flattens with ``view``, as mudeep does: it needs contiguous tensors."""

    def __init__(self, dim=8):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=4, padding=1)
        self.fc = nn.Linear(4 * 8 * 4, dim)
        self.classifier = nn.Linear(dim, 1)

    def forward(self, x):
        v = self.fc(torch.relu(self.conv(x)).view(x.size(0), -1))
        return self.classifier(v) if self.training else v


def test_a_model_that_needs_contiguous_tensors_trains_and_evaluates_with_channels_last_off(
        tiny_prid2011_root):
    """Refused in one line in the default format; with ``channels_last=False`` the engines
    never hand it a channels-last batch: training, the all-frame evaluation, DAL's feature
    anchors and Cluster Contrast's clustering features."""
    torch.manual_seed(0)
    datamanager = tiny_datamanager(tiny_prid2011_root)
    with pytest.raises(MemoryFormatError, match=r'^ViewNet cannot run in channels-last memory '
                       r'format \(view size is not compatible.*\): pass channels_last=False '
                       r'to the engine \(train.channels_last False\)$'):
        _dal_engine(datamanager, ViewNet())
    engine = tiny_engine(datamanager, ViewNet(), channels_last=False, anchor_init='features',
                         eval_frame_batch_size=8)
    assert len(run_epochs(engine, 1)) > 0
    assert engine.test_results['prid2011']['cmc'][0] >= 0
    model = ViewNet()
    cc = VideoClusterContrastEngine(datamanager, model,
                                    torch.optim.SGD(model.parameters(), lr=0.01),
                                    use_gpu=False, channels_last=False)
    assert cc.tracklet_features().shape == (len(cc.train_loader.dataset.tracklet_paths), 8)
