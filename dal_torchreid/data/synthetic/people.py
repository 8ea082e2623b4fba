"""Identities: clothing, body, hair, gait and carried objects drawn from shared palettes.

Attributes come from small weighted palettes (dark clothes and denim are common),
so many identities share a top colour, a bag or a hair colour; only the
combination tells people apart. :func:`dress` puts one person in another's
clothes: a crowd dressed from a few outfits (uniforms, a team's shirts, the
season's coats), where only body, hair, skin and gait tell people apart.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

Colour = tuple  # (r, g, b) floats in [0, 1]


def _palette(entries: dict) -> tuple[np.ndarray, np.ndarray]:
    colours = np.array([c for c, _ in entries.values()], dtype=np.float64) / 255.0
    weights = np.array([w for _, w in entries.values()], dtype=np.float64)
    return colours, weights / weights.sum()


TOPS = _palette({
    'black': ((28, 28, 30), 14), 'white': ((228, 228, 222), 9),
    'grey': ((125, 125, 128), 9), 'navy': ((32, 42, 92), 9),
    'blue': ((45, 90, 185), 7), 'light_blue': ((140, 180, 222), 5),
    'red': ((188, 32, 38), 7), 'maroon': ((108, 28, 38), 4),
    'green': ((42, 128, 62), 5), 'olive': ((100, 108, 52), 4),
    'yellow': ((222, 196, 52), 4), 'orange': ((226, 118, 34), 3),
    'pink': ((228, 142, 170), 4), 'purple': ((108, 52, 138), 3),
    'brown': ((108, 70, 42), 4), 'beige': ((204, 184, 148), 5),
    'teal': ((32, 128, 128), 3),
})
BOTTOMS = _palette({
    'denim': ((58, 78, 122), 30), 'black': ((26, 26, 30), 25),
    'grey': ((110, 110, 114), 12), 'navy': ((30, 36, 72), 10),
    'beige': ((196, 176, 138), 10), 'brown': ((96, 64, 40), 6),
    'white': ((222, 222, 216), 4), 'olive': ((88, 96, 50), 3),
})
SHOES = _palette({
    'black': ((22, 22, 24), 40), 'white': ((232, 232, 232), 30),
    'brown': ((92, 58, 34), 15), 'grey': ((128, 128, 132), 10),
    'red': ((182, 36, 36), 5),
})
HAIR = _palette({
    'black': ((20, 18, 18), 35), 'dark_brown': ((56, 38, 26), 30),
    'brown': ((110, 74, 44), 15), 'blonde': ((212, 184, 120), 12),
    'grey': ((160, 160, 160), 5), 'red': ((150, 62, 30), 3),
})
SKIN = _palette({
    'light': ((240, 206, 180), 3), 'fair': ((224, 182, 150), 3),
    'medium': ((196, 146, 108), 3), 'tan': ((160, 112, 76), 2),
    'dark': ((104, 70, 48), 2),
})
BAGS = _palette({
    'black': ((30, 30, 32), 40), 'brown': ((110, 72, 40), 20),
    'grey': ((120, 120, 124), 15), 'red': ((170, 40, 40), 10),
    'blue': ((50, 80, 160), 10), 'beige': ((200, 180, 140), 5),
})

TOP_PATTERNS = ('plain', 'hstripes', 'vstripes', 'twotone', 'checks', 'logo')
_TOP_PATTERN_P = (0.42, 0.16, 0.08, 0.15, 0.08, 0.11)
BOTTOM_KINDS = ('trousers', 'shorts', 'skirt')
_BOTTOM_KIND_P = (0.7, 0.15, 0.15)
BAG_KINDS = ('none', 'backpack', 'shoulder', 'handbag')
_BAG_KIND_P = (0.45, 0.25, 0.15, 0.15)


@dataclass(frozen=True)
class Person:
    """Appearance of one identity; every camera renders the same attributes.

    Args:
        height, build (float): body height and width factors.
        skin, hair, top, top_alt, bottom, shoes, bag_colour (Colour): RGB colours in [0, 1].
        hair_long, long_sleeves (bool): hair and sleeve length.
        top_pattern (str): the top's pattern; ``stripe_period`` its stripe width.
        bottom_kind (str): trousers, shorts or skirt.
        bag (str): carried object (or none); ``bag_side`` which side (-1 or 1).
        stride, gait_period (float): the walk's step length and period in frames.

    Examples::

        person = sample_person(np.random.default_rng(7))
        frames = render_tracklet(person, camera, rng, num_frames=12)  # (12, H, W, 3) uint8
    """

    height: float
    build: float
    skin: Colour
    hair: Colour
    hair_long: bool
    top: Colour
    top_alt: Colour
    top_pattern: str
    stripe_period: float
    long_sleeves: bool
    bottom: Colour
    bottom_kind: str
    shoes: Colour
    bag: str
    bag_colour: Colour
    bag_side: int
    stride: float
    gait_period: float


def _pick(rng: np.random.Generator, palette, jitter: float = 0.035, exclude: int = -1):
    colours, weights = palette
    if exclude >= 0:
        weights = weights.copy()
        weights[exclude] = 0
        weights /= weights.sum()
    index = int(rng.choice(len(weights), p=weights))
    colour = np.clip(colours[index] + rng.normal(0, jitter, 3), 0, 1)
    return tuple(float(c) for c in colour), index


def sample_person(rng: np.random.Generator) -> Person:
    """Draw one identity's attributes from the shared palettes."""
    top, top_index = _pick(rng, TOPS)
    top_alt, _ = _pick(rng, TOPS, exclude=top_index)
    return Person(
        height=float(np.clip(rng.normal(1.0, 0.05), 0.88, 1.1)),
        build=float(np.clip(rng.normal(1.0, 0.1), 0.78, 1.28)),
        skin=_pick(rng, SKIN, 0.02)[0],
        hair=_pick(rng, HAIR, 0.02)[0],
        hair_long=bool(rng.random() < 0.35),
        top=top,
        top_alt=top_alt,
        top_pattern=str(rng.choice(TOP_PATTERNS, p=_TOP_PATTERN_P)),
        stripe_period=float(rng.uniform(0.035, 0.07)),
        long_sleeves=bool(rng.random() < 0.6),
        bottom=_pick(rng, BOTTOMS)[0],
        bottom_kind=str(rng.choice(BOTTOM_KINDS, p=_BOTTOM_KIND_P)),
        shoes=_pick(rng, SHOES, 0.02)[0],
        bag=str(rng.choice(BAG_KINDS, p=_BAG_KIND_P)),
        bag_colour=_pick(rng, BAGS)[0],
        bag_side=int(rng.choice((-1, 1))),
        stride=float(rng.uniform(0.15, 0.32)),
        gait_period=float(rng.uniform(8, 14)),
    )


CLOTHING = ('top', 'top_alt', 'top_pattern', 'stripe_period', 'long_sleeves', 'bottom',
            'bottom_kind', 'shoes', 'bag', 'bag_colour', 'bag_side')
"""The :class:`Person` fields an outfit sets: clothes and the carried bag."""


def dress(person: Person, outfit: Person) -> Person:
    """``person`` in ``outfit``'s clothes and bag (:data:`CLOTHING`); body, hair, skin
    and gait stay the person's own."""
    return dataclasses.replace(person, **{name: getattr(outfit, name) for name in CLOTHING})
