"""An identity gallery that outlives a run: global ids carried from one footage batch to the next.

A :class:`Gallery` keeps, for every tracklet an association saw, its feature,
camera, track, frame range, global id and session (the batch of footage it came
from, :mod:`~dal_torchreid.footage.tracklet_table`), each identity's summary
feature, the association threshold and camera links used, the next unused global
id, and the :class:`ModelFingerprint` of the model that made the features. Features
of two models, or of one model at two input sizes, are not comparable, so a gallery
is used only with the model that made it (:func:`check_compatible`).

:func:`save_gallery` writes ``gallery.pth`` (tensors, dicts, lists, str, int and float
only: ``torch.load(path, weights_only=True)`` reads it); :func:`load_gallery` checks it.
:func:`carry_ids` gives the people of new footage their old global ids where they match
an identity of the gallery, and ids never used before otherwise, a whole cluster of the
new association at a time; ``dal-associate --gallery`` decides tracklet by tracklet
(:mod:`~dal_torchreid.footage.tracklet_carry`, sharing :func:`checked_batch` and
:func:`grown_gallery`), which a coarse clustering of a small batch does not mislead.

The file (``GALLERY_FORMAT``, version ``GALLERY_VERSION``), N tracklets of D dimensions,
P identities:

=================  ==========================================================
key                value
=================  ==========================================================
``format``         ``'dal_torchreid.gallery'``
``version``        ``1``
``features``       float32 ``(N, D)``, L2-normalised
``camera_names``   list of str: the cameras, sorted
``camera_index``   int64 ``(N,)``: each tracklet's camera in ``camera_names``
``tracks``         int64 ``(N,)``: the tracker's id within the camera
``first``          int64 ``(N,)``: first frame (frames compare within a session)
``last``           int64 ``(N,)``: last frame
``global_ids``     int64 ``(N,)``: global id of each tracklet, >= 1
``sessions``       int64 ``(N,)``: 0 for the first footage, +1 per carried batch
``summary_ids``    int64 ``(P,)``: the global ids, increasing
``summaries``      float32 ``(P, D)``: each id's mean tracklet feature, L2-normalised
``threshold``      float: least summary similarity for a carried id
``camera_links``   dict: the camera links used (JSON-like; ``{}``: none)
``next_id``        int: the next unused global id (ids are never reused)
``sources``        list of str: each session's tracklet data set folder (its crops),
                   ``''`` where unknown (optional: a file without it has none)
``fingerprint``    dict: ``weights_sha256``, ``model_name``, ``height``, ``width``,
                   ``norm_mean``, ``norm_std``, ``pooling_method``
=================  ==========================================================
"""
from __future__ import annotations

import os.path as osp
from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from torch import Tensor, nn
from torch.nn import functional as F

from dal_torchreid.files.errors import check_input_file
from dal_torchreid.footage.tracklet_table import TrackletTable
from dal_torchreid.models.imagenet import tensor_digest
from dal_torchreid.models.weights import (
    is_classifier_key, load_error, save_checkpoint_atomic, torch_load
)

GALLERY_FILE = 'gallery.pth'
GALLERY_FORMAT = 'dal_torchreid.gallery'
GALLERY_VERSION = 1
SUMMARY_TOLERANCE = 1e-4  # stored summaries against those recomputed from the features
_PAIR_BLOCK = 2 ** 24  # similarities held at once while matching identities


class GalleryError(ValueError):
    """A gallery file that is missing a field, holds a wrong one, or belongs to another
    model; the message names the file and the field."""


@dataclass(frozen=True)
class ModelFingerprint:
    """What makes two models' features comparable: their weights and how they see a crop.

    Args:
        weights_sha256 (str): sha256 of the backbone's tensors (:func:`model_fingerprint`).
        model_name (str): torchreid's name of the architecture.
        height, width (int): the input size crops are resized to.
        norm_mean, norm_std (tuple of float): the input normalisation.
        pooling_method (str): crops to a tracklet feature (``'avg'``, ``'max'``, ...).
    """

    weights_sha256: str
    model_name: str
    height: int
    width: int
    norm_mean: tuple
    norm_std: tuple
    pooling_method: str

    def describe(self) -> str:
        return (f'{self.model_name} at {self.height}x{self.width}, mean '
                f'{list(self.norm_mean)} std {list(self.norm_std)}, {self.pooling_method} '
                f'pooling, weights sha256 {self.weights_sha256[:12]}')

    def as_dict(self) -> dict:
        state = asdict(self)
        state['norm_mean'], state['norm_std'] = list(self.norm_mean), list(self.norm_std)
        return state


