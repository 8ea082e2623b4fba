"""A tracklet data set cut from a user's footage, as a torchreid video data set without identities.

``ROOT/NAME/manifest.csv`` (written by :func:`~dal_torchreid.footage.make_tracklets`)
lists every crop with its camera, track and frame. :class:`FootageTrackletDataset`
makes each ``(camera, track)`` one training tracklet, its crops in frame order,
camera ids numbered in the sorted order of the camera names. There is no person
id: every tracklet carries :data:`UNKNOWN_PID`, and the label-free engines never
read it. Query and gallery hold one placeholder tracklet each, as torchreid's own
training-only sets (CUHK-SYSU) do; there is nothing to evaluate, so the tools never
use such a set as a target, and torchreid building it as one (a ``VideoDataManager``
without ``targets=[]`` makes the sources its targets) is refused before any training.
The summary torchreid prints shows its tracklets, cameras and crops, not placeholders.

The data set is registered under its own name the torchreid way
(``torchreid.data.register_video_dataset``) by :func:`register_footage_dataset`;
:func:`register_footage_under` finds it by its folder, refusing a name that is not one
plain folder name and a damaged ``tracklets.json`` before anything trains on it.
"""
from __future__ import annotations

import copy
import os.path as osp
from dataclasses import dataclass
from typing import Sequence

import torchreid

from dal_torchreid.data.datamanager import DataLayoutError, registered_video_datasets
from dal_torchreid.footage.folders import check_dataset_name
from dal_torchreid.footage.manifest import INFO, MANIFEST, dataset_sources, read_manifest
from dal_torchreid.footage.sources import FootageError

UNKNOWN_PID = -1
"""The person id every footage tracklet carries: not known, never used."""

SUPERVISED_REFUSAL = ('engine "{engine}" trains with identity labels, and data set "{name}" '
                      '(cut from footage by dal-make-tracklets) has none: use --engine dal or cc')


class NoIdentitiesError(DataLayoutError):
    """A supervised engine or an evaluation asked for on a data set without identities."""


@dataclass
class FootageTracklet:
    """One tracker track of one camera, as cut into crops.

    Args:
        camera (str): camera name; ``camid`` its index among the sorted names.
        track (int): the tracker's id, unique within the camera.
        frames (list): 1-based frame numbers of the crops, increasing.
        paths (list): crop files, in the same order.
        boxes (list): ``(left, top, width, height)`` of each crop in its frame.
        source (str): the video or frame folder the crops come from.
    """

    camera: str
    camid: int
    track: int
    frames: list
    paths: list
    boxes: list
    source: str

    @property
    def first(self) -> int:
        return self.frames[0]

    @property
    def last(self) -> int:
        return self.frames[-1]


def read_footage_tracklets(folder: str) -> list[FootageTracklet]:
    """The tracklets of the data set folder ``ROOT/NAME``, sorted by camera then track.

    Raises :class:`~dal_torchreid.data.datamanager.DataLayoutError` when the folder
    has no ``manifest.csv`` or it lists no crop, naming the folder.
    """
    manifest = osp.join(folder, MANIFEST)
    if not osp.isfile(manifest):
        raise DataLayoutError(f'no tracklet data set in "{folder}": "{manifest}" does not exist '
                              '(dal-make-tracklets writes it)')
    rows = read_manifest(manifest)
    if not rows:
        raise DataLayoutError(f'manifest "{manifest}" lists no crop: every track was filtered '
                              'out (see tracklets.json for the counts; relax the filters)')
    cameras = sorted({row['camera'] for row in rows})
    tracklets: dict[tuple, FootageTracklet] = {}
    for row in sorted(rows, key=lambda r: (r['camera'], r['track'], r['frame'])):
        key = (row['camera'], row['track'])
        if key not in tracklets:
            tracklets[key] = FootageTracklet(row['camera'], cameras.index(row['camera']),
                                             row['track'], [], [], [], row['source'])
        tracklet = tracklets[key]
        tracklet.frames.append(row['frame'])
        tracklet.paths.append(osp.join(folder, row['crop']))
        tracklet.boxes.append((row['left'], row['top'], row['width'], row['height']))
    return list(tracklets.values())


