"""Losses: the Deep Association Learning loss and its association graph."""
from dal_torchreid.losses.deep_association_loss import DALStepStats, DeepAssociationLoss

__all__ = ['DeepAssociationLoss', 'DALStepStats']