def model_fingerprint(model: nn.Module, model_name: str, height: int, width: int,
                      norm_mean: Sequence[float], norm_std: Sequence[float],
                      pooling_method: str) -> ModelFingerprint:
    """The :class:`ModelFingerprint` of ``model`` as features are extracted with it.

    The sha256 runs over the backbone's tensors in name order (names, dtypes, shapes and
    bytes: :func:`~dal_torchreid.models.imagenet.tensor_digest`), leaving out the identity
    classifier (built at random when the weights file has none; it makes no feature) and
    BatchNorm's batch counters.

    Examples::

        fingerprint = model_fingerprint(model, 'osnet_x1_0', 256, 128, [0.485, 0.456, 0.406],
                                        [0.229, 0.224, 0.225], 'avg')
    """
    state = {k: v for k, v in model.state_dict().items()
             if not is_classifier_key(k) and not k.endswith('num_batches_tracked')}
    return ModelFingerprint(tensor_digest(state), str(model_name), int(height), int(width),
                            tuple(float(v) for v in norm_mean), tuple(float(v) for v in norm_std),
                            str(pooling_method))


def summary_features(features: Tensor, ids: Sequence[int]) -> tuple[Tensor, Tensor]:
    """``(ids, summaries)``: the distinct ``ids`` increasing, and each one's mean feature
    over its rows of ``features``, L2-normalised."""
    ids = torch.as_tensor(np.asarray(ids, dtype=np.int64))
    unique, inverse = torch.unique(ids, sorted=True, return_inverse=True)
    sums = torch.zeros(len(unique), features.shape[1], dtype=features.dtype)
    sums.index_add_(0, inverse, features)
    return unique, F.normalize(sums, dim=1)


