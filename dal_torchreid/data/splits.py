"""PRID2011 and iLIDS-VID person splits, written where torchreid reads them.

torchreid's ``PRID2011`` reads its 10 train/test person splits from
``<root>/prid2011/splits_prid2011.json`` and does not ship that file;
``iLIDSVID`` reads ``<root>/ilids-vid/splits.json``, which it derives from
the data set's ``train_test_splits_ilidsvid.mat`` when the file is missing.
Both files are a list of ``{"train": [folder names], "test": [folder names]}``.

By default this module writes the DAL release's own 10 splits, shipped with the
package (``release_splits.json``): PRID2011 178 people (89 / 89), iLIDS-VID
300 people (150 / 150). Results averaged over them are comparable with the
paper's. For PRID2011, seeded random splits can be drawn instead.

Only ``person_0001`` to ``person_0200`` of PRID2011 are the same person in
``cam_a`` and ``cam_b``; folders with higher numbers hold different people in
the two cameras and are never paired.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import os.path as osp
import tempfile
import warnings
from importlib import resources
from typing import NamedTuple, Sequence

import numpy as np

from dal_torchreid.files.errors import check_input_file, write_error


class SplitLayout(NamedTuple):
    """Where torchreid keeps a two-camera data set under its ``root``.

    Args:
        folder (str): the data set folder under ``root``.
        splits_file (str): the split file torchreid reads, in ``folder``.
        cameras (tuple): the two camera folders, relative to ``folder``.
        person (str): format of the folder name of person number ``n``.

    Examples::

        layout = LAYOUTS['prid2011']
        osp.join(root, layout.folder, layout.cameras[0], layout.person.format(7))
        # '<root>/prid2011/prid_2011/multi_shot/cam_a/person_0007'
    """
    folder: str
    splits_file: str
    cameras: tuple[str, str]
    person: str


LAYOUTS = {
    'prid2011': SplitLayout('prid2011', 'splits_prid2011.json',
                            ('prid_2011/multi_shot/cam_a', 'prid_2011/multi_shot/cam_b'),
                            'person_{:04d}'),
    'ilidsvid': SplitLayout('ilids-vid', 'splits.json',
                            ('i-LIDS-VID/sequences/cam1', 'i-LIDS-VID/sequences/cam2'),
                            'person{:03d}'),
}
DATASETS = tuple(LAYOUTS)
RELEASE_SPLITS_RESOURCE = 'release_splits.json'
# fewest frames of a tracklet the release kept, per data set: the default minimum
MIN_FRAMES = {'prid2011': 28, 'ilidsvid': 22}
PRID2011_SAME_PEOPLE = 200  # person_0001..0200 are the same person in both cameras
NUM_SPLITS = 10
SEED = 0
ILIDSVID_SPLIT_MAT = osp.join('train-test people splits', 'train_test_splits_ilidsvid.mat')


class SplitFileError(ValueError):
    """A split file, or a split of it, that torchreid cannot use as the user meant (named
    in the message)."""


def check_dataset(dataset: str) -> None:
    """Raises ``ValueError`` unless ``dataset`` is one of :data:`DATASETS`."""
    if dataset not in LAYOUTS:
        raise ValueError(f'dataset must be one of {list(DATASETS)}, got {dataset!r}')


def check_min_frames(min_frames: int) -> None:
    """Raises ``ValueError`` unless ``min_frames >= 1``."""
    if min_frames < 1:
        raise ValueError(f'min_frames must be >= 1, got {min_frames}')


def check_num_splits(num_splits: int) -> None:
    """Raises ``ValueError`` unless ``num_splits >= 1``."""
    if num_splits < 1:
        raise ValueError(f'num_splits must be >= 1, got {num_splits}')


def splits_path(root: str, dataset: str) -> str:
    """The split file torchreid reads for ``dataset`` under data root ``root``."""
    check_dataset(dataset)
    layout = LAYOUTS[dataset]
    return osp.join(root, layout.folder, layout.splits_file)


def release_person_splits(dataset: str) -> list[dict[str, list[int]]]:
    """The release's 10 splits of ``dataset`` as person numbers ``{'train', 'test'}``."""
    check_dataset(dataset)
    text = resources.files('dal_torchreid.data').joinpath(RELEASE_SPLITS_RESOURCE).read_text()
    return json.loads(text)[dataset]


