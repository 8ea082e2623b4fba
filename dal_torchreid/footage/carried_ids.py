"""The gallery ``dal-associate`` writes, and global ids carried into it from an earlier one.

Every association keeps what it found in ``OUT/gallery.pth``
(:class:`~dal_torchreid.footage.gallery.Gallery`): each tracklet's feature, camera,
frames and global id, the data set its crops are in, and the fingerprint of the model
that made the features. Given an earlier run's gallery (``dal-associate --gallery
PREVIOUS_OUT``), each new tracklet is matched with the gallery's identities
(:func:`~dal_torchreid.footage.tracklet_carry.carry_tracklet_ids`): a person seen before
keeps the old global id, a new one gets an id never used before (one per cluster of the
new association), and the grown gallery is written.

The least similarity for an old id is ``associate.carry_threshold`` when set; by default
it is found without labels, from how alike the gallery's different identities look
(:func:`~dal_torchreid.footage.carry_threshold.separating_threshold`). Where that
cannot be done (too few tracklets), the association's own threshold is used when it
gives one, else the earlier gallery's.

What the association provides beyond ids is read by :func:`association_provides`: a
``threshold`` (a cosine similarity) and ``camera_links`` (JSON-like data, or an object
with ``as_dict()``) on the :class:`~dal_torchreid.footage.association.Association`, where
an association method sets them. The agglomerative association sets its camera links
(``camera_links.json``'s content, kept in the gallery for ``dal-search``) and no
threshold: its merge threshold is a z-score of one day's similarities, not a cosine
that compares with another day's.

Examples::

    fingerprint = transform_fingerprint(model, transform, 'avg')
    previous = open_gallery('out/day1', fingerprint)   # refused now if another model made it
    ids, record = keep_in_gallery('out/day2', association, previous, fingerprint)
"""
from __future__ import annotations

import os.path as osp
import warnings
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from dal_torchreid.footage.carry_threshold import (
    BACKGROUND_QUANTILE, ThresholdEstimate, background_rows, best_other_similarities,
    separating_threshold
)
from dal_torchreid.footage.gallery import (
    GALLERY_FILE, Gallery, ModelFingerprint, check_compatible, load_gallery, model_fingerprint,
    save_gallery
)
from dal_torchreid.footage.tracklet_carry import carry_tracklet_ids, identity_similarities
from dal_torchreid.footage.tracklet_table import TrackletTable

LAST_RESORT = 0.5  # a first gallery of one identity has no look-alike to measure: its threshold


def transform_fingerprint(model: nn.Module, transform, pooling_method: str) -> ModelFingerprint:
    """The :class:`~dal_torchreid.footage.gallery.ModelFingerprint` of ``model`` seeing crops
    through ``transform`` (torchreid's test transform: its ``Resize`` gives the input size,
    its ``Normalize`` the normalisation) and pooled with ``pooling_method``; the
    architecture is named by the model's class. A transform without a ``Resize`` to a fixed
    size or a ``Normalize`` is recorded as size 0x0 or no normalisation, with a warning
    (pass ``fingerprint=`` to :func:`~dal_torchreid.footage.association.associate` instead).

    Examples::

        _, transform = torchreid.data.transforms.build_transforms(256, 128, transforms=[])
        fingerprint = transform_fingerprint(model, transform, 'avg')
    """
    steps = getattr(transform, 'transforms', [transform])
    size = next((getattr(t, 'size') for t in steps if type(t).__name__ == 'Resize'), None)
    norm = next((t for t in steps if type(t).__name__ == 'Normalize'), None)
    if not (isinstance(size, (tuple, list)) and len(size) == 2):
        warnings.warn('the transform resizes to no fixed (height, width): the gallery records '
                      'the input size as 0x0')
        size = (0, 0)
    if norm is None:
        warnings.warn('the transform does not normalise: the gallery records no normalisation')
    return model_fingerprint(model, type(model).__name__, int(size[0]), int(size[1]),
                             list(norm.mean) if norm else [], list(norm.std) if norm else [],
                             pooling_method)


def gallery_folder(path: str) -> str:
    """The folder holding the gallery ``path`` names (a run's ``OUT``, or the file's folder)."""
    return path if osp.isdir(path) else osp.dirname(osp.abspath(path))


def open_gallery(path: str, fingerprint: ModelFingerprint) -> Gallery:
    """The gallery of ``path`` (an earlier ``OUT`` or its ``gallery.pth``), checked to be of
    the model ``fingerprint`` describes: a missing file is ``FileNotFoundError``, a
    damaged or foreign one :class:`~dal_torchreid.footage.gallery.GalleryError`, each one
    line naming the file."""
    gallery = load_gallery(path)
    check_compatible(gallery, fingerprint)
    return gallery


def association_provides(association) -> dict:
    """``{'threshold': float or None, 'camera_links': dict or None}``: what the association
    method gave beyond ids (see the module): the hook where an association that learns
    a threshold and camera links hands them to the gallery and to ``dal-search``."""
    threshold = getattr(association, 'threshold', None)
    links = getattr(association, 'camera_links', None)
    if links is not None and not isinstance(links, dict):
        links = links.as_dict()
    return {'threshold': None if threshold is None else float(threshold),
            'camera_links': links}