@dataclass(eq=False)  # tensors: compare the fields you mean
class Gallery:
    """Global identities with their tracklets' features, kept from run to run (see the module).

    Args:
        features (Tensor): ``(N, D)`` tracklet features (L2-normalised here).
        table (TrackletTable): camera, track, frames, global id (every one set, >= 1) and
            session of each row.
        threshold (float): least cosine similarity of summaries for :func:`carry_ids` to
            give a new person an old id, in ``(0, 1]``.
        fingerprint (ModelFingerprint): the model that made the features.
        camera_links (dict, optional): the camera links used, as JSON-like data.
        next_id (int, optional): the next unused global id; default one above the largest.
        sources (list of str, optional): each session's tracklet data set folder, where its
            crops are (``dal-search`` shows them); ``''`` where unknown.
        source (str, optional): the file it was read from, named in errors.

    ``summary_ids`` and ``summaries`` (each identity's mean feature, normalised) follow
    from the features.

    Examples::

        ids = association.ids  # 1 .. P
        gallery = Gallery(association.features,
                          TrackletTable.from_tracklets(association.tracklets, ids),
                          threshold=0.6, fingerprint=fingerprint)
        save_gallery('out/shop/gallery.pth', gallery)
    """

    features: Tensor
    table: TrackletTable
    threshold: float
    fingerprint: ModelFingerprint
    camera_links: dict = field(default_factory=dict)
    next_id: int | None = None
    sources: list = field(default_factory=list)
    source: str = field(default='', repr=False, compare=False)
    summary_ids: Tensor = field(init=False, repr=False)
    summaries: Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        where = self.name
        features = torch.as_tensor(self.features)
        if features.ndim != 2 or not features.is_floating_point():
            raise GalleryError(f'{where}: features must be a 2-D float tensor, got '
                               f'{features.dtype} of shape {tuple(features.shape)}')
        if len(features) != len(self.table):
            raise GalleryError(f'{where}: {len(features)} features for {len(self.table)} '
                               'tracklets')
        if not torch.isfinite(features).all():
            raise GalleryError(f'{where}: features hold NaN or infinite values')
        self.features = F.normalize(features.detach().float().cpu(), dim=1)
        ids = self.table.global_ids
        bad = [g for g in ids if g is None or g < 1]
        if bad:
            raise GalleryError(f'{where}: every tracklet needs a global id >= 1, found {bad[0]}')
        largest = max(ids, default=0)
        self.next_id = largest + 1 if self.next_id is None else int(self.next_id)
        if self.next_id <= largest:
            raise GalleryError(f'{where}: next_id {self.next_id} is not above the largest '
                               f'global id {largest}')
        if not (isinstance(self.threshold, (int, float)) and 0 < self.threshold <= 1):
            raise GalleryError(f'{where}: threshold must be a number in (0, 1], got '
                               f'{self.threshold!r}')
        self.threshold = float(self.threshold)
        if not isinstance(self.fingerprint, ModelFingerprint):
            raise GalleryError(f'{where}: fingerprint must be a ModelFingerprint, got '
                               f'{type(self.fingerprint).__name__}')
        check_plain(self.camera_links, f'{where}: camera_links')
        if not (isinstance(self.sources, (list, tuple))
                and all(isinstance(s, str) for s in self.sources)):
            raise GalleryError(f'{where}: sources must be a list of str (data set folders)')
        self.sources = list(self.sources)
        self.summary_ids, self.summaries = summary_features(self.features, ids)

    @property
    def name(self) -> str:
        return f'gallery "{self.source}"' if self.source else 'gallery'

    def __len__(self) -> int:
        return len(self.table)

    @property
    def num_identities(self) -> int:
        return len(self.summary_ids)


