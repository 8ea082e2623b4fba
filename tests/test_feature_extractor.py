"""torchreid's own FeatureExtractor reads a DAL checkpoint (docs/user_guide.md says so)."""
import os.path as osp
import tempfile

import torch

import torchreid

from dal_torchreid.data.frame_reading import read_frame
from engine_helpers import HEIGHT, WIDTH, run_epochs, tiny_datamanager, tiny_engine, tiny_model


def test_feature_extractor_loads_a_dal_checkpoint(tiny_prid2011_root):
    torch.manual_seed(0)
    datamanager = tiny_datamanager(tiny_prid2011_root, transforms=[])
    engine = tiny_engine(datamanager)
    frames = list(datamanager.test_loader['prid2011']['query'].dataset.data[0][0][:3])
    with tempfile.TemporaryDirectory(prefix='dal-test-') as save_dir:
        run_epochs(engine, 1, save_dir)
        extractor = torchreid.utils.FeatureExtractor(
            model_name='resnet18', model_path=osp.join(save_dir, 'model', 'model.pth.tar-1'),
            image_size=(HEIGHT, WIDTH), device='cpu', verbose=False)
    features = extractor(frames)
    imgs = torch.stack([extractor.preprocess(read_frame(path)) for path in frames])
    with torch.no_grad():
        expected = engine.model.eval()(imgs)
        untrained = tiny_model().eval()(imgs)
    assert features.shape == (3, 512)
    assert torch.allclose(features, expected, atol=1e-5)
    assert not torch.allclose(features, untrained, atol=1e-3)  # the trained weights loaded
