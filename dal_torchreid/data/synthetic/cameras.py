"""Cameras: a background scene and the colour, exposure, blur and noise each applies.

A camera's changes are global image transforms (channel gains, brightness,
gamma, saturation, blur, noise) plus its own scene and person scale, so a
network can learn to be invariant to them while identity stays in the person.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class CameraStyle:
    """How one camera sees every person, drawn once per camera by :func:`sample_camera`.

    Args:
        height, width (int): frame size in pixels.
        gains (tuple): per-channel colour balance; ``brightness``, ``gamma`` and
            ``saturation`` the exposure and colour response.
        blur, noise (float): Gaussian blur sigma and pixel noise level.
        scale (float): person height relative to the frame.
        front_prob (float): probability that a tracklet shows the person's front.
        direction (int): walking direction across the view (-1 or 1).
        background (np.ndarray): the scene, ``(H + H // 4, 3 * W, 3)`` uint8 RGB.

    Examples::

        camera = sample_camera(np.random.default_rng(0), height=128, width=64)
        frames = render_tracklet(person, camera, rng, num_frames=12)  # (12, H, W, 3) uint8
    """

    height: int
    width: int
    gains: tuple
    brightness: float
    gamma: float
    saturation: float
    blur: float
    noise: float
    scale: float
    front_prob: float
    direction: int
    background: np.ndarray  # (H + H // 4, 3 * W, 3) uint8 RGB scene


def _muted_colour(rng: np.random.Generator) -> np.ndarray:
    hue = rng.uniform(0, 6)
    sat = rng.uniform(0.05, 0.45)
    val = rng.uniform(0.25, 0.85)
    k = (np.array([5.0, 3.0, 1.0]) + hue) % 6
    return val * (1 - sat * np.clip(np.minimum(k, 4 - k), 0, 1))


def _smooth_noise(rng: np.random.Generator, shape: tuple, cells: tuple) -> np.ndarray:
    coarse = rng.random((cells[0], cells[1], 3)).astype(np.float32)
    return cv2.resize(coarse, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC) - 0.5


def sample_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Draw a camera's scene: wall and floor colours, texture and clutter, wider than a frame."""
    h, w = height + height // 4, 3 * width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    horizon = rng.uniform(0.45, 0.8) * h
    wall, floor = _muted_colour(rng), _muted_colour(rng)
    img = np.where((yy < horizon)[..., None], wall, floor).astype(np.float32)
    img *= 1 + 0.15 * ((yy - horizon) / h)[..., None]  # light falls off with depth
    img += rng.uniform(0.08, 0.25) * _smooth_noise(rng, (h, w), (5, 9))
    pattern = rng.integers(3)
    if pattern == 0:  # columns or windows on the wall
        period = rng.uniform(0.3, 0.9) * width
        band = ((xx / period) % 1 < rng.uniform(0.2, 0.5)) & (yy < horizon)
        img += band[..., None] * rng.uniform(-0.2, 0.2, 3)
    elif pattern == 1:  # floor tiles
        period = rng.uniform(0.1, 0.3) * width
        lines = (((xx + 0.6 * yy) / period) % 1 < 0.12) & (yy >= horizon)
        img -= lines[..., None] * rng.uniform(0.05, 0.2)
    for _ in range(int(rng.integers(2, 7))):  # clutter: signs, doors, parked things
        y0, x0 = rng.uniform(0, h), rng.uniform(0, w)
        bh, bw = rng.uniform(0.05, 0.35) * h, rng.uniform(0.05, 0.4) * width
        box = (yy >= y0) & (yy < y0 + bh) & (xx >= x0) & (xx < x0 + bw)
        img = np.where(box[..., None], _muted_colour(rng).astype(np.float32), img)
    img += rng.normal(0, rng.uniform(0.01, 0.04), img.shape).astype(np.float32)
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)


def sample_camera(rng: np.random.Generator, height: int, width: int, shift: float = 1.0) -> CameraStyle:
    """Draw one camera's scene and image transforms; ``shift`` scales how far they stray from neutral."""
    gains = np.exp(rng.normal(0, 0.1 * shift, 3))
    return CameraStyle(
        height=height,
        width=width,
        gains=tuple(float(g) for g in gains / gains.mean()),  # colour cast only; brightness is separate
        brightness=float(np.exp(rng.normal(0, 0.18 * shift))),
        gamma=float(np.exp(rng.normal(0, 0.18 * shift))),
        saturation=float(np.exp(rng.normal(0, 0.2 * shift))),
        blur=float(shift * rng.uniform(0.0, 1.0) * height / 128),
        noise=float(shift * rng.uniform(0.005, 0.03)),
        scale=float(rng.uniform(0.74, 0.92)),
        front_prob=float(rng.uniform(0.15, 0.85)),
        direction=int(rng.choice((-1, 1))),
        background=sample_background(rng, height, width),
    )


def _colour_matrix(camera: CameraStyle, light: float) -> np.ndarray:
    """3x4 affine map of 0..255 RGB with channel gains, brightness and saturation (plus rounding offset)."""
    gains = np.asarray(camera.gains) * (camera.brightness * light)
    s = camera.saturation
    matrix = np.empty((3, 4))
    matrix[:, :3] = (1 - s) / 3 * gains[None, :]
    matrix[:, :3] += np.diag(s * gains)
    matrix[:, 3] = 0.5
    return matrix.astype(np.float32)


def apply_camera(frames: np.ndarray, camera: CameraStyle, rng: np.random.Generator,
                 light: float = 1.0) -> np.ndarray:
    """Turn rendered uint8 frames (T, H, W, 3) into what this camera records.

    ``light`` scales the exposure of this tracklet (the lighting where it was seen).
    """
    t, h, w, _ = frames.shape
    out = cv2.transform(frames.reshape(t * h, w, 3), _colour_matrix(camera, light)).reshape(frames.shape)
    if camera.blur > 0.3:
        for frame in out:
            cv2.GaussianBlur(frame, (0, 0), camera.blur, dst=frame)
    if camera.noise > 0:
        # One noise field per tracklet, seen through a moving window: cheap and still flickers.
        margin = 8
        field = rng.normal(0, 255 * camera.noise, (h + margin, w + margin, 3)).round().astype(np.int16)
        offsets = rng.integers(0, margin + 1, (t, 2))
        for frame, (dy, dx) in zip(out, offsets):
            cv2.add(frame, field[dy:dy + h, dx:dx + w], dst=frame, dtype=cv2.CV_8U)
    levels = np.arange(256) / 255.0
    curve = np.round(255 * levels ** camera.gamma).astype(np.uint8)
    out = cv2.LUT(out.reshape(t * h, w, 3), curve)  # exposure curve
    if camera.direction < 0:
        out = cv2.flip(out, 1)
    return out.reshape(t, h, w, 3)
