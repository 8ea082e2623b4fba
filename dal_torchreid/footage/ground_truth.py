"""A labelled view of footage tracklets, from the footage's ground truth: comparisons only.

A tracklet data set cut from a user's footage has no identities, and nothing the
command-line tools do gives it any: a supervised engine is refused on it. To measure
how far the label-free engines are from the same backbone trained WITH identities
(``dal-demo --footage`` on synthetic footage), :func:`register_ground_truth_view`
registers, in the running Python process only, a second data set over the same
tracklets whose person ids come from ``FOOTAGE/<camera>/gt/gt.txt``: each tracklet takes
the global id most of its tracker boxes cover
(:func:`~dal_torchreid.footage.scores.tracklet_persons`, the mapping the scoring
uses); tracklets that cover no person (false tracks) are left out, and the ids are
numbered ``0 .. P-1`` as torchreid's supervised engines expect.

The view's name, ``<name>`` + :data:`GROUND_TRUTH_SUFFIX`, has no folder: ``dal-train``
registers only data sets it finds on disk, so plain training on footage never reaches
it. After training, the view is scored as the data set it views
(:func:`dal_torchreid.footage.evaluation.evaluate_footage`).
"""
from __future__ import annotations

import torchreid

from dal_torchreid.data.datamanager import DataLayoutError, registered_video_datasets
from dal_torchreid.footage.dataset import (
    FootageTracklet, FootageTrackletDataset, footage_dataset_class
)
from dal_torchreid.footage.manifest import dataset_sources
from dal_torchreid.footage.scores import tracklet_persons

GROUND_TRUTH_SUFFIX = '-ground-truth-ids'
"""Ends the name of every ground-truth view: it is no data set of the user's."""


class GroundTruthFootageDataset(FootageTrackletDataset):
    """The tracklets of ``root/<dataset_dir>`` with the person ids of their footage's
    ``gt.txt`` (see the module); subclassed per data set by
    :func:`register_ground_truth_view`.

    Args:
        root (str): data root.
        **kwargs: torchreid's ``VideoDataset`` arguments.

    Attributes:
        left_out (int): tracklets that cover no ground-truth person (not trained on).
    """

    has_identities = True

    def training_items(self, tracklets: list[FootageTracklet]) -> list[tuple]:
        """``(frame paths, pid, camid)`` of each tracklet that covers a person, pids
        ``0 .. P-1`` in the order of the ground truth's global ids."""

        info = dataset_sources(self.root, self.dataset_dir)
        persons = tracklet_persons(info['footage'], info['tracks'], tracklets)
        label = {pid: i for i, pid in enumerate(sorted({p for p in persons if p is not None}))}
        if not label:
            raise DataLayoutError(f'no tracklet of "{self.folder}" covers a person of the '
                                  f'ground truth in "{info["footage"]}": nothing to train on')
        self.left_out = sum(p is None for p in persons)
        return [(tuple(t.paths), label[p], t.camid) for t, p in zip(tracklets, persons)
                if p is not None]


def ground_truth_view_name(name: str) -> str:
    """The name :func:`register_ground_truth_view` registers for data set ``name``."""
    return name + GROUND_TRUTH_SUFFIX


def register_ground_truth_view(name: str) -> str:
    """Registers in torchreid, for this process, the ground-truth view of the footage data
    set ``name`` (under the data root the data manager is given); returns the view's name.
    For comparisons with a supervised model only: the view reads the footage's
    ``<camera>/gt/gt.txt`` when torchreid builds it, and a missing one raises
    ``FileNotFoundError`` naming it. Reads no data itself.

    Examples::

        view = register_ground_truth_view('synthetic_footage_s1')
        cfg = load_config('configs/own_footage.yaml', ['data.sources', [view],
                          'data.targets', [], 'loss.name', 'triplet'])
        datamanager = build_datamanager(cfg)  # pids from gt.txt
    """
    view = ground_truth_view_name(name)
    cls = footage_dataset_class(view)
    if cls is not None and cls.has_identities and cls.dataset_dir == name:
        return view
    if view in registered_video_datasets():
        raise ValueError(f'data set name "{view}" is registered already, as another data set')
    cls = type(f'GroundTruthFootage_{name}', (GroundTruthFootageDataset,), {'dataset_dir': name})
    torchreid.data.register_video_dataset(view, cls)
    return view
