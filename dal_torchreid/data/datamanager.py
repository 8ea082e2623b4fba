"""The on-disk layouts torchreid's video data sets read, for error messages.

torchreid's own errors for a wrong data root name one missing path (or, for a
folder with no frames, nothing at all). :func:`build_video_datamanager` adds
the layout that was expected, and refuses a missing data set folder before
torchreid tries to download it.
"""
from __future__ import annotations

import os.path as osp

import torchreid

EXPECTED_LAYOUTS = {
    'prid2011': (
        'prid2011', '\n'.join([
            '  ROOT/prid2011/prid_2011/multi_shot/cam_a/person_0001/0001.png ...',
            '  ROOT/prid2011/prid_2011/multi_shot/cam_b/person_0001/0001.png ...',
            '  ROOT/prid2011/splits_prid2011.json   (tools/prepare_prid2011_splits.py writes it)',
        ])),
    'ilidsvid': (
        'ilids-vid', '\n'.join([
            '  ROOT/ilids-vid/i-LIDS-VID/sequences/cam1/person001/cam1_person001_00001.png ...',
            '  ROOT/ilids-vid/i-LIDS-VID/sequences/cam2/person001/...',
            '  ROOT/ilids-vid/train-test people splits/train_test_splits_ilidsvid.mat',
        ])),
    'mars': (
        'mars', '\n'.join([
            '  ROOT/mars/bbox_train/0001/0001C1T0001F001.jpg ...',
            '  ROOT/mars/bbox_test/0001/...',
            '  ROOT/mars/info/train_name.txt, test_name.txt, tracks_train_info.mat,',
            '                 tracks_test_info.mat, query_IDX.mat',
        ])),
}


class DataLayoutError(RuntimeError):
    """A data root that does not hold the layout torchreid's loader reads."""


def describe_layout(name: str, root: str) -> str:
    """The expected files of data set ``name`` under ``root``."""
    folder, files = EXPECTED_LAYOUTS[name]
    return 'torchreid\'s "{}" loader expects, under data.root "{}":\n{}\n(`python ' \
           'tools/make_synthetic_data.py --layout {} --root {}` writes a synthetic one)' \
           .format(name, root, files.replace('ROOT', root), name, root)


def build_video_datamanager(**kwargs) -> 'torchreid.data.VideoDataManager':
    """``torchreid.data.VideoDataManager(**kwargs)``, whose data errors show the layout."""
    root = osp.abspath(osp.expanduser(kwargs.get('root', '')))
    names = kwargs.get('sources') or []
    names = [names] if isinstance(names, str) else list(names)
    targets = kwargs.get('targets') or []
    names += [targets] if isinstance(targets, str) else list(targets)
    known = [n for n in dict.fromkeys(names) if n in EXPECTED_LAYOUTS]
    for name in known:
        if not osp.isdir(osp.join(root, EXPECTED_LAYOUTS[name][0])):
            raise DataLayoutError('no {} data set: folder "{}" does not exist.\n{}'.format(
                name, osp.join(root, EXPECTED_LAYOUTS[name][0]), describe_layout(name, root)))
    try:
        return torchreid.data.VideoDataManager(**kwargs)
    except (RuntimeError, AssertionError, KeyError, FileNotFoundError) as err:
        if not known:
            raise
        what = str(err) or 'a tracklet folder holds no frames ({})'.format(type(err).__name__)
        layouts = '\n'.join(describe_layout(name, root) for name in known)
        raise DataLayoutError('{}\n{}'.format(what, layouts)) from err
