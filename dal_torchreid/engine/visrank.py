"""Ranked lists of video re-id, one picture per query.

torchreid's ``visualize_ranked_results`` writes a video query's ranked list as a folder
of copied frames named after the query's first frame file: on PRID2011 every tracklet
starts at ``0001.png``, so every query lands in the same folder, mixed. Here each query
gets one picture, ``query<index>_pid<pid>_cam<camid>.jpg`` (unique): the query's frames
(up to :data:`QUERY_FRAMES`, evenly spaced) beside its ``topk`` gallery tracklets, each
shown by its middle frame, framed green when it is the query's person and red when not.
As torchreid, gallery tracklets of the query's person in the query's camera are skipped.

Examples::

    visualize_ranked_tracklets(distmat, datamanager.fetch_test_loaders('prid2011'),
                               width=128, height=256, save_dir='log/dal/visrank_prid2011')
"""
from __future__ import annotations

import os
import os.path as osp

import cv2
import numpy as np

QUERY_FRAMES = 4  # frames of the query tracklet shown
GRID_SPACING = 10  # pixels between pictures, as torchreid's
QUERY_EXTRA_SPACING = 90  # between the query and its ranked list, as torchreid's
BORDER = 5  # pixels of the green / red frame, as torchreid's
GREEN, RED, GREY = (0, 255, 0), (0, 0, 255), (200, 200, 200)  # BGR


def _frame(path: str, width: int, height: int, colour) -> np.ndarray:
    """One frame resized to ``width`` x ``height`` inside a ``colour`` border."""
    image = cv2.imread(path)
    if image is None:
        raise FileNotFoundError(f'visrank: cannot read frame "{path}"')
    image = cv2.resize(image, (width - 2 * BORDER, height - 2 * BORDER))
    return cv2.copyMakeBorder(image, BORDER, BORDER, BORDER, BORDER, cv2.BORDER_CONSTANT,
                              value=colour)


def ranked_list_image(query_paths, ranked, width: int, height: int,
                      query_frames: int = QUERY_FRAMES) -> np.ndarray:
    """The picture of one query: ``query_paths`` (its frames) beside ``ranked``, a list of
    ``(frame paths, matched)`` gallery tracklets in rank order; a BGR ``uint8`` array."""
    picks = np.linspace(0, len(query_paths) - 1, min(query_frames, len(query_paths)))
    tiles = [_frame(query_paths[int(round(i))], width, height, GREY) for i in picks]
    tiles += [_frame(paths[len(paths) // 2], width, height, GREEN if matched else RED)
              for paths, matched in ranked]
    gaps = [GRID_SPACING] * (len(picks) - 1) + [QUERY_EXTRA_SPACING] * bool(ranked) + \
        [GRID_SPACING] * max(len(ranked) - 1, 0)
    grid = np.full((height, len(tiles) * width + sum(gaps), 3), 255, dtype=np.uint8)
    x = 0
    for tile, gap in zip(tiles, gaps + [0]):
        grid[:, x:x + width] = tile
        x += width + gap
    return grid


def visualize_ranked_tracklets(distmat: np.ndarray, dataset, width: int = 128,
                               height: int = 256, save_dir: str = '', topk: int = 10) -> list[str]:
    """Writes one picture per query into ``save_dir``; returns their paths.

    Args:
        distmat (numpy.ndarray): ``(num_query, num_gallery)`` distances.
        dataset (tuple): ``(query, gallery)``, lists of ``(frame paths, pid, camid, ...)``
            (``datamanager.fetch_test_loaders(name)``).
        width, height (int): size of each frame in the picture.
        save_dir (str): the folder to write into.
        topk (int): gallery tracklets shown per query.
    """
    query, gallery = dataset
    if distmat.shape != (len(query), len(gallery)):
        raise ValueError(f'visrank: a {distmat.shape} distance matrix for {len(query)} queries '
                         f'and {len(gallery)} gallery tracklets')
    os.makedirs(save_dir, exist_ok=True)
    order = np.argsort(distmat, axis=1)
    written = []
    for q, (q_paths, q_pid, q_cam) in enumerate(item[:3] for item in query):
        ranked = []
        for g in order[q]:
            g_paths, g_pid, g_cam = gallery[g][:3]
            if g_pid == q_pid and g_cam == q_cam:
                continue  # not ranked by the protocol (torchreid's rule)
            ranked.append((g_paths, g_pid == q_pid))
            if len(ranked) == topk:
                break
        path = osp.join(save_dir, f'query{q:04d}_pid{q_pid}_cam{q_cam}.jpg')
        cv2.imwrite(path, ranked_list_image(q_paths, ranked, width, height))
        written.append(path)
    print(f'Ranked lists of {len(written)} queries (top {topk}) drawn into "{save_dir}"')
    return written
