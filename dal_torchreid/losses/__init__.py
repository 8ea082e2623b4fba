"""Losses: the Deep Association Learning loss and its association graph."""
from dal_torchreid.losses.deep_association_loss import (
    ETA, MARGIN, DALStepStats, DeepAssociationLoss, check_eta, check_margin
)

__all__ = ['DeepAssociationLoss', 'DALStepStats', 'MARGIN', 'ETA', 'check_margin', 'check_eta']