class FootageTrackletDataset(torchreid.data.VideoDataset):
    """The tracklets of ``root/<dataset_dir>``, without identities (see the module).

    Subclassed per data set name by :func:`register_footage_dataset`, which sets
    ``dataset_dir``; torchreid builds it from ``VideoDataManager(root, sources=NAME,
    targets=[])`` (built as a target, for a query or gallery, it is refused:
    :class:`NoIdentitiesError`).

    Args:
        root (str): data root.
        mode (str): ``'train'``; torchreid's ``'query'`` and ``'gallery'`` are refused
            (a ground-truth view's are torchreid's placeholders).
        **kwargs: torchreid's ``VideoDataset`` arguments (transform, seq_len, ...).

    Examples::

        import torchreid, dal_torchreid
        dal_torchreid.footage.register_footage_dataset('shop')
        datamanager = torchreid.data.VideoDataManager(root='reid-data', sources='shop',
                                                      targets=[])
    """

    dataset_dir = ''
    has_identities = False  # True only for a comparison's ground-truth view

    def __init__(self, root: str = '', mode: str = 'train', **kwargs) -> None:
        if mode != 'train' and not self.has_identities:
            raise NoIdentitiesError(
                f'data set "{self.dataset_dir}" (tracklets cut from footage) cannot be a test '
                f'target: it has no query or gallery to evaluate on. torchreid makes the '
                'sources the targets when none are given: build the data manager with '
                f'targets=[] (VideoDataManager(root, sources="{self.dataset_dir}", targets=[]))')
        self.root = osp.abspath(osp.expanduser(root))
        self.folder = osp.join(self.root, self.dataset_dir)
        self.tracklets = read_footage_tracklets(self.folder)
        train = self.training_items(self.tracklets)
        placeholder = [copy.deepcopy(train[0])]  # torchreid needs a query and a gallery
        super().__init__(train, placeholder, copy.deepcopy(placeholder), mode=mode, **kwargs)

    def show_summary(self) -> None:
        """torchreid's summary, with what is true of tracklets cut from footage: tracklets,
        cameras and crops; no identities (a ground-truth view: its identities), and no
        query or gallery rows (torchreid's placeholders, never evaluated)."""
        crops = sum(len(item[0]) for item in self.train)
        identities = (f'{self.num_train_pids} identities from the ground truth'
                      if self.has_identities else 'no identities')
        rule = '  ' + '-' * 46
        print(f'=> Loaded {type(self).__name__}')
        print(rule)
        print('  subset   | # tracklets | # cameras | # crops')
        print(rule)
        print(f'  train    | {len(self.train):11d} | {self.num_train_cams:9d} | {crops:7d}')
        print(rule)
        print(f'  tracklets cut from footage: {identities}, nothing to evaluate on')

    def training_items(self, tracklets: list[FootageTracklet]) -> list[tuple]:
        """torchreid's ``(frame paths, pid, camid)`` of each training tracklet: every
        tracklet, with :data:`UNKNOWN_PID`."""
        return [(tuple(t.paths), UNKNOWN_PID, t.camid) for t in tracklets]


def is_footage_dataset(name: str) -> bool:
    """Whether ``name`` is registered in torchreid as a :class:`FootageTrackletDataset`
    (tracklets cut from footage: no re-id evaluation, scored against ``gt.txt``)."""
    return footage_dataset_class(name) is not None


def footage_dataset_class(name: str) -> type | None:
    """The :class:`FootageTrackletDataset` class registered as ``name``, or None."""
    cls = vars(torchreid.data.datasets)['__video_datasets'].get(name)
    return cls if isinstance(cls, type) and issubclass(cls, FootageTrackletDataset) else None


def footage_folder_name(name: str) -> str:
    """The folder under the data root of footage data set ``name`` (a ground-truth view's
    is the data set it views)."""
    cls = footage_dataset_class(name)
    return cls.dataset_dir if cls is not None else name


