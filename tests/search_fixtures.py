"""A tracklet data set with a known answer for dal-search: four people, each one colour
pattern, seen in three cameras (one of them named with HTML's special characters)."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

NASTY = 'c<3>&"x" #1'  # a camera name that HTML, URLs and CSV must each escape
# (camera, track, person, first frame): person 0 is in every camera and twice in cam1
TRACKLETS = [('cam1', 1, 0, 1), ('cam1', 2, 1, 1), ('cam1', 3, 2, 5), ('cam1', 4, 3, 9),
             ('cam1', 5, 0, 60),
             ('cam2', 11, 3, 20), ('cam2', 12, 2, 22), ('cam2', 13, 1, 25), ('cam2', 14, 0, 30),
             (NASTY, 21, 0, 40), (NASTY, 22, 1, 44)]
FRAMES = 4  # crops per tracklet, one frame apart
SIZE = (64, 32)  # crop height, width
MODEL = ['model.name', 'resnet18', 'model.pretrained', 'False', 'use_gpu', 'False',
         'data.height', '64', 'data.width', '32', 'video.pooling_method', 'avg']


def person_crop(person: int, camera: str, frame: int) -> np.ndarray:
    """Person ``person``'s crop (BGR): a shirt and trousers of its own colours and
    stripes, a little brighter or darker per camera, a little noise per frame."""
    rng = np.random.default_rng([person, 7])
    shirt, trousers = rng.integers(30, 226, size=(2, 3))
    image = np.zeros(SIZE + (3,), np.float64)
    image[:SIZE[0] // 2] = shirt
    image[SIZE[0] // 2:] = trousers
    stripes = int(rng.integers(2, 6))
    image[::stripes * 2, :, :] *= 0.6
    shift = {'cam1': 0, 'cam2': 12}.get(camera, -12)
    noise = np.random.default_rng([person, frame, len(camera)]).normal(0, 4, image.shape)
    return np.clip(image + shift + noise, 0, 255).astype(np.uint8)


def make_people_dataset(root: str, name: str = 'people') -> list[tuple]:
    """Writes ``ROOT/NAME`` as ``dal-make-tracklets`` lays a data set out (crops,
    ``manifest.csv``, ``tracklets.json``); returns :data:`TRACKLETS`."""
    folder = osp.join(root, name)
    rows = []
    for camera, track, person, first in TRACKLETS:
        for frame in range(first, first + FRAMES):
            crop = osp.join(camera, f'{track:06d}', f'{frame:06d}.png')
            os.makedirs(osp.dirname(osp.join(folder, crop)), exist_ok=True)
            assert cv2.imwrite(osp.join(folder, crop), person_crop(person, camera, frame))
            rows.append([crop, camera, track, frame, 0, 0, SIZE[1], SIZE[0], 'video.avi'])
    import csv
    with open(osp.join(folder, 'manifest.csv'), 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['crop', 'camera', 'track', 'frame', 'left', 'top', 'width', 'height',
                         'source'])
        writer.writerows(rows)
    cameras = sorted({t[0] for t in TRACKLETS})
    with open(osp.join(folder, 'tracklets.json'), 'w') as f:
        json.dump({'footage': osp.join(root, 'no-footage'), 'tracks': osp.join(root, 'no-tracks'),
                   'cameras': {c: {} for c in cameras}}, f)
    return TRACKLETS


@pytest.fixture(scope='session')
def people(tmp_path_factory):
    """``(root, name, weights)``: the people data set and a random resnet18's weights file."""
    import torchreid
    root = str(tmp_path_factory.mktemp('people'))
    make_people_dataset(root)
    torch.manual_seed(0)
    model = torchreid.models.build_model('resnet18', num_classes=1, pretrained=False)
    weights = osp.join(root, 'resnet18-random.pth')
    torch.save(model.state_dict(), weights)
    return root, 'people', weights