def release_splits(dataset: str) -> list[dict[str, list[str]]]:
    """The release's 10 splits of ``dataset`` as torchreid's folder names, sorted.

    Examples::

        release_splits('prid2011')[0]['test'][:2]   # ['person_0001', 'person_0002']
        release_splits('ilidsvid')[0]['train'][:2]  # ['person001', 'person002']
    """
    numbers = release_person_splits(dataset)
    person = LAYOUTS[dataset].person
    return [{part: [person.format(n) for n in sorted(split[part])] for part in ('train', 'test')}
            for split in numbers]


def camera_folders(root: str, dataset: str) -> list[str]:
    """The two camera folders of ``dataset`` under ``root``; raises ``FileNotFoundError``
    naming a missing one."""
    check_dataset(dataset)
    layout = LAYOUTS[dataset]
    folders = []
    for camera in layout.cameras:
        cam_dir = osp.join(root, layout.folder, camera)
        if not osp.isdir(cam_dir):
            raise FileNotFoundError(
                f'{dataset} camera folder "{cam_dir}" does not exist; expected '
                f'<root>/{layout.folder}/{camera}/{layout.person.format(1)}/*.png')
        folders.append(cam_dir)
    return folders


def count_frames(root: str, dataset: str) -> tuple[dict[str, int], dict[str, int]]:
    """Per camera, ``{person folder: number of .png frames}`` of ``dataset`` under ``root``.

    Raises ``FileNotFoundError`` naming a missing camera folder.
    """
    counts = []
    for cam_dir in camera_folders(root, dataset):
        counts.append({name: len(glob.glob(osp.join(cam_dir, name, '*.png')))
                       for name in sorted(os.listdir(cam_dir))
                       if osp.isdir(osp.join(cam_dir, name))})
    return counts[0], counts[1]


def check_people(root: str, dataset: str, people: Sequence[str], min_frames: int) -> None:
    """Raises unless every person folder has ``min_frames`` .png frames in both cameras.

    ``FileNotFoundError`` names a missing person folder, ``ValueError`` one
    with too few frames.
    """
    check_min_frames(min_frames)
    layout = LAYOUTS[dataset]
    for camera, counts in zip(layout.cameras, count_frames(root, dataset)):
        for name in people:
            folder = osp.join(root, layout.folder, camera, name)
            if name not in counts:
                raise FileNotFoundError(f'{dataset} person folder "{folder}" does not exist; '
                                        f'the splits need it')
            if counts[name] < min_frames:
                raise ValueError(f'{dataset} person folder "{folder}" has {counts[name]} .png '
                                 f'frames, the splits need >= {min_frames} (min_frames)')


def prid2011_people(root: str, min_frames: int = MIN_FRAMES['prid2011']) -> list[str]:
    """PRID2011 people, ``person_0001`` to ``person_0200``, with ``min_frames`` in both cameras.

    Higher numbers are different people in the two cameras and are left out.
    """
    check_min_frames(min_frames)
    cam_a, cam_b = count_frames(root, 'prid2011')
    people = (LAYOUTS['prid2011'].person.format(n) for n in range(1, PRID2011_SAME_PEOPLE + 1))
    return [name for name in people
            if cam_a.get(name, 0) >= min_frames and cam_b.get(name, 0) >= min_frames]


def make_person_splits(people: Sequence[str], num_splits: int = NUM_SPLITS,
                       seed: int = SEED) -> list[dict[str, list[str]]]:
    """``num_splits`` random 50/50 splits of ``people`` as sorted ``{'train', 'test'}`` lists.

    With an odd number of people the train side gets the extra one. The same
    people (in any order) and ``seed`` always give the same splits.
    """
    check_num_splits(num_splits)
    people = sorted(people)
    if len(people) < 2:
        raise ValueError(f'people: a train/test split needs at least 2, got {len(people)}')
    rng = np.random.default_rng(seed)
    num_train = (len(people) + 1) // 2
    splits = []
    for _ in range(num_splits):
        order = rng.permutation(len(people))
        splits.append({'train': sorted(people[i] for i in order[:num_train]),
                       'test': sorted(people[i] for i in order[num_train:])})
    return splits


