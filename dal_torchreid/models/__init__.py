"""Models: loading weights files into torchreid backbones, refusing weights that do not fit."""
from dal_torchreid.models.weights import (
    ALLOW_PARTIAL_WEIGHTS, WeightsError, WeightsReport, load_weights, read_state_dict
)

__all__ = ['ALLOW_PARTIAL_WEIGHTS', 'WeightsError', 'WeightsReport', 'load_weights',
           'read_state_dict']
