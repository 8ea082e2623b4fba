"""dal-torchreid: Deep Association Learning for unsupervised video re-id in torchreid.

Importing the package registers its parts in torchreid's namespaces:
``torchreid.engine.VideoDALEngine``, ``torchreid.losses.DeepAssociationLoss``,
``torchreid.engine.VideoClusterContrastEngine``, ``torchreid.losses.ClusterMemory``,
``torchreid.data.TrackletFrameDataset``, ``torchreid.data.TrackletFrameSampler`` and
``torchreid.data.PseudoIdentityClipSampler``;
``dal_torchreid.optim``, ``.metrics`` and ``.models`` hold what torchreid's namesakes lack
(the release's optimiser, protocols and weights).
"""
import warnings

# torchreid warns at import that its Cython ranking is not built; runs say which ranking
# runs instead (dal_torchreid.experiment.environment). Only that message is filtered.
warnings.filterwarnings('ignore', message=r'Cython evaluation .* is unavailable',
                        category=UserWarning)

from dal_torchreid import metrics, models, optim  # noqa: E402,F401  (dal_torchreid.optim, ...)
from dal_torchreid.plugin import register_plugin  # noqa: E402

__version__ = '0.1.0'

register_plugin()
