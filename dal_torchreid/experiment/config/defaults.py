"""Every key of the configuration, in order, and the yacs defaults made of them."""
from __future__ import annotations

from yacs.config import CfgNode as CN

from dal_torchreid.experiment.config.associate import ASSOCIATE_KEYS
from dal_torchreid.experiment.config.engines import CC_KEYS, DAL_KEYS, LOSS_KEYS
from dal_torchreid.experiment.config.keys import Key, section
from dal_torchreid.experiment.config.model_data import MODEL_DATA_KEYS
from dal_torchreid.experiment.config.test import TEST_KEYS
from dal_torchreid.experiment.config.train import TRAIN_KEYS

KEYS: dict[str, Key] = {**MODEL_DATA_KEYS, **TRAIN_KEYS, **LOSS_KEYS, **DAL_KEYS, **CC_KEYS,
                        **ASSOCIATE_KEYS, **TEST_KEYS}
"""Every key: torchreid's video defaults (its ``scripts/default_config.py``) and the plugin's."""


def get_default_config() -> CN:
    """torchreid's default configuration for video re-id, plus the plugin's keys.

    Examples::

        cfg = get_default_config()
        cfg.merge_from_list(['dal.margin', 0.3])
    """
    return section(KEYS)