def register_footage_dataset(name: str) -> type:
    """Registers the tracklet data set ``ROOT/name`` under ``name`` in torchreid (once);
    returns its class. Raises ``ValueError`` when torchreid already has another data set
    of that name.

    Examples::

        register_footage_dataset('shop')
        torchreid.data.VideoDataManager(root='reid-data', sources='shop', targets=[])
    """
    if is_footage_dataset(name):
        return vars(torchreid.data.datasets)['__video_datasets'][name]
    if name in registered_video_datasets():
        raise ValueError(f'data set name "{name}" is torchreid\'s already: choose another name')
    cls = type(f'FootageTracklets_{name}', (FootageTrackletDataset,), {'dataset_dir': name})
    torchreid.data.register_video_dataset(name, cls)
    return cls


def register_footage_under(root: str, names: Sequence[str]) -> list[str]:
    """Registers each of ``names`` that is not a torchreid data set yet and whose folder
    under ``root`` holds a tracklet data set (``tracklets.json`` and ``manifest.csv``);
    returns the footage data sets among ``names``.

    Raises :class:`~dal_torchreid.footage.sources.FootageError` for a name that is not
    one plain folder name (``../x``, an absolute path, ``''``: the data set and what is
    written after it would lie elsewhere than under ``root``), and for a folder holding
    only part of a tracklet data set or a damaged ``tracklets.json``
    (:func:`~dal_torchreid.footage.manifest.dataset_sources`), naming the file.
    """
    root = osp.abspath(osp.expanduser(root or ''))
    for name in names:
        if not isinstance(name, str) or name in registered_video_datasets():
            continue
        check_dataset_name(name, 'data set')
        folder = osp.join(root, name)
        manifest, info = osp.join(folder, MANIFEST), osp.join(folder, INFO)
        if not (osp.isfile(manifest) or osp.isfile(info)):
            continue
        dataset_sources(root, name)  # tracklets.json, checked
        if not osp.isfile(manifest):
            raise FootageError(f'"{manifest}" does not exist: the tracklet data set "{name}" '
                               'is incomplete; cut it again with dal-make-tracklets')
        register_footage_dataset(name)
    return [name for name in names if is_footage_dataset(name)]


def where_footage_was_looked_for(root: str, names: Sequence[str]) -> str:
    """Where the tracklet data sets ``names`` were looked for under ``root``, for the
    error of a data set name that is found nowhere."""
    root = osp.abspath(osp.expanduser(root or ''))
    looked = ', '.join(f'"{osp.join(root, name, MANIFEST)}"' for name in names)
    return (f'nor is it a tracklet data set under data.root "{root}": {looked} does not exist '
            '(dal-make-tracklets --root ROOT --name NAME writes one)')


def check_engine_for_footage(engine: str, sources: Sequence[str], unsupervised: Sequence[str]) -> None:
    """Raises :class:`NoIdentitiesError` when ``engine`` is not among the label-free
    ``unsupervised`` ones and a source is a footage data set without identities (any but
    a comparison's ground-truth view, :mod:`dal_torchreid.footage.ground_truth`)."""
    if engine in unsupervised:
        return
    for name in sources:
        cls = footage_dataset_class(name)
        if cls is not None and not cls.has_identities:
            raise NoIdentitiesError(SUPERVISED_REFUSAL.format(engine=engine, name=name))


def evaluation_targets(sources: Sequence[str], targets: Sequence[str]) -> list[str]:
    """The data sets to evaluate: ``targets``, or the sources when none is given, less
    the footage data sets (no identities). Raises :class:`NoIdentitiesError` for a footage
    data set named as a target."""
    for name in targets:
        if is_footage_dataset(name):
            raise NoIdentitiesError(f'data.targets: "{name}" has no identities to evaluate on '
                                    '(dal-associate --footage scores it against gt.txt)')
    return [name for name in (list(targets) or list(sources)) if not is_footage_dataset(name)]
