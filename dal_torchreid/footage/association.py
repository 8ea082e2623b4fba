"""Cross-camera association of footage tracklets: features, matches, global ids, tracker files.

:func:`associate` is what ``dal-associate`` runs on a tracklet data set cut by
``dal-make-tracklets``:

1. every tracklet's feature from all its crops (the evaluation's all-frame path,
   :func:`~dal_torchreid.engine.features.extract_tracklet_features`), L2-normalised;
2. its best matches among other cameras' tracklets (``OUT/matches.csv``);
3. global person ids (:func:`~dal_torchreid.footage.linking.link_tracklets`, settings
   :class:`~dal_torchreid.footage.linking.AssociationSettings` from ``associate.*``): by
   default a constrained average-linkage clustering over a k-nearest-neighbour graph
   that never joins two tracks overlapping in time in one camera, with a merge threshold
   and camera links (transit times, image sides) found from the footage itself, written
   to ``OUT/camera_links.json``; ``method='dbscan'`` the earlier camera-aware DBSCAN;
4. the tracker's files rewritten with the global ids, one file per camera of the data
   set (``OUT/<camera>.txt``: the tracker's own lines of every kept track, only the id
   replaced, :mod:`dal_torchreid.footage.tracker_lines`; empty for a camera whose
   tracks were all filtered out);
5. ``OUT/gallery.pth``: the tracklets' features and ids, kept for the next batch of
   footage (:mod:`dal_torchreid.footage.carried_ids`); given an earlier run's gallery,
   the global ids of step 3 are carried from it first;
6. ``OUT/report.html`` with thumbnails (:mod:`dal_torchreid.footage.report`), and with
   ground truth (``FOOTAGE/<camera>/gt/gt.txt``) the scores of
   :mod:`dal_torchreid.footage.scores` in ``OUT/scores.json``.

Everything that can be checked without features is checked first: ``OUT`` and the
inputs apart, the tracker files unchanged since the cut, the ground truth of these
tracks, an earlier run's files in ``OUT`` moved aside and every file of this one
writable (:mod:`dal_torchreid.footage.output_files`).
"""
from __future__ import annotations

import csv
import json
import os.path as osp
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from dal_torchreid.data.frames import AllFramesDataset
from dal_torchreid.engine.features import extract_tracklet_features
from dal_torchreid.files.save_dir import SaveDirLock
from dal_torchreid.footage.carried_ids import (
    gallery_folder, keep_in_gallery, open_gallery, transform_fingerprint
)
from dal_torchreid.footage.dataset import FootageTracklet, read_footage_tracklets
from dal_torchreid.footage.fingerprint import same_tracks_content, tracks_fingerprint
from dal_torchreid.footage.folders import check_output_folder
from dal_torchreid.footage.gallery import ModelFingerprint
from dal_torchreid.footage.global_ids import top_matches
from dal_torchreid.footage.linking import (
    AssociationSettings, camera_links_json, footage_times, link_tracklets
)
from dal_torchreid.footage.manifest import CAMERA_INFO, dataset_sources, frame_widths
from dal_torchreid.files.errors import named_write
from dal_torchreid.footage.output_files import (
    CAMERA_LINKS, IDENTITIES, MATCHES, SCORES, SUMMARY, prepare_output, tracker_file
)
from dal_torchreid.footage.report import REPORT, write_report
from dal_torchreid.footage.scores import box_agreement, score_footage
from dal_torchreid.footage.sources import FootageError
from dal_torchreid.footage.tracker_lines import rewrite_tracker_file
from dal_torchreid.footage.tracks import read_mot_file

