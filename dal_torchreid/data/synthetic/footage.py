"""Synthetic multi-camera footage: the synthetic people walking through several cameras' scenes.

What a user of the own-footage tools starts from, with the answers known:

* ``FOOTAGE/<camera>/<camera>.avi``: each camera's video (MJPG, written by OpenCV), a
  static scene in the camera's colours, people crossing it in both directions at
  several depths (nearer people larger and drawn over farther ones, so crowds
  overlap and occlude);
* ``FOOTAGE/<camera>/gt/gt.txt``: ground truth in the MOTChallenge form
  ``frame,id,left,top,width,height,1,1,visibility`` with *global* person ids (the
  same person has the same id in every camera);
* ``TRACKS/<camera>.txt``: what a single-camera tracker would have written,
  ``frame,id,left,top,width,height,conf,-1,-1,-1`` with ids per camera: the true
  boxes with jitter, boxes missed at random and when mostly occluded, a walk split
  into two tracks (a fragmented track) now and then, and short low-confidence
  false tracks.

Two layouts of where people walk (:attr:`FootageConfig.layout`):

* ``random``: people visit some cameras and not others, in a random order, one after
  another, and some come back to a camera they have already walked through; the time
  between two cameras and the side a person enters by carry little information.
* ``route``: the cameras lie along a route (``cam1 - cam2 - ...``); a person walks
  through a run of adjacent cameras in order, leaves each view by the side that faces
  the next camera and enters the next from the side that faces the previous one; each
  ordered camera pair has its own transit time (a normal distribution of the frames
  from leaving one view to entering the next); some people are seen by one camera
  only, some turn back after a pause and walk the route back. ``footage.json`` holds
  the true transit times (:func:`route_links`).

``outfits`` dresses the crowd from a few outfits, so that clothes alone do not tell
people apart. Every draw comes from a generator seeded with ``(seed, what, which)``,
so the same config writes the same annotations.

Examples::

    from dal_torchreid.data.synthetic.footage import FootageConfig, make_synthetic_footage
    info = make_synthetic_footage('footage', 'tracks', FootageConfig(people=12, cameras=3))
    print(info['counts'])
"""
from __future__ import annotations

import dataclasses
import json
import os
import os.path as osp
from dataclasses import dataclass

import cv2
import numpy as np

from dal_torchreid.data.synthetic.cameras import CameraStyle, apply_camera, sample_camera
from dal_torchreid.data.synthetic.people import Person, dress, sample_person
from dal_torchreid.data.synthetic.render import _Canvas, draw_person

INFO_FILE = 'footage.json'
"""Written into the footage folder: the config and the counts."""

# Stream tags of the seeded generators.
_PERSON, _CAMERA, _SCHEDULE, _FRAME, _TRACKER, _FALSE, _OUTFIT, _ROUTE, _WARDROBE = range(11, 20)
FOOTAGE_LAYOUTS = ('random', 'route')
BOX_HALF_WIDTH = 0.24  # of the body height: arms and bags swing about this far out


