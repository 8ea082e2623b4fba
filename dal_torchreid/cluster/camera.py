"""Camera-centred features: each camera's mean feature removed before clustering.

On two-camera video (PRID2011, iLIDS-VID) a tracklet's nearest neighbours are
tracklets of its own camera: the camera's look (light, angle, background)
dominates the feature. Subtracting each camera's mean feature and
renormalising removes the shared part, so neighbours are judged by what
differs between people. Training still uses the raw features; only clustering
sees the centred ones.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F


def camera_centred(features: Tensor, cameras: Tensor) -> Tensor:
    """``features`` ``(N, D)`` minus the mean of their camera's rows, L2-normalised.

    Examples::

        centred = camera_centred(F.normalize(features, dim=1), torch.tensor(cameras))
    """
    cameras = torch.as_tensor(cameras, dtype=torch.long)
    num = int(cameras.max()) + 1 if len(cameras) else 0
    sums = torch.zeros(num, features.size(1), dtype=features.dtype).index_add_(0, cameras, features)
    counts = torch.bincount(cameras, minlength=num).clamp(min=1).to(features.dtype)
    return F.normalize(features - (sums / counts[:, None])[cameras], dim=1)