@dataclass
class Association:
    """The outcome of :func:`associate_tracklets`.

    Args:
        tracklets (list): the :class:`~dal_torchreid.footage.FootageTracklet` s.
        features (Tensor): ``(N, D)`` L2-normalised tracklet features.
        ids (np.ndarray): global id of each tracklet, ``1 .. P``.
        match_index, match_similarity (np.ndarray): ``(N, K)`` best matches in other
            cameras, ``K = min(top_k, N)`` (``-1`` / nan where fewer exist).
        cannot_links (int): same-camera pairs that overlap in time.
        record (dict): how the ids were found (the record of
            :func:`~dal_torchreid.footage.linking.link_tracklets`: the method, the threshold
            and how it was found, the camera links' decision).
        camera_links (dict, optional): ``OUT/camera_links.json``'s content (None for ``dbscan``).
    """

    tracklets: list
    features: Tensor
    ids: np.ndarray
    match_index: np.ndarray
    match_similarity: np.ndarray
    cannot_links: int
    record: dict = field(default_factory=dict)
    camera_links: dict | None = None

    @property
    def num_identities(self) -> int:
        return int(len(np.unique(self.ids)))

    def multi_camera_identities(self) -> int:
        """Identities whose tracklets lie in two cameras or more."""
        cameras: dict[int, set] = {}
        for tracklet, pid in zip(self.tracklets, self.ids.tolist()):
            cameras.setdefault(pid, set()).add(tracklet.camera)
        return sum(len(c) >= 2 for c in cameras.values())


def tracklet_features(model: nn.Module, tracklets: list[FootageTracklet], transform,
                      pooling_method: str = 'avg', batch_size: int = 64,
                      use_gpu: bool = False) -> Tensor:
    """``(N, D)`` L2-normalised features of the tracklets, from all their crops."""
    frames = AllFramesDataset([t.paths for t in tracklets], transform, name='footage tracklet')
    features, _ = extract_tracklet_features(model, frames, batch_size, pooling_method,
                                            use_gpu=use_gpu)
    if not torch.isfinite(features).all():
        raise FloatingPointError('tracklet features hold NaN or infinite values: the model '
                                 'weights are broken; no identity is written')
    return F.normalize(features, dim=1)


def associate_tracklets(tracklets: list[FootageTracklet], features: Tensor,
                        settings: AssociationSettings = AssociationSettings(),
                        widths: dict | None = None) -> Association:
    """Global ids (``1 .. P``) and best matches of ``tracklets`` from their ``features``
    (:func:`~dal_torchreid.footage.linking.link_tracklets`; ``widths``: each camera's frame
    width, for the sides people enter and leave by)."""
    cameras = [t.camid for t in tracklets]
    linking = link_tracklets(footage_times(tracklets, widths), features, settings)
    links = None if settings.method == 'dbscan' else \
        camera_links_json(linking, _camera_names(tracklets))
    # no tracklet has more matches than there are tracklets: top_k 10**9 lists them all
    index, similarity = top_matches(features, cameras, min(settings.top_k, len(tracklets)))
    return Association(tracklets, features, np.asarray(linking.ids) + 1, index, similarity,
                       int(linking.record.get('cannot_link_pairs', 0)), linking.record, links)


def _camera_names(tracklets: Sequence[FootageTracklet]) -> list[str]:
    """Camera name of each camera index ``0 .. C-1`` of the tracklets."""
    names = {t.camid: t.camera for t in tracklets}
    return [names.get(i, f'camera {i}') for i in range(max(names, default=-1) + 1)]


def write_matches(path: str, association: Association) -> None:
    """``matches.csv``: each tracklet's best matches in other cameras, with similarities."""
    ts, ids = association.tracklets, association.ids
    with named_write(path), open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['camera', 'track', 'global_id', 'rank', 'match_camera', 'match_track',
                         'match_global_id', 'similarity'])
        for i, t in enumerate(ts):
            for rank, (j, sim) in enumerate(zip(association.match_index[i],
                                                association.match_similarity[i]), 1):
                if j >= 0:
                    writer.writerow([t.camera, t.track, ids[i], rank, ts[j].camera, ts[j].track,
                                     ids[j], f'{sim:.4f}'])


def write_identities(path: str, association: Association) -> None:
    """``identities.csv``: camera, track, its frame range and its global id."""
    with named_write(path), open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['camera', 'track', 'first_frame', 'last_frame', 'crops', 'global_id'])
        for t, pid in zip(association.tracklets, association.ids.tolist()):
            writer.writerow([t.camera, t.track, t.first, t.last, len(t.frames), pid])