@dataclass(frozen=True)
class FootageConfig:
    """What synthetic footage to write.

    Args:
        people (int): people who walk through the cameras.
        cameras (int): cameras, each with its own scene and colours.
        frames (int): frames per camera video.
        height, width (int): frame size in pixels.
        fps (float): frame rate written into the videos.
        visits (tuple): fewest and most cameras a person walks through.
        revisit (float): probability that a person walks through one camera twice.
        crossing_frames (tuple): fewest and most frames a walk across a view takes.
        jitter (float): tracker box jitter, standard deviation as a fraction of the box.
        miss (float): probability that the tracker misses a visible box.
        occluded_miss (float): visibility below which the tracker misses a box.
        fragment (float): probability that a walk is split into two tracker tracks.
        false_tracks (int): short low-confidence false tracks per camera.
        seed (int): the same seed writes the same footage.
        layout (str): ``'random'`` visits or cameras along a ``'route'`` (see the module).
            With ``'route'``, ``visits`` counts adjacent cameras walked in order and
            ``revisit`` is the probability of walking the route back after a pause.
        outfits (int): 0: everyone wears their own clothes; n: everyone wears one of n
            outfits (body, hair, skin and gait stay their own).
        transit_frames (tuple): route: least and most mean transit time of an ordered
            camera pair, in frames from the last frame in one view to the first in the next.
        transit_spread (float): route: standard deviation of a transit time as a fraction
            of its pair's mean.

    Examples::

        config = FootageConfig(people=8, cameras=2, frames=120, height=144, width=192)
        route = FootageConfig(people=40, cameras=4, frames=450, layout='route', outfits=8)
    """

    people: int = 12
    cameras: int = 3
    frames: int = 300
    height: int = 240
    width: int = 320
    fps: float = 10.0
    visits: tuple = (1, 3)
    revisit: float = 0.2
    crossing_frames: tuple = (30, 60)
    jitter: float = 0.03
    miss: float = 0.05
    occluded_miss: float = 0.35
    fragment: float = 0.25
    false_tracks: int = 2
    seed: int = 0
    layout: str = 'random'
    outfits: int = 0
    transit_frames: tuple = (20, 80)
    transit_spread: float = 0.15

    def __post_init__(self):
        checks = [
            ('people', self.people >= 1, '>= 1'), ('cameras', self.cameras >= 1, '>= 1'),
            ('frames', self.frames >= 2, '>= 2'), ('height', self.height >= 32, '>= 32'),
            ('width', self.width >= 32, '>= 32'), ('fps', self.fps > 0, '> 0'),
            ('visits', len(self.visits) == 2 and 1 <= self.visits[0] <= self.visits[1],
             'two numbers, 1 <= fewest <= most'),
            ('crossing_frames', len(self.crossing_frames) == 2
             and 2 <= self.crossing_frames[0] <= self.crossing_frames[1] <= self.frames,
             f'two numbers, 2 <= fewest <= most <= frames ({self.frames})'),
            ('revisit', 0 <= self.revisit <= 1, 'in [0, 1]'),
            ('miss', 0 <= self.miss < 1, 'in [0, 1)'),
            ('fragment', 0 <= self.fragment <= 1, 'in [0, 1]'),
            ('jitter', self.jitter >= 0, '>= 0'), ('false_tracks', self.false_tracks >= 0, '>= 0'),
            ('layout', self.layout in FOOTAGE_LAYOUTS, f'one of {", ".join(FOOTAGE_LAYOUTS)}'),
            ('outfits', self.outfits >= 0, '>= 0 (0: everyone dressed on their own)'),
            ('transit_frames', len(self.transit_frames) == 2
             and 1 <= self.transit_frames[0] <= self.transit_frames[1],
             'two numbers, 1 <= least <= most'),
            ('transit_spread', self.transit_spread >= 0, '>= 0'),
        ]
        for name, ok, what in checks:
            if not ok:
                raise ValueError(f'FootageConfig.{name} must be {what}, '
                                 f'got {getattr(self, name)!r}')


@dataclass(frozen=True)
class Walk:
    """One person crossing one camera's view: frames ``start .. start + length - 1`` (0-based)."""

    person: int
    camera: int
    start: int
    length: int
    direction: int  # +1 left to right, -1 right to left
    depth: float  # 0 far .. 1 near: where the feet are, and so the size
    front: bool


def _rng(config: FootageConfig, *key: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, *key])


