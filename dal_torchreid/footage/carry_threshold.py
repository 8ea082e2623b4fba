"""The least similarity for an old global id, without labels: how alike different people look.

When new footage's tracklets take the global ids of a gallery's identities
(:mod:`~dal_torchreid.footage.tracklet_carry`), a tracklet less similar than the
threshold to every identity is a new person. No label says where "the same person"
ends, but the gallery's own association already told its people apart: a tracklet of
the gallery and an identity it was *not* given are, as far as the association could tell,
two people. So each gallery tracklet's best similarity to another identity
(:func:`best_other_similarities`) is a sample of how alike the most alike different
people look, measured exactly as a new tracklet is measured against the gallery.

:func:`separating_threshold` compares the candidates (each new tracklet's best
similarity to a gallery identity) with that background. Where the candidates lie
clearly above it (people came back: the one-sided two-sample Kolmogorov-Smirnov test
rejects, at :data:`SIGNIFICANCE`, that they are drawn like the background), the
threshold is placed where the two separate best: the similarity above which the
largest share of candidates and the smallest share of the background lie (Youden's J of
the two empirical distributions, which is the test's statistic). Where they do not
(nobody, or too few to tell, came back), it is the background's
:data:`BACKGROUND_QUANTILE` quantile: a new person then takes an old id only when more
alike than all but one in twenty of the gallery's look-alikes. Every step is a small
function of similarities.

Examples::

    estimate = separating_threshold(candidates, background)
    print(estimate.value, estimate.how)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CARRY_THRESHOLD = 0.0  # associate.carry_threshold's default: found without labels
MIN_CANDIDATES = 3  # new tracklets needed to place a threshold
MIN_BACKGROUND = 3  # gallery tracklets with another identity to compare with
BACKGROUND_QUANTILE = 0.95  # the threshold where nobody clearly came back
SIGNIFICANCE = 0.01  # of the one-sided Kolmogorov-Smirnov test: did people come back?
MAX_BACKGROUND = 2000  # gallery tracklets the background is measured on, evenly spread


def check_carry_threshold(value: float) -> None:
    """``associate.carry_threshold``: 0 (found without labels) or a cosine similarity in (0, 1]."""
    if not 0 <= value <= 1:
        raise ValueError(f'carry_threshold must be in [0, 1] (0: found without labels; else a '
                         f'cosine similarity), got {value}')


@dataclass(frozen=True)
class ThresholdEstimate:
    """A threshold :func:`separating_threshold` found, or why none was.

    Args:
        value (float or None): the cosine similarity, or None when too little was there.
        how (str): how it was found, in words (printed and recorded).
        candidates (int): new tracklets compared with the gallery.
        background (int): gallery tracklets compared with the identities they are not.
        separation (float): the share of candidates minus the share of the background
            at or above ``value`` (0 when none was found).
    """

    value: float | None
    how: str
    candidates: int = 0
    background: int = 0
    separation: float = 0.0

    def as_dict(self) -> dict:
        return {'value': self.value, 'how': self.how, 'candidates': self.candidates,
                'background': self.background, 'separation': round(self.separation, 4)}


def background_rows(n: int, most: int = MAX_BACKGROUND) -> np.ndarray:
    """At most ``most`` of ``n`` rows, evenly spread (all of them when there are no more)."""
    if n <= most:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, most).round().astype(np.int64))


def best_other_similarities(similarity: np.ndarray, own: np.ndarray) -> np.ndarray:
    """Each row's largest similarity to a column other than its own (``own[i]``, the
    column of row ``i``'s identity), for rows with another column to compare with.

    Examples::

        best_other_similarities(np.array([[1.0, .3, .5]]), np.array([0]))  # [0.5]
    """
    similarity = np.array(similarity, dtype=np.float64)
    if similarity.ndim != 2 or similarity.shape[1] < 2:
        return np.zeros(0)
    similarity[np.arange(len(similarity)), np.asarray(own)] = -np.inf
    return similarity.max(1)


def youden_threshold(candidates: np.ndarray, background: np.ndarray) -> tuple[float, float]:
    """``(threshold, separation)``: the value at or above which the share of
    ``candidates`` minus the share of ``background`` is largest (the highest such place on
    ties), placed midway to the next lower value, and that difference."""
    values = np.unique(np.concatenate([candidates, background]))
    above_c = 1 - np.searchsorted(np.sort(candidates), values, side='left') / len(candidates)
    above_b = 1 - np.searchsorted(np.sort(background), values, side='left') / len(background)
    separation = above_c - above_b
    best = len(values) - 1 - int(np.argmax(separation[::-1]))
    low = values[best - 1] if best > 0 else values[best] - 1e-3
    return float((low + values[best]) / 2), float(separation[best])


def separation_needed(candidates: int, background: int,
                      significance: float = SIGNIFICANCE) -> float:
    """The least Youden's J (the one-sided two-sample Kolmogorov-Smirnov statistic) at which
    ``candidates`` values lie above ``background`` values with ``significance``
    (the asymptotic critical value ``sqrt(-ln(significance) / 2 * (1/m + 1/n))``)."""
    return float(np.sqrt(-np.log(significance) / 2 * (1 / candidates + 1 / background)))


def separating_threshold(candidates: np.ndarray, background: np.ndarray,
                         quantile: float = BACKGROUND_QUANTILE,
                         significance: float = SIGNIFICANCE,
                         min_candidates: int = MIN_CANDIDATES,
                         min_background: int = MIN_BACKGROUND) -> ThresholdEstimate:
    """The least cosine similarity for a carried id, from similarities alone (see the module).

    Args:
        candidates (np.ndarray): each new tracklet's best similarity to a gallery identity.
        background (np.ndarray): gallery tracklets' best similarity to an identity other
            than their own (:func:`best_other_similarities`).
        quantile (float): the threshold's quantile of the background where the
            candidates do not lie clearly above it.
        significance (float): of the test that they do (see the module).
        min_candidates, min_background (int): least values of each to place a threshold.

    Returns:
        ThresholdEstimate: its ``value`` in ``(0, 1]``, or None with ``how`` saying why.

    Examples::

        estimate = separating_threshold(np.array([.9, .85, .4]), np.array([.5, .45, .6]))
    """
    candidates = np.asarray(candidates, dtype=np.float64)
    background = np.asarray(background, dtype=np.float64)
    counts = dict(candidates=len(candidates), background=len(background))
    if len(candidates) < min_candidates or len(background) < min_background:
        return ThresholdEstimate(None, f'too few tracklets to compare ({len(candidates)} new, '
                                 f'{len(background)} of the gallery with another identity; '
                                 f'{min_candidates} and {min_background} needed)', **counts)
    value, separation = youden_threshold(candidates, background)
    needed = separation_needed(len(candidates), len(background), significance)
    how = (f'the new tracklets\' best similarity to an identity ({len(candidates)}) against the '
           f'gallery tracklets\' best to an identity not theirs ({len(background)}): ')
    if separation >= needed:
        how += (f'where they separate best ({separation:.2f} more of the new above; '
                f'{needed:.2f} shows people came back)')
    else:
        value = float(np.quantile(background, quantile))
        how += (f'the background\'s {quantile:g} quantile (they separate by {separation:.2f}, '
                f'under the {needed:.2f} that would show people came back)')
        separation = float(np.mean(candidates >= value) - np.mean(background >= value))
    return ThresholdEstimate(float(min(1.0, max(value, 1e-6))), how, separation=separation,
                             **counts)