def write_tracker_files(out: str, association: Association, tracks: str,
                        cameras: Sequence[str] = ()) -> dict:
    """``OUT/<camera>.txt`` for every camera of ``cameras`` and of the tracklets: the lines of
    ``TRACKS/<camera>.txt`` of every track with a global id, that id in place of the
    tracker's and every other byte kept
    (:func:`~dal_torchreid.footage.tracker_lines.rewrite_tracker_file`); tracks the data
    set dropped are left out (a camera without a kept track gets an empty file). Returns
    per camera the boxes written and the tracks left out."""
    global_of: dict[str, dict[int, int]] = {}
    for t, pid in zip(association.tracklets, association.ids.tolist()):
        global_of.setdefault(t.camera, {})[t.track] = int(pid)
    counts = {}
    for camera in sorted(set(cameras) | set(global_of)):
        counts[camera] = rewrite_tracker_file(osp.join(tracks, tracker_file(camera)),
                                              osp.join(out, tracker_file(camera)),
                                              global_of.get(camera, {}))
    return counts


def check_tracks_unchanged(folder: str, tracks: str, cameras: list[str]) -> None:
    """Raises :class:`FootageError` when a camera's tracker file in ``tracks`` is not, by
    content, the one its crops in the data set ``folder`` were cut from (the ids written
    back would not be the data set's tracks). A data set cut before fingerprints were
    recorded is not checked."""
    for camera in cameras:
        path = osp.join(tracks, camera + '.txt')
        if not osp.isfile(path):
            raise FootageError(f'camera "{camera}": tracks file "{path}" does not exist')
        try:
            with open(osp.join(folder, camera, CAMERA_INFO)) as f:
                recorded = json.load(f).get('fingerprint', {}).get('tracks')
        except (OSError, ValueError, AttributeError):
            recorded = None
        if recorded and not same_tracks_content(recorded, tracks_fingerprint(path)):
            raise FootageError(f'tracks file "{path}" is not the one camera "{camera}" of '
                               f'"{folder}" was cut from ("{recorded.get("path")}", changed '
                               'since or another file): cut the data set again with '
                               'dal-make-tracklets, or pass the --tracks it was cut from')


def associate(root: str, name: str, out: str, model: nn.Module, transform,
              settings: AssociationSettings = AssociationSettings(), footage: str | None = None,
              tracks: str | None = None, gallery: str | None = None, carry_threshold: float = 0.0,
              fingerprint: ModelFingerprint | None = None) -> dict:
    """Associates the tracklets of data set ``ROOT/NAME`` across cameras; writes ``OUT``.

    Args:
        root (str), name (str): the tracklet data set (``dal-make-tracklets``).
        out (str): output folder: ``matches.csv``, ``identities.csv``, ``<camera>.txt``,
            ``report.html`` (and ``scores.json``).
        model (nn.Module): a torchreid backbone; eval mode gives its embedding (on the GPU
            when its weights are there).
        transform: the test transform of a frame (torchreid's ``build_transforms``).
        settings (AssociationSettings): pooling, matches and the clustering's settings.
        footage (str, optional): ``FOOTAGE`` whose ``<camera>/gt/gt.txt`` hold ground
            truth with global ids: then the ids are scored.
        tracks (str, optional): ``TRACKS``; default: the folder the data set was cut from.
        gallery (str, optional): an earlier run's ``OUT`` (or its ``gallery.pth``): people
            in it keep their global ids, new people get ids never used
            (:mod:`~dal_torchreid.footage.carried_ids`); a gallery of another model is
            refused before any feature is computed.
        carry_threshold (float): least similarity for an old id; 0: found without labels.
        fingerprint (ModelFingerprint, optional): the model's, as ``OUT/gallery.pth``
            records it; default from ``model``, ``transform`` and the pooling.

    Returns:
        dict: the summary, written to ``OUT/summary.json`` (with ``scores`` when scored,
        ``gallery`` and ``association``).

    Examples::

        import torchreid, dal_torchreid
        from dal_torchreid.footage.association import associate
        model = torchreid.models.build_model('mobilenetv2_x1_0', num_classes=1)
        _, transform = torchreid.data.transforms.build_transforms(256, 128, transforms=[])
        summary = associate('reid-data', 'shop', 'out', model, transform)
    """
    tracklets = read_footage_tracklets(osp.join(root, name))
    sources = dataset_sources(root, name)
    fingerprint = fingerprint or transform_fingerprint(model, transform, settings.pooling_method)
    previous = open_gallery(gallery, fingerprint) if gallery else None
    check_output_folder(out, '--out', {'footage': footage, 'tracks': tracks,
                                       'data set\'s footage': sources.get('footage'),
                                       'data set\'s tracks': sources.get('tracks'),
                                       'tracklet data set': osp.join(root, name),
                                       'gallery': gallery and gallery_folder(gallery)})
    tracks = tracks or sources['tracks']
    cameras = dataset_cameras(sources, tracklets)
    check_tracks_unchanged(osp.join(root, name), tracks, cameras)
    if footage:
        box_agreement(footage, tracks, cameras)  # the ground truth of these tracks
    with SaveDirLock(out, what='--out'):
        prepare_output(out, cameras, tracklets)
        features = tracklet_features(model, tracklets, transform, settings.pooling_method,
                                     settings.batch_size, on_gpu(model))
        association = associate_tracklets(tracklets, features, settings,
                                          frame_widths(sources, cameras))
        association.ids, records = keep_in_gallery(
            out, association, previous, fingerprint, carry_threshold,
            osp.abspath(osp.join(root, name)))
        return write_association(out, association, tracks, footage, cameras, records)