def plan_walks(config: FootageConfig) -> list[Walk]:
    """Every person's walks: a few cameras, one after another, sometimes one twice
    (in random order, or along the route: see the module)."""
    if config.layout == 'route':
        return _route_walks(config)
    walks = []
    for p in range(config.people):
        rng = _rng(config, _SCHEDULE, p)
        n = int(rng.integers(config.visits[0], min(config.visits[1], config.cameras) + 1))
        cameras = rng.permutation(config.cameras)[:n].tolist()
        if rng.random() < config.revisit:
            cameras.append(cameras[0])
        t = int(rng.integers(0, max(1, config.frames // 3)))
        for camera in cameras:
            length = int(rng.integers(config.crossing_frames[0], config.crossing_frames[1] + 1))
            if t + length > config.frames:
                break
            walks.append(Walk(p, int(camera), t, length, int(rng.choice((-1, 1))),
                              float(rng.uniform(0, 1)), bool(rng.random() < 0.5)))
            t += length + int(rng.integers(5, max(6, config.frames // 6)))
    return walks


def route_sides(config: FootageConfig) -> list[int]:
    """Per camera, the direction across its view (+1 left to right, -1 right to left)
    of a person walking on along the route (towards the next camera): its views are
    mounted facing either way."""
    return [int(_rng(config, _ROUTE, c).choice((-1, 1))) for c in range(config.cameras)]


def route_links(config: FootageConfig) -> dict[tuple, tuple[float, float]]:
    """``{(from, to): (mean, std)}`` of the transit time in frames of every ordered pair
    of adjacent cameras of the route, and ``(c, c)`` of the pause before walking back."""
    pairs = [(c, c + 1) for c in range(config.cameras - 1)]
    pairs += [(b, a) for a, b in pairs] + [(c, c) for c in range(config.cameras)]
    links = {}
    for a, b in pairs:
        mean = float(_rng(config, _ROUTE, a, b).uniform(*config.transit_frames))
        links[(a, b)] = (mean, config.transit_spread * mean)
    return links


def _route_walks(config: FootageConfig) -> list[Walk]:
    """Walks along the route: a run of adjacent cameras in one direction, and for some
    people the way back after a pause beyond the last camera (see the module)."""
    sides, links = route_sides(config), route_links(config)
    walks = []
    for p in range(config.people):
        rng = _rng(config, _SCHEDULE, p)
        n = int(rng.integers(config.visits[0], min(config.visits[1], config.cameras) + 1))
        way = int(rng.choice((-1, 1)))
        first = int(rng.integers(0, config.cameras - n + 1)) if way > 0 else \
            int(rng.integers(n - 1, config.cameras))
        legs = [(first + way * i, way) for i in range(n)]
        if rng.random() < config.revisit:
            legs += [(camera, -w) for camera, w in reversed(legs)]
        t = int(rng.integers(0, max(1, config.frames - config.crossing_frames[0])))
        for i, (camera, w) in enumerate(legs):
            length = int(rng.integers(config.crossing_frames[0], config.crossing_frames[1] + 1))
            if t + length > config.frames:
                break
            walks.append(Walk(p, camera, t, length, sides[camera] * w,
                              float(rng.uniform(0, 1)), bool(rng.random() < 0.5)))
            if i + 1 < len(legs):
                mean, std = links[(camera, legs[i + 1][0])]
                t += length - 1 + max(1, int(round(rng.normal(mean, std))))
    return walks


def _side(direction: int, leaving: bool) -> str:
    """The image side a walk in ``direction`` leaves (or enters) its view by."""
    return 'right' if (direction > 0) == leaving else 'left'


def true_links(config: FootageConfig, walks: list[Walk]) -> list[dict]:
    """``footage.json``'s ``camera_links``: per ordered camera pair of the route, the true
    transit-time distribution, the sides a walk leaves and enters by, and the gaps
    the walks took (frames from the last frame in one view to the first in the next)."""
    sides, names = route_sides(config), [f'cam{c + 1}' for c in range(config.cameras)]
    gaps: dict[tuple, list] = {}
    by_person: dict[int, list] = {}
    for walk in walks:
        by_person.setdefault(walk.person, []).append(walk)
    for mine in by_person.values():
        for a, b in zip(mine, mine[1:]):
            gaps.setdefault((a.camera, b.camera), []).append(b.start - (a.start + a.length - 1))
    out = []
    for (a, b), (mean, std) in route_links(config).items():
        way = 1 if b > a else -1
        out.append({'from': names[a], 'to': names[b], 'distribution': 'normal',
                    'mean_frames': round(mean, 2), 'std_frames': round(std, 2),
                    'exit_side': _side(sides[a] * way, True) if a != b else None,
                    'entry_side': _side(sides[b] * way, False) if a != b else None,
                    'gaps': gaps.get((a, b), [])})
    return out


def footage_person(config: FootageConfig, p: int) -> Person:
    """Person ``p``'s appearance: their own draw, in one of the ``outfits`` if set."""
    person = sample_person(_rng(config, _PERSON, p))
    if config.outfits:
        outfit = int(_rng(config, _OUTFIT, p).integers(config.outfits))
        person = dress(person, sample_person(_rng(config, _WARDROBE, outfit)))
    return person


def _still_camera(config: FootageConfig, c: int) -> tuple[CameraStyle, np.ndarray]:
    """Camera ``c``'s style (no mirroring: the boxes stay where the people are drawn)
    and its fixed scene, cut from the style's background."""
    camera = sample_camera(_rng(config, _CAMERA, c), config.height, config.width)
    camera = dataclasses.replace(camera, direction=1)
    x0 = int(_rng(config, _CAMERA, c, 1).integers(0, 2 * config.width))
    return camera, np.ascontiguousarray(camera.background[:config.height, x0:x0 + config.width])


def walk_pose(config: FootageConfig, walk: Walk, person: Person, t: int) -> tuple:
    """``(cx, feet, unit)`` of ``walk``'s person at frame ``t`` (0-based, within the walk)."""
    h, w = config.height, config.width
    feet = h * (0.55 + 0.42 * walk.depth)
    unit = person.height * feet * 0.55
    half = BOX_HALF_WIDTH * unit
    progress = t / max(walk.length - 1, 1)
    x = -half + progress * (w + 2 * half)
    cx = x if walk.direction > 0 else w - x
    return cx, feet, unit


def person_box(cx: float, feet: float, unit: float) -> tuple[float, float, float, float]:
    """``(left, top, width, height)`` around a person drawn with feet at ``(cx, feet)``."""
    half = BOX_HALF_WIDTH * unit
    return cx - half, feet - unit, 2 * half, 1.03 * unit


def _clip(box, w: int, h: int):
    left, top, bw, bh = box
    x0, y0 = max(left, 0.0), max(top, 0.0)
    x1, y1 = min(left + bw, float(w)), min(top + bh, float(h))
    return x0, y0, x1, y1


def _visibility(box, nearer: list, w: int, h: int) -> float:
    """Fraction of ``box`` inside the frame and not covered by the ``nearer`` boxes
    (sampled on a grid: enough for deciding what a tracker sees)."""
    left, top, bw, bh = box
    xs = left + (np.arange(12) + 0.5) / 12 * bw
    ys = top + (np.arange(16) + 0.5) / 16 * bh
    gx, gy = np.meshgrid(xs, ys)
    seen = (gx >= 0) & (gx < w) & (gy >= 0) & (gy < h)
    for nl, nt, nw, nh in nearer:
        seen &= ~((gx >= nl) & (gx < nl + nw) & (gy >= nt) & (gy < nt + nh))
    return float(seen.mean())


def _fmt(v: float) -> str:
    return f'{v:.2f}'.rstrip('0').rstrip('.')


def _line(frame: int, tid: int, box, a, b, c) -> str:
    left, top, bw, bh = box
    return f'{frame},{tid},{_fmt(left)},{_fmt(top)},{_fmt(bw)},{_fmt(bh)},{a},{b},{c}'


def render_camera(config: FootageConfig, c: int, walks: list[Walk], video_path: str) -> list[tuple]:
    """Write camera ``c``'s video; return its ground-truth rows
    ``(frame 1-based, global id, box, visibility)``."""
    camera, scene = _still_camera(config, c)
    people = {}
    mine = [wk for wk in walks if wk.camera == c]
    writer = cv2.VideoWriter(video_path, cv2.VideoWriter_fourcc(*'MJPG'), config.fps,
                             (config.width, config.height))
    if not writer.isOpened():
        raise RuntimeError(f'OpenCV cannot write the MJPG video "{video_path}"')
    gt = []
    try:
        for f in range(config.frames):
            present = []
            for wk in mine:
                if wk.start <= f < wk.start + wk.length:
                    if wk.person not in people:
                        people[wk.person] = footage_person(config, wk.person)
                    person = people[wk.person]
                    pose = walk_pose(config, wk, person, f - wk.start)
                    present.append((pose[1], wk, person, pose))
            present.sort(key=lambda item: item[0])  # far (feet high) first: near ones occlude
            frame = scene.copy()
            canvas = _Canvas(frame)
            boxes = []
            for _, wk, person, (cx, feet, unit) in present:
                phase = 2 * np.pi * (f - wk.start) / person.gait_period
                draw_person(canvas, person, cx=cx, feet=feet, unit=unit, phase=phase,
                            front=wk.front, side=wk.direction)
                boxes.append((wk, person_box(cx, feet, unit)))
            for i, (wk, box) in enumerate(boxes):
                visibility = _visibility(box, [b for _, b in boxes[i + 1:]], config.width,
                                         config.height)
                if visibility > 0:
                    gt.append((f + 1, wk.person + 1, box, visibility))
            out = apply_camera(frame[None], camera, _rng(config, _FRAME, c, f))[0]
            writer.write(np.ascontiguousarray(out[:, :, ::-1]))
    finally:
        writer.release()
    return gt


def simulate_tracker(config: FootageConfig, c: int, walks: list[Walk],
                     gt: list[tuple]) -> list[str]:
    """A single-camera tracker's output lines for camera ``c`` from its ground truth:
    jittered boxes, misses, fragmented walks and false tracks, ids per camera."""
    rng = _rng(config, _TRACKER, c)
    by_walk: dict[tuple, list] = {}
    mine = [wk for wk in walks if wk.camera == c]
    for frame, pid, box, visibility in gt:
        walk = next(wk for wk in mine if wk.person == pid - 1
                    and wk.start < frame <= wk.start + wk.length)
        by_walk.setdefault(walk, []).append((frame, box, visibility))
    lines, next_id = [], 1
    for walk in sorted(by_walk, key=lambda wk: (wk.start, wk.person)):
        rows = by_walk[walk]
        cut = (int(rng.integers(len(rows) // 4, 3 * len(rows) // 4 + 1))
               if len(rows) >= 8 and rng.random() < config.fragment else len(rows))
        ids = (next_id, next_id + 1)
        next_id += 2 if cut < len(rows) else 1
        for i, (frame, (left, top, bw, bh), visibility) in enumerate(rows):
            if visibility < config.occluded_miss or rng.random() < config.miss:
                continue
            dx, dy, dw, dh = rng.normal(0, config.jitter, 4)
            box = (left + dx * bw, top + dy * bh, bw * (1 + dw), bh * (1 + dh))
            conf = float(np.clip(rng.normal(0.85, 0.08), 0.5, 0.99))
            lines.append((frame, ids[0] if i < cut else ids[1], box, conf))
    for j in range(config.false_tracks):
        frng = _rng(config, _FALSE, c, j)
        length = int(frng.integers(3, 9))
        start = int(frng.integers(1, max(2, config.frames - length)))
        bh = float(frng.uniform(0.2, 0.5) * config.height)
        left, top = frng.uniform(0, config.width - bh / 2), frng.uniform(0, config.height - bh)
        for t in range(length):
            lines.append((start + t, next_id, (left + t, top, bh / 2, bh),
                          float(frng.uniform(0.1, 0.4))))
        next_id += 1
    lines.sort(key=lambda row: (row[0], row[1]))
    return [_line(frame, tid, box, f'{conf:.2f}', -1, '-1,-1') for frame, tid, box, conf in lines]


def make_synthetic_footage(footage: str, tracks: str, config: FootageConfig | None = None) -> dict:
    """Write synthetic footage, its ground truth and a simulated tracker's output.

    Args:
        footage (str): folder for ``<camera>/<camera>.avi`` and ``<camera>/gt/gt.txt``
            (cameras named ``cam1``, ``cam2``, ...). Must not hold them already.
        tracks (str): folder for ``<camera>.txt``, the simulated tracker output.
        config (FootageConfig, optional): what to write; the defaults otherwise.

    Returns:
        dict: the config and counts, also written to ``footage/footage.json``; on a
        route also ``route`` (the cameras in order) and ``camera_links`` (the true
        transit times, :func:`true_links`).

    Examples::

        make_synthetic_footage('footage', 'tracks', FootageConfig(people=8, frames=120))
        # then: dal-make-tracklets --footage footage --tracks tracks --root data --name mine
    """
    config = config or FootageConfig()
    walks = plan_walks(config)
    os.makedirs(tracks, exist_ok=True)
    counts = {'walks': len(walks), 'people_seen': len({wk.person for wk in walks}),
              'cameras': {}}
    for c in range(config.cameras):
        name = f'cam{c + 1}'
        folder = osp.join(footage, name)
        if osp.exists(folder):
            raise FileExistsError(f'{folder} already exists; choose an empty footage folder')
        os.makedirs(osp.join(folder, 'gt'))
        gt = render_camera(config, c, walks, osp.join(folder, f'{name}.avi'))
        with open(osp.join(folder, 'gt', 'gt.txt'), 'w') as f:
            f.writelines(_line(frame, pid, box, 1, 1, f'{vis:.2f}') + '\n'
                         for frame, pid, box, vis in gt)
        lines = simulate_tracker(config, c, walks, gt)
        with open(osp.join(tracks, f'{name}.txt'), 'w') as f:
            f.writelines(line + '\n' for line in lines)
        counts['cameras'][name] = {
            'walks': sum(wk.camera == c for wk in walks), 'gt_boxes': len(gt),
            'tracker_boxes': len(lines),
            'tracker_tracks': len({line.split(',')[1] for line in lines})}
    info = {'config': dataclasses.asdict(config), 'counts': counts}
    if config.layout == 'route':
        info['route'] = [f'cam{c + 1}' for c in range(config.cameras)]
        info['camera_links'] = true_links(config, walks)
    with open(osp.join(footage, INFO_FILE), 'w') as f:
        json.dump(info, f, indent=2)
    return info
