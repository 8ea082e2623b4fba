"""extract_tracklet_features on the CPU: the transform's ToTensor and Normalize once per
batch, and model calls of a few frames, with the per-frame, one-call results."""
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torchvision import transforms as T

import torchreid

from dal_torchreid.data.frames import AllFramesDataset
from dal_torchreid.engine.features import (
    CPU_FRAMES_PER_CALL, BatchToFloat, extract_tracklet_features, frame_to_uint8, split_transform
)


def torchreid_test_transform(height=24, width=12):
    """torchreid's test transform: resize, ToTensor, Normalize (ImageNet statistics)."""
    return torchreid.data.transforms.build_transforms(height, width, transforms=[])[1]


def images(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (30 + i, 14, 3), dtype=np.uint8))
            for i in range(n)]


@pytest.mark.parametrize('grayscale', [False, True])
def test_batched_tail_equals_the_per_frame_transform_bit_for_bit(grayscale):
    steps = torchreid_test_transform().transforms
    if grayscale:  # a PIL 'L' image: one channel, normalised with one mean and std
        steps = [T.Grayscale(1), steps[0], steps[1], T.Normalize([0.3], [0.2])]
    transform = T.Compose(steps)
    image_part, batch_part = split_transform(transform)
    assert isinstance(batch_part, BatchToFloat)
    frames = [image_part(img) for img in images()]
    assert all(f.dtype == torch.uint8 for f in frames)
    expected = torch.stack([transform(img) for img in images()])
    assert torch.equal(batch_part(torch.stack(frames)), expected)


def test_transforms_that_cannot_be_split_are_kept_whole():
    whole = torchreid_test_transform()
    for transform in (None, lambda img: whole(img),
                      T.Compose([T.Resize((8, 4)), T.PILToTensor()]),
                      T.Compose(whole.transforms + [T.RandomErasing()]),
                      T.Compose([T.ToTensor(), T.Normalize([0.5], [0.5]), T.ToTensor()])):
        assert split_transform(transform) == (transform, None)


def test_frame_to_uint8_keeps_other_modes_as_to_tensor_does():
    img = Image.fromarray(np.full((4, 3), 1.5, dtype=np.float32), mode='F')
    assert torch.equal(frame_to_uint8(img), T.ToTensor()(img))
    with pytest.raises(ValueError, match='normalizations: the std of'):
        BatchToFloat([T.Normalize([0.5], [0.0])])


def write_tracklets(tmp_path, lengths):
    paths = []
    for t, n in enumerate(lengths):
        paths.append([])
        for i, img in enumerate(images(n, seed=t)):
            paths[-1].append(str(tmp_path / f'{t}_{i}.png'))
            img.save(paths[-1][-1])
    return paths


def test_fast_extraction_features_equal_per_frame_transform_features(tmp_path):
    paths = write_tracklets(tmp_path, (3, 5, 2, 4))
    transform = torchreid_test_transform()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    frames = AllFramesDataset(paths, transform)
    split, _ = extract_tracklet_features(model, frames, batch_size=5, pooling_method='release')
    assert frames.transform is transform  # the caller's data set is left as it was
    whole = AllFramesDataset(paths, lambda img: transform(img))  # not splittable
    per_frame, _ = extract_tracklet_features(model, whole, batch_size=5, pooling_method='release')
    assert split.shape == (4, 8)
    assert torch.equal(split, per_frame)


class CallSizes(nn.Module):
    """A tiny frame model that records the number of frames of each call."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                 nn.Flatten())
        self.sizes = []

    def forward(self, x):
        self.sizes.append(x.size(0))
        return self.net(x)


def test_cpu_model_calls_hold_a_few_frames_with_the_same_features(tmp_path):
    lengths = (9, 14, 3, 11)
    frames = AllFramesDataset(write_tracklets(tmp_path, lengths), torchreid_test_transform())
    model = CallSizes()
    one_call, _ = extract_tracklet_features(model, frames, batch_size=37, frames_per_call=37)
    assert model.sizes == [37]
    model.sizes.clear()
    default, _ = extract_tracklet_features(model, frames, batch_size=37)
    assert max(model.sizes) == CPU_FRAMES_PER_CALL and sum(model.sizes) == sum(lengths)
    model.sizes.clear()
    threes, _ = extract_tracklet_features(model, frames, batch_size=20, frames_per_call=3)
    assert model.sizes == [3] * 6 + [2] + [3] * 5 + [2]  # loader batches of 20, 17
    for feats in (default, threes):
        torch.testing.assert_close(feats, one_call, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match='frames_per_call must be >= 1, got 0'):
        extract_tracklet_features(model, frames, batch_size=8, frames_per_call=0)


class MemoryFormats(CallSizes):
    """Records whether each call's frames are in channels-last memory format."""

    def forward(self, x):
        self.sizes.append(x.is_contiguous(memory_format=torch.channels_last)
                          and not x.is_contiguous())
        return self.net(x)


def test_cpu_model_calls_take_channels_last_frames_with_the_same_features(tmp_path):
    frames = AllFramesDataset(write_tracklets(tmp_path, (9, 14, 3)), torchreid_test_transform())
    model = MemoryFormats()
    default, _ = extract_tracklet_features(model, frames, batch_size=8, pooling_method='release')
    assert model.sizes and all(model.sizes)
    model.sizes.clear()
    contiguous, _ = extract_tracklet_features(model, frames, batch_size=8,
                                              pooling_method='release', channels_last=False)
    assert model.sizes and not any(model.sizes)
    torch.testing.assert_close(default, contiguous, rtol=1e-5, atol=1e-6)