def dataset_cameras(sources: dict, tracklets: Sequence[FootageTracklet]) -> list[str]:
    """Every camera of a data set: those its ``tracklets.json`` lists (a camera whose
    tracks were all filtered out among them) and those of its tracklets, sorted."""
    listed = sources.get('cameras') if isinstance(sources, dict) else None
    return sorted(set(listed or ()) | {t.camera for t in tracklets})


def on_gpu(model: nn.Module) -> bool:
    """Whether ``model``'s weights lie on a GPU: where its features are computed."""
    return any(p.is_cuda for p in model.parameters())


def write_association(out: str, association: Association, tracks: str,
                      footage: str | None = None, cameras: Sequence[str] = (),
                      records: dict | None = None) -> dict:
    """Writes ``OUT``'s files of an association (and its scores against ``footage``'s
    ground truth); returns the summary written to ``OUT/summary.json``, last.

    ``cameras`` are the data set's (default: the tracklets'): each gets its
    ``<camera>.txt`` and its count, those without a tracklet included. A file that cannot
    be written is a :class:`~dal_torchreid.files.errors.WriteError` naming it. ``records``
    (the gallery's, :func:`~dal_torchreid.footage.carried_ids.keep_in_gallery`) join the
    summary."""
    tracklets = association.tracklets
    cameras = sorted(set(cameras) | {t.camera for t in tracklets})
    write_matches(osp.join(out, MATCHES), association)
    write_identities(osp.join(out, IDENTITIES), association)
    written = write_tracker_files(out, association, tracks, cameras)
    summary = {'tracklets': len(tracklets), 'cameras': cameras,
               'identities': association.num_identities,
               'identities_in_several_cameras': association.multi_camera_identities(),
               'cannot_link_pairs': association.cannot_links, 'tracker_files': written,
               'association': dict(association.record), **(records or {})}
    if association.camera_links is not None:
        _write_json(osp.join(out, CAMERA_LINKS), association.camera_links)
        summary['association']['camera_links_file'] = CAMERA_LINKS
    if footage:
        scores = score_footage(footage, tracks, out, tracklets, association.ids, cameras)
        summary['scores'] = scores
        _write_json(osp.join(out, SCORES), scores)
    rows = {camera: read_mot_file(osp.join(tracks, tracker_file(camera))) for camera in cameras}
    write_report(osp.join(out, REPORT), association, summary.get('scores'), rows, cameras,
                 true_transit_times(footage) if footage else None)
    _write_json(osp.join(out, SUMMARY), summary)
    return summary


def true_transit_times(footage: str) -> dict | None:
    """``{(from, to): (mean, std)}`` of the true transit times in frames that synthetic
    footage records in ``FOOTAGE/footage.json`` (None for other footage)."""
    from dal_torchreid.data.synthetic.footage import INFO_FILE as SYNTHETIC_INFO  # --footage only
    try:
        with open(osp.join(footage, SYNTHETIC_INFO), encoding='utf-8') as f:
            links = json.load(f).get('camera_links') or []
        return {(link['from'], link['to']): (float(link['mean_frames']), float(link['std_frames']))
                for link in links} or None
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None


def _write_json(path: str, value: dict) -> None:
    with named_write(path), open(path, 'w') as f:
        json.dump(value, f, indent=2)