def write_splits_file(path: str, splits: list[dict[str, list[str]]],
                      overwrite: bool = False) -> None:
    """Writes ``splits`` as JSON to ``path`` atomically (a temporary file, then a rename).

    Refuses an existing file unless ``overwrite``.
    """
    if osp.exists(path) and not overwrite:
        raise FileExistsError(f'"{path}" already exists; pass overwrite=True (--overwrite) '
                              f'to replace it')
    fd, tmp = tempfile.mkstemp(prefix='.' + osp.basename(path), suffix='.tmp',
                               dir=osp.dirname(path) or '.')
    try:
        with os.fdopen(fd, 'w') as f:
            json.dump(splits, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.replace(tmp, path)
        except OSError as err:  # a directory in its place
            raise write_error(path, err) from err
    except BaseException:
        if osp.exists(tmp):
            os.unlink(tmp)
        raise


def write_release_splits(root: str, dataset: str, min_frames: int | None = None,
                         overwrite: bool = False) -> str:
    """Writes the release's 10 splits of ``dataset`` where torchreid reads them; returns the path.

    Every person of the splits must have at least ``min_frames`` frames
    (default :data:`MIN_FRAMES` of the data set, the release's shortest
    tracklet) in both cameras of the copy under ``root``.

    Examples::

        write_release_splits('reid-data', 'prid2011')
        datamanager = torchreid.data.VideoDataManager(
            root='reid-data', sources='prid2011', split_id=0)
    """
    check_dataset(dataset)
    splits = release_splits(dataset)
    people = sorted(set(splits[0]['train']) | set(splits[0]['test']))
    check_people(root, dataset, people, MIN_FRAMES[dataset] if min_frames is None else min_frames)
    path = splits_path(root, dataset)
    write_splits_file(path, splits, overwrite)
    split_dir = osp.join(root, LAYOUTS['ilidsvid'].folder, osp.dirname(ILIDSVID_SPLIT_MAT))
    if dataset == 'ilidsvid' and not osp.isdir(split_dir):
        warnings.warn(f'"{split_dir}" does not exist: torchreid\'s iLIDSVID refuses to load '
                      f'without it (it ships with the data set)')
    return path


def write_random_prid2011_splits(root: str, seed: int = SEED, num_splits: int = NUM_SPLITS,
                                 min_frames: int = MIN_FRAMES['prid2011'],
                                 overwrite: bool = False) -> str:
    """Writes seeded random 50/50 PRID2011 splits for torchreid; returns the path.

    Draws from :func:`prid2011_people` (``person_0001`` to ``person_0200`` with
    ``min_frames`` frames in both cameras).
    """
    people = prid2011_people(root, min_frames)
    if len(people) < 2:
        raise ValueError(f'min_frames: only {len(people)} of person_0001..'
                         f'person_{PRID2011_SAME_PEOPLE:04d} under "{osp.join(root, "prid2011")}" '
                         f'have >= {min_frames} frames in both cameras; a split needs 2')
    path = splits_path(root, 'prid2011')
    write_splits_file(path, make_person_splits(people, num_splits, seed), overwrite)
    return path


def read_splits_file(path: str) -> list[dict[str, list[str]]]:
    """The splits of a split file, as torchreid reads them; :class:`SplitFileError` names
    the file unless it is a non-empty JSON list of ``{"train": [...], "test": [...]}``."""
    try:
        with open(path, encoding='utf-8') as f:
            splits = json.load(f)
    except (ValueError, UnicodeDecodeError) as err:  # JSONDecodeError is a ValueError
        raise SplitFileError(f'split file "{path}" is not valid JSON ({err})') from err
    if not (isinstance(splits, list) and splits and all(
            isinstance(split, dict) and all(isinstance(split.get(part), list)
                                            for part in ('train', 'test'))
            for split in splits)):
        raise SplitFileError(f'split file "{path}" must hold a list of {{"train": [...], '
                             '"test": [...]}, one per split')
    return splits


def dataset_splits(root: str, dataset: str) -> tuple[list[dict[str, list[str]]], str] | None:
    """``(splits, where)``: the splits torchreid will read for ``dataset`` under ``root``
    and the file they come from; None where there is no split file yet (torchreid then
    says what is missing)."""
    path = splits_path(root, dataset)
    if osp.lexists(path):
        check_input_file(path, 'split file')  # a directory, a dangling link: named
        return read_splits_file(path), path
    official = official_ilidsvid_splits(root) if dataset == 'ilidsvid' else None
    if official is None:
        return None
    return official, osp.join(root, LAYOUTS['ilidsvid'].folder, ILIDSVID_SPLIT_MAT)


def check_split(root: str, dataset: str, split_id: int) -> None:
    """Raises :class:`SplitFileError` unless split ``split_id`` of ``dataset``'s split file
    exists (torchreid would read ``splits[-1]`` for ``-1``) and holds a usable split: train
    and test lists that are not empty, whose entries are plain person folder names (a path
    such as ``"../cam_a/person_0001"`` would reach a folder the checks below do not see),
    each with a folder in both cameras, no folder named twice in a list and none in both
    lists (compared as resolved folders, so another name of a folder counts as that folder)."""
    found = dataset_splits(root, dataset)
    if found is None:
        return
    splits, path = found
    if not 0 <= split_id < len(splits):
        raise SplitFileError(f'data.split_id {split_id}: "{path}" holds {len(splits)} splits, '
                             f'so it must be in [0, {len(splits) - 1}]')
    split, where = splits[split_id], f'split {split_id} of "{path}"'
    for part in ('train', 'test'):
        if not split[part]:
            raise SplitFileError(f'{where} has an empty "{part}" list')
        for name in split[part]:
            if not is_folder_name(name):
                raise SplitFileError(
                    f'{where} names {json.dumps(name)} in "{part}": an entry must be the name '
                    'of a person folder in the camera folders (no "/", "." or "..")')
    cam_dirs = camera_folders(root, dataset)
    for cam_dir in cam_dirs:
        for name in split['train'] + split['test']:
            folder = osp.join(cam_dir, name)
            if not osp.isdir(folder):
                raise SplitFileError(f'{where} names person "{name}", but folder "{folder}" '
                                     'does not exist')
    people = {part: _people_by_folders(split[part], cam_dirs, where, part)
              for part in ('train', 'test')}
    both = [repr(name) if name == people['test'][folders] else
            f'{name!r} (the folders of {people["test"][folders]!r})'
            for folders, name in people['train'].items() if folders in people['test']]
    if both:
        more = f' (and {len(both) - 5} more)' if len(both) > 5 else ''
        shown = '[' + ', '.join(both[:5]) + ']'
        raise SplitFileError(f'{where} trains and tests the same people: {shown}{more}')


def is_folder_name(name) -> bool:
    """Whether a split entry ``name`` is a plain folder name (not a path, ``.`` or ``..``)."""
    return (isinstance(name, str) and name not in ('', '.', '..') and '/' not in name
            and os.sep not in name and not (os.altsep and os.altsep in name))


def _people_by_folders(names: Sequence[str], cam_dirs: Sequence[str], where: str,
                       part: str) -> dict[tuple[str, ...], str]:
    """``{resolved folders in each camera: person}`` of a split list; raises
    :class:`SplitFileError` for a person named twice (or two names of the same folders)."""
    people: dict[tuple[str, ...], str] = {}
    for name in names:
        folders = tuple(osp.realpath(osp.join(cam_dir, name)) for cam_dir in cam_dirs)
        if folders in people:
            first = people[folders]
            also = '' if first == name else f' (as "{name}" too: the same folders)'
            raise SplitFileError(f'{where} names person "{first}" twice in "{part}"{also}')
        people[folders] = name
    return people


def split_digest(root: str, dataset: str, split_id: int) -> str | None:
    """SHA-1 of the train and test lists of split ``split_id`` of ``dataset`` under ``root``
    as torchreid will read them (None when there is no such split): a finished run of a
    split is only that split's run while its lists say the same."""
    found = dataset_splits(root, dataset)
    if found is None or not 0 <= split_id < len(found[0]):
        return None
    split = {part: found[0][split_id][part] for part in ('train', 'test')}
    return hashlib.sha1(json.dumps(split, sort_keys=True).encode()).hexdigest()


def official_ilidsvid_splits(root: str) -> list[dict[str, list[str]]] | None:
    """The splits of the data set's ``train_test_splits_ilidsvid.mat``, as torchreid reads them.

    Row ``i`` of ``ls_set`` holds 1-based indices into the sorted ``cam1``
    person folders, the first half testing, the rest training (Wang et al.,
    ECCV 2014). Lists are sorted. ``None`` when the file is absent.
    """
    from scipy.io import loadmat

    layout = LAYOUTS['ilidsvid']
    path = osp.join(root, layout.folder, ILIDSVID_SPLIT_MAT)
    if not osp.lexists(path):
        return None
    check_input_file(path, 'split file')
    try:
        ls_set = np.asarray(loadmat(path)['ls_set'])
    except Exception as err:  # scipy raises several kinds for a damaged file
        raise SplitFileError(f'split file "{path}" cannot be read: {type(err).__name__}: '
                             f'{str(err).strip()[:200]}') from err
    cam1 = osp.join(root, layout.folder, layout.cameras[0])
    people = sorted(name for name in os.listdir(cam1) if osp.isdir(osp.join(cam1, name)))
    if ls_set.ndim != 2 or ls_set.min() < 1 or ls_set.max() > len(people):
        raise ValueError(f'"{path}": ls_set must be 2-D indices 1..{len(people)} into the person '
                         f'folders of "{cam1}", got shape {ls_set.shape}')
    half = ls_set.shape[1] // 2
    return [{'train': sorted(people[int(i) - 1] for i in row[half:]),
             'test': sorted(people[int(i) - 1] for i in row[:half])} for row in ls_set]
