"""Losses: the Deep Association Learning loss and its association graph; Cluster Contrast's
memory."""
from dal_torchreid.losses.cluster_memory import (
    CROSS_CAMERA_WEIGHT, MEMORY_UPDATE, MOMENTUM, NEGATIVES, PROXIES, TEMPERATURE, ClusterMemory,
    check_cross_camera_weight, check_memory_update, check_momentum, check_negatives, check_proxies, check_temperature
)
from dal_torchreid.losses.deep_association_loss import (
    ETA, INTRA_MUTUAL_NEIGHBORS, MARGIN, DALStepStats, DeepAssociationLoss, check_eta,
    check_intra_mutual_neighbors, check_margin
)

__all__ = ['DeepAssociationLoss', 'DALStepStats', 'MARGIN', 'ETA', 'check_margin', 'check_eta',
           'INTRA_MUTUAL_NEIGHBORS', 'check_intra_mutual_neighbors',
           'ClusterMemory', 'CROSS_CAMERA_WEIGHT', 'check_cross_camera_weight', 'TEMPERATURE', 'MOMENTUM', 'MEMORY_UPDATE', 'check_temperature',
           'check_momentum', 'check_memory_update', 'NEGATIVES', 'check_negatives', 'PROXIES',
           'check_proxies']
