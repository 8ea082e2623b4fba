"""Drawing tracklets: a walking person as a few anti-aliased filled shapes over the camera's scene.

Shapes are filled by OpenCV's anti-aliased polygon, line and ellipse fills
(sub-pixel coordinates) straight into the uint8 frame; only the patterned or
shaded torso is composed with numpy, on its bounding box. Frames vary in leg
and arm swing, position and scale jitter, and a tracklet may be partly occluded
for a stretch of frames.
"""
from __future__ import annotations

import cv2
import numpy as np

from dal_torchreid.data.synthetic.cameras import CameraStyle, apply_camera
from dal_torchreid.data.synthetic.people import Person

_SHIFT = 4  # OpenCV fixed-point bits: coordinates in 1/16 pixel
_ONE = 1 << _SHIFT


def _fixed(*xy: float) -> tuple:
    return tuple(int(round(v * _ONE)) for v in xy)


def _rgb(colour) -> tuple:
    return tuple(float(c) * 255 for c in colour)


class _Canvas:
    """A uint8 RGB frame with painters for anti-aliased shapes (pixel centres at integers)."""

    def __init__(self, image: np.ndarray):
        self.image = image
        self.h, self.w = image.shape[:2]

    def ellipse(self, cx, cy, rx, ry, colour):
        cv2.ellipse(self.image, _fixed(cx, cy), _fixed(rx, ry), 0, 0, 360, _rgb(colour), -1,
                    cv2.LINE_AA, _SHIFT)

    def capsule(self, ax, ay, bx, by, r, colour):
        """A thick line with round ends: a limb."""
        cv2.line(self.image, _fixed(ax, ay), _fixed(bx, by), _rgb(colour),
                 max(int(round(2 * r)), 1), cv2.LINE_AA, _SHIFT)

    def trapezoid(self, cx, y0, y1, half_top, half_bottom, colour, pattern=None, shade=0.0):
        """Box from y0 to y1 whose half width goes from half_top to half_bottom.

        ``pattern(yy, xx)`` may return per-pixel colours in [0, 1]; ``shade``
        darkens the sides to suggest a round body.
        """
        corners = np.array([(cx - half_top, y0), (cx + half_top, y0),
                            (cx + half_bottom, y1), (cx - half_bottom, y1)])
        if pattern is None and not shade:
            cv2.fillConvexPoly(self.image, np.round(corners * _ONE).astype(np.int32), _rgb(colour),
                               cv2.LINE_AA, _SHIFT)
            return
        half = max(half_top, half_bottom)
        x0, x1 = max(int(cx - half) - 1, 0), min(int(cx + half) + 2, self.w)
        top, bottom = max(int(y0) - 1, 0), min(int(y1) + 2, self.h)
        if x0 >= x1 or top >= bottom:
            return
        mask = np.zeros((bottom - top, x1 - x0), np.uint8)
        corners -= (x0, top)
        cv2.fillConvexPoly(mask, np.round(corners * _ONE).astype(np.int32), 255, cv2.LINE_AA, _SHIFT)
        yy = np.arange(top, bottom, dtype=np.float32)[:, None]
        xx = np.arange(x0, x1, dtype=np.float32)[None, :]
        fill = pattern(yy, xx) if pattern is not None else np.asarray(colour, np.float32)
        if shade:
            fill = fill * (1 - shade * np.minimum(np.square((xx - cx) / half), 1))[..., None]
        region = self.image[top:bottom, x0:x1]
        alpha = mask[..., None] * np.float32(1 / 255)
        region[...] = region + alpha * (fill * 255 - region) + 0.5


def _top_pattern(person: Person, unit: float, cx: float, y0: float, y1: float, front: bool):
    kind = person.top_pattern
    c1, c2 = np.asarray(person.top, np.float32), np.asarray(person.top_alt, np.float32)
    period = person.stripe_period * unit
    if kind == 'plain' or (kind == 'logo' and not front):
        return None

    def pattern(yy, xx):
        if kind == 'hstripes':
            mask = ((yy - y0) / period) % 1 < 0.5
        elif kind == 'vstripes':
            mask = ((xx - cx) / period + 0.25) % 1 < 0.5
        elif kind == 'twotone':
            mask = yy < y0 + 0.45 * (y1 - y0)
        elif kind == 'checks':
            mask = ((((yy - y0) / period) % 1 < 0.5) ^ (((xx - cx) / period) % 1 < 0.5))
        else:  # logo: a block on the chest, front view only
            mask = (np.abs(xx - cx) < 0.055 * unit) & (np.abs(yy - y0 - 0.12 * unit) < 0.05 * unit)
        return np.where(mask[..., None], c1, c2)

    return pattern