def check_plain(value, where: str) -> None:
    """Raises :class:`GalleryError` naming ``where`` and the key unless ``value`` is JSON-like
    data (dicts with str keys, lists, str, int, float, bool): what ``weights_only`` loads."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise GalleryError(f'{where}: key {key!r} is not a str')
            check_plain(item, f'{where}.{key}')
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            check_plain(item, f'{where}[{i}]')
    elif not isinstance(value, (str, int, float, bool)):
        raise GalleryError(f'{where} holds a {type(value).__name__}: only dicts, lists, str, '
                           'int, float and bool are kept')


def check_compatible(gallery: Gallery, fingerprint: ModelFingerprint) -> None:
    """Raises :class:`GalleryError`, one line naming both models, unless ``gallery`` was made
    by the model ``fingerprint`` describes (same weights, input size, normalisation and
    pooling).

    Examples::

        check_compatible(load_gallery('out/day1'), model_fingerprint(model, ...))
    """
    if gallery.fingerprint != fingerprint:
        raise GalleryError(f'{gallery.name} was made by {gallery.fingerprint.describe()}; this '
                           f'model is {fingerprint.describe()}: features of two models or input '
                           'sizes are not comparable (use the gallery\'s model, or start a new '
                           'gallery)')


def gallery_state(gallery: Gallery) -> dict:
    """The dict :func:`save_gallery` writes (the table in the module's schema)."""
    table = gallery.table
    names = sorted(set(table.cameras))
    index = {name: i for i, name in enumerate(names)}

    def longs(values):
        return torch.tensor(values, dtype=torch.int64).reshape(-1)
    return {'format': GALLERY_FORMAT, 'version': GALLERY_VERSION,
            'features': gallery.features.contiguous(),
            'camera_names': names, 'camera_index': longs([index[c] for c in table.cameras]),
            'tracks': longs(table.tracks), 'first': longs(table.first), 'last': longs(table.last),
            'global_ids': longs(table.global_ids), 'sessions': longs(table.sessions),
            'summary_ids': gallery.summary_ids.clone(), 'summaries': gallery.summaries.clone(),
            'threshold': gallery.threshold, 'camera_links': gallery.camera_links,
            'next_id': gallery.next_id, 'fingerprint': gallery.fingerprint.as_dict(),
            'sources': list(gallery.sources)}


def gallery_file(path: str) -> str:
    """``path``, or ``path/gallery.pth`` when ``path`` is a folder (a run's ``OUT``)."""
    return osp.join(path, GALLERY_FILE) if osp.isdir(path) else path


def save_gallery(path: str, gallery: Gallery) -> str:
    """Writes ``gallery`` to ``path`` (a folder: ``path/gallery.pth``) through a temporary
    file and a rename, so a reader never sees half a gallery; returns the file written.

    Examples::

        save_gallery('out/day2', grown)  # out/day2/gallery.pth
        state = torch.load('out/day2/gallery.pth', weights_only=True)
    """
    path = gallery_file(path)
    return save_checkpoint_atomic(gallery_state(gallery), path)


_FIELDS = {'features': Tensor, 'camera_names': list, 'camera_index': Tensor, 'tracks': Tensor,
           'first': Tensor, 'last': Tensor, 'global_ids': Tensor, 'sessions': Tensor,
           'summary_ids': Tensor, 'summaries': Tensor, 'threshold': (int, float),
           'camera_links': dict, 'next_id': int, 'fingerprint': dict}
_FINGERPRINT_FIELDS = {'weights_sha256': str, 'model_name': str, 'height': int, 'width': int,
                       'norm_mean': list, 'norm_std': list, 'pooling_method': str}


def _fields(state: dict, types: dict, where: str) -> None:
    for key, kind in types.items():
        if key not in state:
            raise GalleryError(f'{where}: key "{key}" is missing')
        if not isinstance(state[key], kind) or isinstance(state[key], bool):
            raise GalleryError(f'{where}: key "{key}" holds a {type(state[key]).__name__}')


def load_gallery(path: str) -> Gallery:
    """The gallery in ``path`` (a file, or a folder holding ``gallery.pth``), read with
    ``weights_only=True`` and checked: format and version, every field, the table's
    lengths, the summaries against the features. Anything wrong is one
    :class:`GalleryError` line naming the file (a missing file: ``FileNotFoundError``).

    Examples::

        gallery = load_gallery('out/day1')
        check_compatible(gallery, fingerprint)
    """
    path = gallery_file(path)
    check_input_file(path, 'gallery')
    where = f'gallery "{path}"'
    try:
        state = torch_load(path)
    except Exception as err:  # torch raises many kinds for a damaged file
        raise GalleryError(f'{where} cannot be loaded: {load_error(err)}') from err
    if not isinstance(state, dict) or state.get('format') != GALLERY_FORMAT:
        raise GalleryError(f'{where} is not a gallery (no "format": "{GALLERY_FORMAT}")')
    if state.get('version') != GALLERY_VERSION:
        raise GalleryError(f'{where} has version {state.get("version")!r}; this version of '
                           f'dal_torchreid reads version {GALLERY_VERSION}')
    _fields(state, _FIELDS, where)
    _fields(state['fingerprint'], _FINGERPRINT_FIELDS, f'{where}: fingerprint')
    names, index = state['camera_names'], state['camera_index']
    columns = ('camera_index', 'tracks', 'first', 'last', 'global_ids', 'sessions')
    n = len(state['features'])
    for key in columns:
        if state[key].dtype != torch.int64 or state[key].shape != (n,):
            raise GalleryError(f'{where}: "{key}" must be int64 of shape ({n},), got '
                               f'{state[key].dtype} {tuple(state[key].shape)}')
    if n and (index.min() < 0 or index.max() >= len(names)):
        raise GalleryError(f'{where}: "camera_index" points outside the {len(names)} '
                           'camera_names')
    fingerprint = dict(state['fingerprint'])
    fingerprint['norm_mean'] = tuple(fingerprint['norm_mean'])
    fingerprint['norm_std'] = tuple(fingerprint['norm_std'])
    try:
        table = TrackletTable([names[i] for i in index.tolist()], state['tracks'].tolist(),
                              state['first'].tolist(), state['last'].tolist(),
                              state['global_ids'].tolist(), state['sessions'].tolist())
        gallery = Gallery(state['features'], table, state['threshold'],
                          ModelFingerprint(**{k: fingerprint[k] for k in _FINGERPRINT_FIELDS}),
                          state['camera_links'], state['next_id'],
                          sources=state.get('sources', []), source=path)
    except ValueError as err:
        raise GalleryError(str(err) if where in str(err) else f'{where}: {err}') from err
    if (not torch.equal(gallery.summary_ids, state['summary_ids'])
            or gallery.summaries.shape != state['summaries'].shape
            or not torch.allclose(gallery.summaries, state['summaries'].float(),
                                  atol=SUMMARY_TOLERANCE)):
        raise GalleryError(f'{where}: "summaries" do not match the tracklet features and '
                           'global ids (the file was altered)')
    return gallery


def match_identities(new: Tensor, old: Tensor, threshold: float) -> list[tuple[int, int]]:
    """One-to-one pairs ``(new row, old row)`` of summary features whose cosine similarity is at
    least ``threshold`` (> 0), with the largest total similarity.

    Only pairs above the threshold may match, so the assignment splits into the connected
    groups of such pairs; each group is solved by ``scipy.optimize.linear_sum_assignment``
    (pairs under the threshold weigh 0: leaving both unmatched is as good). Similarities are
    computed a block of rows at a time and only pairs above the threshold are kept, so
    memory follows those pairs, never ``len(new) x len(old)``.
    """
    if not 0 < threshold <= 1:
        raise ValueError(f'threshold must be in (0, 1], got {threshold}')
    rows, cols, sims = [], [], []
    block = max(1, _PAIR_BLOCK // max(1, len(old)))
    for start in range(0, len(new), block):
        similarity = new[start:start + block] @ old.T
        r, c = torch.nonzero(similarity >= threshold, as_tuple=True)
        rows.append(r + start)
        cols.append(c)
        sims.append(similarity[r, c])
    if not rows or not sum(len(r) for r in rows):
        return []
    rows, cols, sims = (torch.cat(v).numpy() for v in (rows, cols, sims))
    graph = coo_matrix((np.ones(len(rows)), (rows, len(new) + cols)),
                       shape=(len(new) + len(old),) * 2)
    _, component = connected_components(graph, directed=False)
    pairs = []
    order = np.argsort(component[rows], kind='stable')
    groups = np.split(order, np.flatnonzero(np.diff(component[rows][order])) + 1)
    for group in groups:
        r_ids, r = np.unique(rows[group], return_inverse=True)
        c_ids, c = np.unique(cols[group], return_inverse=True)
        weight = np.zeros((len(r_ids), len(c_ids)))
        weight[r, c] = sims[group]
        for i, j in zip(*linear_sum_assignment(weight, maximize=True)):
            if weight[i, j] >= threshold:
                pairs.append((int(r_ids[i]), int(c_ids[j])))
    return sorted(pairs)


def carry_ids(previous: Gallery, features: Tensor, cameras: Sequence[str], first: Sequence[int],
              last: Sequence[int], new_ids: Sequence[int], threshold: float, *,
              tracks: Sequence[int], fingerprint: ModelFingerprint,
              camera_links: dict | None = None, source: str = '') -> tuple[np.ndarray, Gallery]:
    """Global ids for the tracklets of new footage, carried from ``previous``; the grown gallery.

    The new footage's association put its tracklets into clusters (``new_ids``, one person
    each). Each cluster's summary feature (its tracklets' mean, normalised) is matched one to
    one with the gallery's identities (:func:`match_identities`: largest total cosine
    similarity, pairs under ``threshold`` never matched). A matched cluster takes the old
    global id; every other cluster takes the next unused id, ``previous.next_id`` on,
    never an id used before (gaps in the gallery's ids stay gaps).

    Time across batches: the new footage is a new *session* (a later day, or new cameras).
    Its frame numbers are compared only with its own: frame 500 of day two says nothing
    about frame 500 of day one, so no cannot-link or camera-link reasoning runs across
    sessions, and a person may be in the gallery and in the new footage "at once".

    Args:
        previous (Gallery): the gallery so far.
        features (Tensor): ``(M, D)`` features of the new tracklets, from the same model.
        cameras, first, last: camera, first and last frame of each new tracklet.
        new_ids (sequence of int): the new association's cluster of each tracklet.
        threshold (float): least summary similarity for an old id, in ``(0, 1]``; the
            grown gallery records it.
        tracks (sequence of int): the tracker's id of each new tracklet.
        fingerprint (ModelFingerprint): the model that made ``features``; a gallery of
            another model is refused (:func:`check_compatible`).
        camera_links (dict, optional): the new footage's camera links to record; default:
            the gallery's.
        source (str, optional): the new footage's tracklet data set folder (its crops).

    Returns:
        tuple: each new tracklet's global id (``np.ndarray``), and the grown
        :class:`Gallery` holding the old and the new tracklets.

    Examples::

        previous = load_gallery('out/day1')
        ids, grown = carry_ids(previous, features, cameras, first, last, association.ids,
                               previous.threshold, tracks=tracks, fingerprint=fingerprint)
        save_gallery('out/day2', grown)
    """
    features, new_ids = checked_batch(previous, features, cameras, new_ids, fingerprint)
    clusters, inverse = np.unique(new_ids, return_inverse=True)
    _, cluster_summaries = summary_features(features, inverse)
    matched = dict(match_identities(cluster_summaries, previous.summaries, threshold))
    old_ids = previous.summary_ids.tolist()
    next_id = previous.next_id
    cluster_ids = []
    for c in range(len(clusters)):
        if c in matched:
            cluster_ids.append(old_ids[matched[c]])
        else:
            cluster_ids.append(next_id)
            next_id += 1
    ids = np.asarray(cluster_ids, dtype=np.int64)[inverse]
    return ids, grown_gallery(previous, features, cameras, tracks, first, last, ids, threshold,
                              next_id, camera_links, source)


def checked_batch(previous: Gallery, features: Tensor, cameras: Sequence[str],
                  new_ids: Sequence[int],
                  fingerprint: ModelFingerprint) -> tuple[Tensor, np.ndarray]:
    """A new batch's ``(features, new_ids)`` to carry ids into ``previous``: the features
    L2-normalised on the CPU, the model checked (:func:`check_compatible`), the lengths and
    the dimension checked (``ValueError``)."""
    check_compatible(previous, fingerprint)
    features = F.normalize(torch.as_tensor(features).detach().float().cpu(), dim=1)
    if features.ndim != 2 or features.shape[1] != previous.features.shape[1]:
        raise ValueError(f'new features have shape {tuple(features.shape)}; {previous.name} '
                         f'holds {previous.features.shape[1]}-dimensional ones')
    new_ids = np.asarray(new_ids)
    if new_ids.shape != (len(features),):
        raise ValueError(f'new_ids has shape {new_ids.shape} for {len(features)} features')
    if len(cameras) != len(features):
        raise ValueError(f'{len(features)} new features for {len(cameras)} cameras')
    return features, new_ids


def grown_gallery(previous: Gallery, features: Tensor, cameras: Sequence[str],
                  tracks: Sequence[int], first: Sequence[int], last: Sequence[int],
                  ids: np.ndarray, threshold: float, next_id: int,
                  camera_links: dict | None = None, source: str = '') -> Gallery:
    """``previous`` with a new session: the tracklets of ``features`` (normalised) with
    their global ``ids``, ``threshold`` recorded, ``next_id`` the next unused id, the
    camera links (default: the gallery's) and the session's data set folder ``source``."""
    session = max(previous.table.sessions, default=-1) + 1
    added = TrackletTable(cameras, tracks, first, last, np.asarray(ids).tolist(),
                          [session] * len(ids))
    sources = (previous.sources + [''] * session)[:session] + [source]
    return Gallery(torch.cat([previous.features, features]), previous.table.concat(added),
                   threshold, previous.fingerprint,
                   previous.camera_links if camera_links is None else camera_links, next_id,
                   sources)
