"""Registration of the plugin's parts inside torchreid's namespaces."""
from __future__ import annotations

import warnings

import torchreid


def _plugin_names() -> dict:
    from dal_torchreid.data import (
        PseudoIdentityClipSampler, TrackletFrameDataset, TrackletFrameSampler
    )
    from dal_torchreid.engine import VideoClusterContrastEngine, VideoDALEngine
    from dal_torchreid.losses import ClusterMemory, DeepAssociationLoss
    return {
        'engine': {'VideoDALEngine': VideoDALEngine,
                   'VideoClusterContrastEngine': VideoClusterContrastEngine},
        'losses': {'DeepAssociationLoss': DeepAssociationLoss, 'ClusterMemory': ClusterMemory},
        'data': {'TrackletFrameDataset': TrackletFrameDataset,
                 'TrackletFrameSampler': TrackletFrameSampler,
                 'PseudoIdentityClipSampler': PseudoIdentityClipSampler},
    }


def register_plugin() -> list[str]:
    """Adds the plugin's classes to ``torchreid.engine``, ``.losses`` and ``.data``.

    Idempotent; a name torchreid already uses for something else is left alone
    (with a warning), never replaced. Returns the names now registered.
    """
    registered = []
    for namespace, names in _plugin_names().items():
        module = getattr(torchreid, namespace)
        for name, obj in names.items():
            current = getattr(module, name, None)
            if current is not None and current is not obj:
                warnings.warn(f'torchreid.{namespace}.{name} already exists; dal_torchreid '
                              'leaves it in place')
                continue
            setattr(module, name, obj)
            registered.append(f'torchreid.{namespace}.{name}')
    return registered
