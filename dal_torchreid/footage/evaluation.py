"""After training on footage tracklets with ground truth: the association, scored.

A data set cut from footage has no identities, so a run on it is not evaluated the
re-id way (no query, no rank-1). When every camera of its footage holds
``gt/gt.txt`` (global person ids), :func:`evaluate_footage` runs what
``dal-associate --footage`` runs with the trained model (its EMA when kept) into
``<save_dir>/association/<name>/`` and returns the scores for ``results.json``.
"""
from __future__ import annotations

import os.path as osp

import torchreid
from yacs.config import CfgNode

from dal_torchreid.footage.association import AssociationSettings, associate
from dal_torchreid.footage.dataset import footage_folder_name, is_footage_dataset
from dal_torchreid.footage.manifest import dataset_sources
from dal_torchreid.engine.embedding import unwrap_model


def footage_with_ground_truth(root: str, name: str) -> str | None:
    """The footage folder of data set ``name`` when all its cameras hold ``gt/gt.txt``."""
    info = dataset_sources(root, name)
    footage = info['footage']
    cameras = list(info['cameras'])
    if cameras and all(osp.isfile(osp.join(footage, c, 'gt', 'gt.txt')) for c in cameras):
        return footage
    return None


def test_transform(cfg: CfgNode):
    """torchreid's test transform of ``cfg``'s input size and normalisation."""
    _, transform = torchreid.data.transforms.build_transforms(
        cfg.data.height, cfg.data.width, transforms=[], norm_mean=list(cfg.data.norm_mean),
        norm_std=list(cfg.data.norm_std))
    return transform


def associate_from_config(cfg: CfgNode, name: str, out: str, model, footage: str | None = None,
                          tracks: str | None = None, gallery: str | None = None) -> dict:
    """:func:`~dal_torchreid.footage.association.associate` of data set ``name`` with
    ``cfg``'s input size, normalisation, pooling and ``associate.*`` settings (and the
    earlier ``gallery`` to carry ids from, ``associate.carry_threshold``)."""
    return associate(cfg.data.root, name, out, model, test_transform(cfg),
                     AssociationSettings.from_config(cfg), footage=footage, tracks=tracks,
                     gallery=gallery, carry_threshold=cfg.associate.carry_threshold)


def evaluate_footage(cfg: CfgNode, engine, save_dir: str) -> dict:
    """``{'footage_scores': {name: scores}}`` for the footage sources with ground truth,
    or ``{}``. A ground-truth view (:mod:`dal_torchreid.footage.ground_truth`) is
    scored as the data set it views: all its tracklets, false tracks included."""
    scores = {}
    for name in cfg.data.sources:
        if not is_footage_dataset(name):
            continue
        folder = footage_folder_name(name)  # a ground-truth view: the data set it views
        footage = footage_with_ground_truth(cfg.data.root, folder)
        if footage is None:
            continue
        ema = getattr(getattr(engine, 'step', None), 'ema', None)
        model = ema.module if ema is not None else unwrap_model(engine.model)
        out = osp.join(save_dir, 'association', name)
        summary = associate_from_config(cfg, folder, out, model, footage=footage)
        result = summary['scores']
        scores[name] = result
        print(f'=> {name} against its ground truth: cross-camera pairwise F1 '
              f'{result["pairwise"]["f1"]:.3f}, multi-camera IDF1 {result["idf1"]["IDF1"]:.3f} '
              f'("{out}")')
    return {'footage_scores': scores} if scores else {}
