"""Options of the synthetic data generator, validated once when they are made."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

LAYOUTS = ('prid2011', 'ilidsvid', 'mars')
"""Layouts the generator writes, named as torchreid's dataset keys."""

MAX_MARS_CAMERAS = 6

# Per-layout defaults, sized so a CPU experiment takes minutes.
_LAYOUT_DEFAULTS = {
    'prid2011': {},
    'ilidsvid': {},
    'mars': {
        'cameras': 4,
        'tracklets_per_camera': 2,
        'distractors': 20,
        'junk': 10,
    },
}


@dataclass(frozen=True)
class SyntheticConfig:
    """What to generate: how many people, cameras, tracklets and frames, and how big.

    Args:
        ids (int): identities, split 50/50 into train and test (train gets the
            odd one). At least 2.
        cameras (int): cameras; PRID2011 and iLIDS-VID need exactly 2, MARS 2 to 6.
        tracklets_per_camera (int): tracklets of each identity in each camera
            (MARS only may use more than 1).
        distractors (int): MARS distractor tracklets (pid 0, kept in the gallery).
        junk (int): MARS junk tracklets (pid -1, dropped by torchreid).
        min_frames (int): fewest frames in a tracklet.
        max_frames (int): most frames in a tracklet.
        height (int): image height in pixels.
        width (int): image width in pixels.
        seed (int): the same seed writes byte-identical files.
        camera_shift (float): strength of the per-camera colour, brightness,
            gamma, blur and noise changes; 0 makes all cameras render alike.
        occlusion (float): probability that a tracklet is partly occluded.

    Examples::

        config = SyntheticConfig(ids=20, min_frames=8, max_frames=12)
        mars = SyntheticConfig.for_layout('mars', ids=20, cameras=6)
    """

    ids: int = 100
    cameras: int = 2
    tracklets_per_camera: int = 1
    distractors: int = 0
    junk: int = 0
    min_frames: int = 16
    max_frames: int = 40
    height: int = 128
    width: int = 64
    seed: int = 0
    camera_shift: float = 1.0
    occlusion: float = 0.2

    def __post_init__(self):
        minimum = {
            'ids': 2, 'cameras': 2, 'tracklets_per_camera': 1, 'distractors': 0,
            'junk': 0, 'min_frames': 1, 'max_frames': 1, 'height': 16,
            'width': 8, 'seed': 0,
        }
        why = {
            'ids': ' (a 50/50 train/test split needs both halves)',
            'cameras': ' (every layout matches people across cameras)',
        }
        for name, low in minimum.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f'{name} must be an integer, got {name}={value!r}')
            if value < low:
                raise ValueError(
                    f'{name} must be >= {low}{why.get(name, "")}, got {name}={value}'
                )
        if self.min_frames > self.max_frames:
            raise ValueError(
                'frames range is reversed: min_frames must be <= max_frames, got '
                f'min_frames={self.min_frames}, max_frames={self.max_frames}'
            )
        if not self.camera_shift >= 0:
            raise ValueError(f'camera_shift must be >= 0, got camera_shift={self.camera_shift}')
        if not 0 <= self.occlusion <= 1:
            raise ValueError(f'occlusion must be in [0, 1], got occlusion={self.occlusion}')

    @classmethod
    def for_layout(cls, layout: str, **overrides) -> 'SyntheticConfig':
        """Return the defaults of ``layout`` (e.g. MARS: 4 cameras, 2 tracklets each) with ``overrides``."""
        check_layout_name(layout)
        return cls(**{**_LAYOUT_DEFAULTS[layout], **overrides})

    def replace(self, **changes) -> 'SyntheticConfig':
        """Return a copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)


def check_layout_name(layout: str) -> None:
    """Raise ValueError unless ``layout`` is one of :data:`LAYOUTS`."""
    if layout not in LAYOUTS:
        raise ValueError(f'unknown layout={layout!r}; expected one of {", ".join(LAYOUTS)}')


def check_config_for_layout(config: SyntheticConfig, layout: str) -> None:
    """Raise ValueError when ``config`` asks for something ``layout`` cannot hold."""
    check_layout_name(layout)
    if layout in ('prid2011', 'ilidsvid'):
        if config.cameras != 2:
            raise ValueError(
                f'{layout} layout has exactly 2 cameras, got cameras={config.cameras}'
            )
        if config.tracklets_per_camera != 1:
            raise ValueError(
                f'{layout} layout holds one tracklet per person and camera, got '
                f'tracklets_per_camera={config.tracklets_per_camera}'
            )
        for name in ('distractors', 'junk'):
            if getattr(config, name):
                raise ValueError(
                    f'{name} tracklets exist only in the mars layout, got '
                    f'{name}={getattr(config, name)} for layout={layout!r}'
                )
        return
    if config.cameras > MAX_MARS_CAMERAS:
        raise ValueError(
            f'mars layout supports at most {MAX_MARS_CAMERAS} cameras, got cameras={config.cameras}'
        )
    if config.ids > 9999:
        raise ValueError(f'mars names hold 4-digit pids, so ids must be <= 9999, got ids={config.ids}')
    # torchreid squeezes query_IDX; a single query would collapse to a scalar.
    test_ids = config.ids // 2
    per_id = config.cameras if config.tracklets_per_camera > 1 else config.cameras - 1
    if test_ids * per_id < 2:
        raise ValueError(
            'mars layout needs at least 2 query tracklets; raise ids, cameras or '
            f'tracklets_per_camera (got ids={config.ids}, cameras={config.cameras}, '
            f'tracklets_per_camera={config.tracklets_per_camera})'
        )