def draw_person(canvas: _Canvas, person: Person, cx: float, feet: float, unit: float,
                phase: float, front: bool, side: int) -> None:
    """Draw ``person`` with feet at (cx, feet) and body height ``unit`` pixels.

    ``phase`` sets leg and arm swing; ``front`` picks the front or back view;
    ``side`` (+1/-1) mirrors the side a bag is carried on.
    """
    u, b = unit, person.build
    top = feet - u
    shoulder, hip = top + 0.16 * u, top + 0.53 * u
    torso_top, torso_hip = 0.12 * u * b, 0.105 * u * b
    swing = person.stride * np.sin(phase)
    leg_r, arm_r = 0.042 * u * b ** 0.5, 0.032 * u * b ** 0.5
    leg_len, arm_len = feet - hip - 0.02 * u, 0.34 * u
    skin, bottom = person.skin, person.bottom
    head_r = 0.062 * u
    head_y = top + 1.05 * head_r
    hand = {}

    if person.hair_long:  # hair falling behind the shoulders
        canvas.trapezoid(cx, head_y, shoulder + 0.1 * u, 0.9 * head_r, 1.1 * head_r, person.hair)
    if person.bag == 'backpack' and front:  # the pack shows beside the torso
        canvas.trapezoid(cx, shoulder + 0.02 * u, shoulder + 0.3 * u, torso_top + 0.02 * u,
                         torso_top + 0.02 * u, person.bag_colour)
    for sign in (-1, 1):  # legs, then shoes
        hx = cx + sign * 0.055 * u * b
        angle = sign * swing
        fx, fy = hx + leg_len * np.sin(angle), hip + leg_len * np.cos(angle)
        fy -= 0.04 * u * max(0.0, -sign * np.sin(phase))  # the trailing foot lifts
        if person.bottom_kind == 'trousers':
            canvas.capsule(hx, hip, fx, fy, leg_r, bottom)
        else:
            canvas.capsule(hx, hip, fx, fy, leg_r * 0.85, skin)
            if person.bottom_kind == 'shorts':
                canvas.capsule(hx, hip, hx + 0.4 * (fx - hx), hip + 0.4 * (fy - hip), leg_r * 1.1, bottom)
        step = 0.03 * u * side
        canvas.capsule(fx - step * 0.5, fy + leg_r * 0.4, fx + step, fy + leg_r * 0.4, 0.026 * u, person.shoes)
    if person.bottom_kind == 'skirt':
        canvas.trapezoid(cx, hip - 0.03 * u, hip + 0.2 * u, torso_hip, torso_hip * 1.7, bottom, shade=0.15)
    elif person.bottom_kind != 'skirt':  # hips and belt line
        canvas.trapezoid(cx, hip - 0.03 * u, hip + 0.05 * u, torso_hip, torso_hip * 1.05, bottom)
    canvas.capsule(cx, head_y, cx, shoulder + 0.01 * u, 0.028 * u, skin)  # neck
    canvas.trapezoid(cx, shoulder, hip, torso_top, torso_hip, person.top, shade=0.2,
                     pattern=_top_pattern(person, u, cx, shoulder, hip, front))
    for sign in (-1, 1):  # arms: sleeve, then forearm and hand
        sx, sy = cx + sign * (torso_top + 0.3 * arm_r), shoulder + arm_r
        angle = -sign * swing * 0.8
        ex, ey = sx + arm_len * np.sin(angle), sy + arm_len * np.cos(angle)
        if person.long_sleeves:
            canvas.capsule(sx, sy, ex, ey, arm_r, person.top)
        else:
            canvas.capsule(sx, sy, ex, ey, arm_r * 0.85, skin)
            canvas.capsule(sx, sy, sx + 0.4 * (ex - sx), sy + 0.4 * (ey - sy), arm_r * 1.1, person.top)
        canvas.ellipse(ex, ey, arm_r * 1.05, arm_r * 1.2, skin)
        hand[sign] = (ex, ey)
    bag_side = person.bag_side * side * (1 if front else -1)  # seen from behind, sides swap
    if person.bag == 'backpack':
        if front:  # straps
            for sign in (-1, 1):
                canvas.trapezoid(cx + sign * 0.06 * u * b, shoulder, shoulder + 0.2 * u,
                                 0.012 * u, 0.012 * u, person.bag_colour)
        else:
            canvas.trapezoid(cx, shoulder + 0.03 * u, shoulder + 0.3 * u, 0.1 * u * b,
                             0.1 * u * b, person.bag_colour, shade=0.25)
    elif person.bag == 'shoulder':
        canvas.capsule(cx - bag_side * torso_top * 0.8, shoulder, cx + bag_side * torso_hip,
                       hip - 0.02 * u, 0.012 * u, person.bag_colour)
        bx = cx + bag_side * (torso_hip + 0.035 * u)
        canvas.trapezoid(bx, hip - 0.06 * u, hip + 0.04 * u, 0.05 * u, 0.055 * u, person.bag_colour)
    elif person.bag == 'handbag':
        ex, ey = hand[bag_side]
        canvas.trapezoid(ex, ey, ey + 0.1 * u, 0.045 * u, 0.055 * u, person.bag_colour, shade=0.2)
    if front:  # hair, then the face over its lower part
        canvas.ellipse(cx, head_y - 0.08 * head_r, 0.95 * head_r, 1.02 * head_r, person.hair)
        canvas.ellipse(cx, head_y + 0.14 * head_r, 0.8 * head_r, 0.86 * head_r, skin)
    else:
        canvas.ellipse(cx, head_y, 0.88 * head_r, 1.02 * head_r, person.hair)
        if person.hair_long:
            canvas.trapezoid(cx, head_y, shoulder + 0.1 * u, 0.9 * head_r, 1.1 * head_r, person.hair)


