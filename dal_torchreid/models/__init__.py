"""Model weights torchreid cannot obtain on its own (see :mod:`.imagenet`)."""
from dal_torchreid.models.imagenet import (
    IMAGENET_BACKBONES, ImageNetWeightsError, convert_mobilenetv2_weights,
    fetch_mobilenetv2_imagenet, imagenet_weights_file, load_imagenet_weights
)

__all__ = [
    'IMAGENET_BACKBONES', 'ImageNetWeightsError', 'convert_mobilenetv2_weights',
    'fetch_mobilenetv2_imagenet', 'imagenet_weights_file', 'load_imagenet_weights',
]