def gallery_background(gallery: Gallery) -> np.ndarray:
    """How alike different people look in ``gallery``: for up to
    :data:`~dal_torchreid.footage.carry_threshold.MAX_BACKGROUND` of its tracklets, the best
    similarity to an identity other than their own."""
    rows = background_rows(len(gallery))
    similarity = identity_similarities(gallery.features[rows], gallery.summaries)
    own = np.searchsorted(gallery.summary_ids.numpy(),
                          np.asarray(gallery.table.global_ids)[rows])
    return best_other_similarities(similarity, own)


def first_threshold(gallery: Gallery, provided: float | None,
                    setting: float = 0.0) -> tuple[float, str]:
    """The threshold a first gallery records (what the next carry falls back on): the
    setting, else the association's, else the
    :data:`~dal_torchreid.footage.carry_threshold.BACKGROUND_QUANTILE` quantile of
    :func:`gallery_background` (:data:`LAST_RESORT` for one identity)."""
    if setting:
        return float(setting), 'associate.carry_threshold'
    if provided is not None:
        return provided, 'the association\'s threshold'
    background = gallery_background(gallery)
    if not len(background):
        return LAST_RESORT, f'one identity: no look-alike to measure, a fixed {LAST_RESORT}'
    value = float(np.clip(np.quantile(background, BACKGROUND_QUANTILE), 1e-6, 1.0))
    return value, (f'the {BACKGROUND_QUANTILE:g} quantile of {len(background)} tracklets\' best '
                   'similarity to an identity not theirs')


def carry_threshold(previous: Gallery, features: Tensor, provided: float | None,
                    setting: float = 0.0, similarity: np.ndarray | None = None
                    ) -> tuple[float, ThresholdEstimate | None, str]:
    """``(threshold, estimate or None, how)`` for carrying ids from ``previous`` to new
    tracklets of ``features`` (L2-normalised): the setting, else
    :func:`~dal_torchreid.footage.carry_threshold.separating_threshold` of their best
    similarities against :func:`gallery_background`, else the association's threshold,
    else the gallery's. ``similarity``: the features' to the gallery's identities, when
    already computed."""
    if setting:
        return float(setting), None, 'associate.carry_threshold'
    if similarity is None:
        similarity = identity_similarities(features, previous.summaries)
    candidates = similarity.max(1) if similarity.size else np.zeros(0)
    estimate = separating_threshold(candidates, gallery_background(previous))
    if estimate.value is not None:
        return estimate.value, estimate, 'found without labels: ' + estimate.how
    if provided is not None:
        return provided, estimate, f'the association\'s threshold ({estimate.how})'
    return previous.threshold, estimate, f'{previous.name}\'s threshold ({estimate.how})'


def keep_in_gallery(out: str, association, previous: Gallery | None,
                    fingerprint: ModelFingerprint, setting: float = 0.0,
                    source: str = '') -> tuple[np.ndarray, dict]:
    """Writes ``OUT/gallery.pth`` of ``association``; returns each tracklet's global id
    (carried from ``previous`` where given, else the association's) and the summary's
    ``gallery`` record (with what the association gave beyond ids: a cosine threshold,
    camera links).

    Args:
        out (str): the output folder.
        association: an :class:`~dal_torchreid.footage.association.Association` (its
            tracklets, features and within-day ids).
        previous (Gallery, optional): the earlier gallery (:func:`open_gallery`).
        fingerprint (ModelFingerprint): the model that made the features.
        setting (float): ``associate.carry_threshold`` (0: found without labels).
        source (str): the tracklet data set folder (where ``dal-search`` finds the crops).
    """
    provided = association_provides(association)
    tracklets = association.tracklets
    features = torch.nn.functional.normalize(association.features.detach().float().cpu(), dim=1)
    links = provided['camera_links'] or {}
    if previous is None:
        ids = np.asarray(association.ids)
        table = TrackletTable.from_tracklets(tracklets, ids.tolist())
        gallery = Gallery(features, table, LAST_RESORT, fingerprint, links, sources=[source])
        gallery.threshold, how = first_threshold(gallery, provided['threshold'], setting)
        record: dict[str, Any] = {'previous': None, 'threshold': gallery.threshold,
                                  'threshold_how': how}
    else:
        similarity = identity_similarities(features, previous.summaries)  # once, for both
        threshold, estimate, how = carry_threshold(previous, features, provided['threshold'],
                                                   setting, similarity)
        ids, gallery = carry_tracklet_ids(
            previous, features, [t.camera for t in tracklets], [t.first for t in tracklets],
            [t.last for t in tracklets], association.ids, threshold,
            tracks=[t.track for t in tracklets], fingerprint=fingerprint,
            camera_links=links or None, source=source, similarity=similarity)
        old = set(previous.summary_ids.tolist())
        carried = np.isin(ids, list(old))
        record = {'previous': osp.abspath(previous.source), 'threshold': threshold,
                  'threshold_how': how,
                  'estimate': None if estimate is None else estimate.as_dict(),
                  'carried_ids': len(set(ids[carried].tolist())),
                  'carried_tracklets': int(carried.sum()),
                  'new_ids': len(set(ids.tolist()) - old), 'first_new_id': previous.next_id}
    path = save_gallery(osp.join(out, GALLERY_FILE), gallery)
    record.update(file=path, session=max(gallery.table.sessions, default=0),
                  sessions=len(set(gallery.table.sessions)), identities=gallery.num_identities,
                  tracklets=len(gallery), next_id=gallery.next_id)
    record.update(association_threshold=provided['threshold'],
                  association_camera_links=bool(provided['camera_links']))
    return ids, {'gallery': record}

