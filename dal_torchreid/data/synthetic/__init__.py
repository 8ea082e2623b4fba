"""Synthetic video re-id data: procedurally drawn walking people, written as torchreid data sets.

Identity lives in appearance (clothing colours and patterns, body shape, hair,
bags, gait) drawn from shared palettes, so no single attribute identifies a
person. Each camera has its own scene, person scale, view and colour,
exposure, blur and noise; frames vary in walking phase, jitter and occlusion.

Three layouts, each exactly what torchreid's class of that name reads from
``root``:

``prid2011`` (``torchreid`` ``PRID2011``)::

    prid2011/prid_2011/multi_shot/cam_a/person_0001/0001.png ...
    prid2011/prid_2011/multi_shot/cam_b/person_0001/0001.png ...
    prid2011/splits_prid2011.json   10 x {"train": [dirs], "test": [dirs]}, 50/50

``ilidsvid`` (``iLIDSVID``)::

    ilids-vid/i-LIDS-VID/sequences/cam1/person001/cam1_person001_00001.png ...
    ilids-vid/train-test people splits/train_test_splits_ilidsvid.mat   ls_set
    ilids-vid/splits.json   only when ids != 300 (torchreid asserts 300 in the .mat)

``mars`` (``Mars``)::

    mars/bbox_train/0001/0001C1T0001F001.jpg ...   pid, camera, tracklet, frame
    mars/bbox_test/0000/...  distractors (pid 0)   mars/bbox_test/00-1/...  junk (pid -1)
    mars/info/{train,test}_name.txt, tracks_{train,test}_info.mat, query_IDX.mat

Query and gallery: PRID2011/iLIDS-VID query camera 0, gallery camera 1; MARS
one query per test identity and camera, matched in other cameras. Every
folder also holds ``synthetic.json`` (layout, config, counts).

Examples::

    from dal_torchreid.data.synthetic import SyntheticConfig, make_synthetic_dataset
    make_synthetic_dataset('mars', 'reid-data', SyntheticConfig.for_layout('mars', ids=40))

or ``python tools/make_synthetic_data.py --layout mars --root reid-data --ids 40``.
"""
from dal_torchreid.data.synthetic.settings import LAYOUTS, SyntheticConfig
from dal_torchreid.data.synthetic.layouts import (
    DATASET_DIRS, INFO_FILE, check_synthetic_folder, make_synthetic_dataset, write_ilidsvid,
    write_mars, write_prid2011
)

__all__ = [
    'LAYOUTS', 'DATASET_DIRS', 'INFO_FILE', 'SyntheticConfig', 'check_synthetic_folder',
    'make_synthetic_dataset',
    'write_prid2011', 'write_ilidsvid', 'write_mars',
]
