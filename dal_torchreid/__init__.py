"""dal-torchreid: Deep Association Learning for unsupervised video re-id in torchreid.

Importing the package registers its parts in torchreid's namespaces:
``torchreid.engine.VideoDALEngine``, ``torchreid.losses.DeepAssociationLoss``,
``torchreid.data.TrackletFrameDataset`` and ``torchreid.data.TrackletFrameSampler``.
"""
from dal_torchreid.plugin import register_plugin

__version__ = '0.1.0'

register_plugin()