def render_tracklet(person: Person, camera: CameraStyle, rng: np.random.Generator,
                    num_frames: int, occlusion: float = 0.2) -> np.ndarray:
    """Render ``num_frames`` uint8 frames (T, H, W, 3) of ``person`` walking in ``camera``."""
    scene = camera.background
    height, width = camera.height, camera.width
    front = bool(rng.random() < camera.front_prob)
    unit0 = min(height * camera.scale * person.height * np.exp(rng.normal(0, 0.03)), 0.97 * height)
    feet0 = np.clip(height / 2 + unit0 / 2 + rng.normal(0, 0.02 * height), unit0 + 1, 1.02 * height)
    cx0 = width / 2 + rng.normal(0, 0.04 * width)
    phase0 = rng.uniform(0, 2 * np.pi)
    light = float(np.exp(rng.normal(0, 0.05)))
    bx0, by0 = rng.uniform(0, scene.shape[1] - width), rng.uniform(0, scene.shape[0] - height)
    drift = rng.uniform(-1.0, 1.0) * width / 64
    occluder = None
    if rng.random() < occlusion:
        start = int(rng.integers(num_frames))
        stop = int(min(num_frames, start + rng.integers(max(num_frames // 3, 1), num_frames + 1)))
        kind = int(rng.integers(2))
        size = rng.uniform(0.15, 0.35)
        colour = np.round(255 * rng.uniform(0.1, 0.8, 3)).astype(np.uint8)
        occluder = (start, stop, kind, size, colour, int(rng.choice((-1, 1))))

    frames = np.empty((num_frames, height, width, 3), np.uint8)
    for t in range(num_frames):
        x = int(np.clip(round(bx0 + drift * t), 0, scene.shape[1] - width))
        frame = frames[t]
        frame[...] = scene[int(by0):int(by0) + height, x:x + width]
        canvas = _Canvas(frame)
        unit = unit0 * np.exp(rng.normal(0, 0.01))
        draw_person(canvas, person,
                    cx=cx0 + rng.normal(0, 0.015 * width),
                    feet=feet0 + rng.normal(0, 0.01 * height),
                    unit=unit,
                    phase=phase0 + 2 * np.pi * t / person.gait_period,
                    front=front, side=camera.direction)
        if occluder is not None and occluder[0] <= t < occluder[1]:
            _, _, kind, size, colour, end = occluder
            wobble = rng.normal(0, 0.01)
            if kind == 0:  # something low in front: a bench, a car, a railing
                frame[int(height * (1 - size - wobble)):] = colour
            else:  # a pole or another pedestrian at one side
                cols = int(width * (size + wobble))
                if end > 0:
                    frame[:, :cols] = colour
                else:
                    frame[:, width - cols:] = colour
    return apply_camera(frames, camera, rng, light)


def render_junk(camera: CameraStyle, rng: np.random.Generator, num_frames: int,
                person: Person | None = None) -> np.ndarray:
    """Render a false detection: the empty scene, or a close crop of part of ``person``."""
    scene = camera.background
    height, width = camera.height, camera.width
    bx0, by0 = rng.uniform(0, scene.shape[1] - width), rng.uniform(0, scene.shape[0] - height)
    unit = rng.uniform(1.5, 2.5) * height
    feet = unit + rng.uniform(-0.3, 0.6) * height
    cx = rng.uniform(0, width)
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    for t in range(num_frames):
        x = int(np.clip(round(bx0 + t), 0, scene.shape[1] - width))
        frames[t] = scene[int(by0):int(by0) + height, x:x + width]
        if person is not None:
            draw_person(_Canvas(frames[t]), person, cx=cx + t, feet=feet, unit=unit,
                        phase=0.3 * t, front=True, side=camera.direction)
    return apply_camera(frames, camera, rng)
