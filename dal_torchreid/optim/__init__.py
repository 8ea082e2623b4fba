"""Optimisation as the DAL release trains: TensorFlow-style RMSProp, weight decay
on convolution and linear weights only, and slow BatchNorm statistics."""
from dal_torchreid.optim.batchnorm import (
    BN_MOMENTUM, RELEASE_BN_MOMENTUM, check_bn_momentum, release_bn_momentum, set_bn_momentum,
)
from dal_torchreid.optim.builder import OPTIMIZERS, build_optimizer, check_optim
from dal_torchreid.optim.rmsprop_tf import RMSpropTF
from dal_torchreid.optim.weight_decay import (
    WEIGHT_DECAY_SCOPE, WEIGHT_DECAY_SCOPES, check_weight_decay_scope, is_depthwise, param_groups,
)

__all__ = [
    'build_optimizer', 'check_optim', 'OPTIMIZERS', 'RMSpropTF',
    'param_groups', 'is_depthwise', 'check_weight_decay_scope', 'WEIGHT_DECAY_SCOPES',
    'WEIGHT_DECAY_SCOPE', 'set_bn_momentum', 'check_bn_momentum', 'release_bn_momentum',
    'RELEASE_BN_MOMENTUM', 'BN_MOMENTUM',
]
