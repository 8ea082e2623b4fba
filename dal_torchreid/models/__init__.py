"""torchreid's models as the plugin uses them: the names torchreid accepts, weights files
loaded only where they fit (:mod:`~dal_torchreid.models.weights`), and ImageNet weights
torchreid cannot obtain on its own (:mod:`~dal_torchreid.models.imagenet`), and
:func:`build_model`: torchreid's, with those weights loaded or an error
(:mod:`~dal_torchreid.models.backbone`)."""
import ast
import contextlib
import io

import torchreid

from dal_torchreid.models.backbone import (
    MANUAL_IMAGENET_WEIGHTS, PretrainedWeightsError, build_model
)
from dal_torchreid.models.imagenet import (
    IMAGENET_BACKBONES, ImageNetWeightsError, convert_mobilenetv2_weights,
    fetch_mobilenetv2_imagenet, imagenet_weights_file, load_imagenet_weights
)
from dal_torchreid.models.weights import (
    ALLOW_PARTIAL_WEIGHTS, LOAD_EMA, WeightsError, WeightsReport, export_weights, load_weights,
    read_state_dict
)


def available_models() -> list[str]:
    """The names ``torchreid.models.build_model`` accepts (its public listing, parsed)."""
    with contextlib.redirect_stdout(io.StringIO()) as listing:
        torchreid.models.show_avai_models()
    return ast.literal_eval(listing.getvalue().strip())


__all__ = [
    'available_models', 'build_model', 'MANUAL_IMAGENET_WEIGHTS', 'PretrainedWeightsError',
    'IMAGENET_BACKBONES', 'ImageNetWeightsError', 'convert_mobilenetv2_weights',
    'fetch_mobilenetv2_imagenet', 'imagenet_weights_file', 'load_imagenet_weights',
    'ALLOW_PARTIAL_WEIGHTS', 'LOAD_EMA', 'WeightsError', 'WeightsReport', 'export_weights',
    'load_weights', 'read_state_dict',
]
