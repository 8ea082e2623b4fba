"""Ranked lists of video queries: one uniquely named picture per query, its frames beside
its top-k gallery tracklets, correct ones framed green (torchreid's folders mixed every
PRID2011 query into one, named after the frame file 0001.png)."""
import os

import cv2
import numpy as np
import torch

from dal_torchreid.engine.visrank import BORDER, GREEN, RED, ranked_list_image

from engine_helpers import tiny_datamanager, tiny_engine


def test_one_picture_per_query_uniquely_named(tiny_prid2011_root, tmp_path):
    torch.manual_seed(0)
    dm = tiny_datamanager(tiny_prid2011_root)
    engine = tiny_engine(dm)
    engine.run(save_dir=str(tmp_path), test_only=True, visrank=True, visrank_topk=2,
               ranks=[1])
    folder = tmp_path / 'visrank_prid2011'
    query, _ = dm.fetch_test_loaders('prid2011')
    names = sorted(os.listdir(folder))
    assert len(names) == len(query) > 1
    assert names == sorted(f'query{q:04d}_pid{pid}_cam{cam}.jpg'
                           for q, (_, pid, cam, *_) in enumerate(query))
    picture = cv2.imread(str(folder / names[0]))
    assert picture.shape[0] == dm.height


def test_the_picture_marks_correct_and_wrong_matches(tmp_path):
    frames = []
    for i in range(3):
        path = str(tmp_path / f'{i}.png')
        cv2.imwrite(path, np.full((40, 20, 3), 60 * i, dtype=np.uint8))
        frames.append(path)
    width, height = 20, 40
    picture = ranked_list_image(frames, [(frames, True), (frames, False)], width, height)
    query_width = 3 * width + 2 * 10 + 90  # three query frames, then the ranked list
    first, second = query_width, query_width + width + 10
    assert tuple(picture[0, first]) == GREEN and tuple(picture[0, second]) == RED
    assert tuple(picture[height // 2, first + BORDER + 1]) == (60, 60, 60)  # middle frame
    assert picture.shape == (height, second + width, 3)
