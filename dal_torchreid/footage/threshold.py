"""Similarities made comparable across camera pairs, and a merge threshold found without labels.

An untrained and a trained backbone spread their cosine similarities very
differently, and so do two camera pairs of one backbone (similar lighting makes
every pair of two cameras look alike). Two steps make one threshold fit all:

* :func:`pair_background` and :func:`standardise`: per unordered camera pair, the
  mean and spread of the similarity of random pairs of tracklets (almost all two
  different people), and each similarity as a z-score against them;
* :func:`best_match_threshold`: each tracklet's best match in every camera is either
  the same person (when the person walked through that camera) or the most similar
  stranger; their scores form two modes. A two-component Gaussian mixture
  (scikit-learn's ``GaussianMixture``) is fitted to them; the threshold is the
  stranger mode's mean (rule ``'stranger'``, the default) or where the two components
  are equally likely (``'crossing'``). The crossing is a decision on one pair; a
  person's cluster also holds pairs less alike than its best matches (fragments,
  returns, cameras apart), and average linkage counts them all, so the clusters of
  the synthetic footage came out split at the crossing. Returned with a record of
  the fit, so that a summary can say how it was found.

Examples::

    mean, std = pair_background(features, cameras)
    z = standardise(similarity, cameras[rows], cameras[cols], mean, std)
    threshold, record = best_match_threshold(best_per_camera(rows, cols, z, cameras)[2])
"""
from __future__ import annotations

import numpy as np
from sklearn.mixture import GaussianMixture

from dal_torchreid.cluster.agglomerative import pair_similarity
from dal_torchreid.footage.camera_links import chance_pairs

def pair_background(features, cameras, pairs: tuple | None = None,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(C, C)`` mean and standard deviation of the similarity of random pairs of
    tracklets of each two cameras, or of one camera (symmetric; a camera pair with
    fewer than two samples gets the values of all samples pooled).

    Args:
        features: ``(N, D)`` L2-normalised tracklet features.
        cameras: ``(N,)`` camera index of each tracklet.
        pairs (tuple, optional): ``(i, j)`` random pairs
            (:func:`~dal_torchreid.footage.camera_links.chance_pairs`, drawn with ``seed``
            when not given, of one camera too).
    """
    cameras = np.asarray(cameras, np.int64)
    c = int(cameras.max(initial=-1)) + 1
    i, j = pairs if pairs is not None else chance_pairs(cameras, seed=seed, same_camera=True)
    similarity = pair_similarity(features, i, j)
    key = cameras[i] * c + cameras[j]
    pooled = similarity if len(similarity) >= 2 else np.zeros(2)
    mean = np.full((c, c), pooled.mean())
    std = np.full((c, c), max(pooled.std(), 1e-6))
    for k in np.unique(key):
        values = similarity[key == k]
        a, b = divmod(int(k), c)
        if len(values) >= 2:
            mean[a, b] = mean[b, a] = values.mean()
            std[a, b] = std[b, a] = max(values.std(), 1e-6)
    return mean, std


def standardise(similarity, camera_i, camera_j, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``similarity`` of pairs of cameras ``camera_i``, ``camera_j`` as z-scores against
    their camera pair's background (:func:`pair_background`)."""
    camera_i, camera_j = np.asarray(camera_i, np.int64), np.asarray(camera_j, np.int64)
    return (np.asarray(similarity, np.float64) - mean[camera_i, camera_j]) / std[camera_i, camera_j]


THRESHOLD_RULES = ('stranger', 'crossing')


def best_match_threshold(scores, rule: str = 'stranger', seed: int = 0) -> tuple[float, dict]:
    """A merge threshold from a two-component Gaussian mixture of best-match ``scores``,
    and a record of the fit.

    Args:
        scores: best-match scores (the third item of
            :func:`~dal_torchreid.footage.camera_links.best_per_camera`); their lower
            mode is each tracklet's most similar
            stranger (in a camera its person never walked through), the upper one its
            own person.
        rule (str): ``'stranger'``: the lower mode's mean (merge what is more alike
            than a typical most similar stranger; clusters of one person also hold
            pairs less alike than its best matches, which average linkage counts);
            ``'crossing'``: where the two weighted component densities are equal.

    Raises ``ValueError`` with fewer than 4 finite scores or an unknown rule; when the
    fit finds no two separate modes, the record says so and the threshold is the
    midpoint of the scores' 10th and 90th percentiles.

    Examples::

        scores = np.r_[np.random.randn(50), 6 + np.random.randn(50)]
        threshold, record = best_match_threshold(scores)  # about 0, the strangers' mean
    """
    if rule not in THRESHOLD_RULES:
        raise ValueError(f'threshold rule must be one of {", ".join(THRESHOLD_RULES)}, '
                         f'got {rule!r}')
    scores = np.asarray(scores, np.float64)
    scores = scores[np.isfinite(scores)]
    if len(scores) < 4:
        raise ValueError(f'a threshold needs at least 4 best-match scores, got {len(scores)}')
    mixture = GaussianMixture(2, random_state=seed, n_init=3).fit(scores[:, None])
    order = np.argsort(mixture.means_.ravel())
    means = mixture.means_.ravel()[order]
    stds = np.sqrt(mixture.covariances_.ravel())[order]
    weights = mixture.weights_[order]
    record = {'method': 'two-component Gaussian mixture of best-match scores', 'rule': rule,
              'scores': int(len(scores)), 'means': _r(means), 'stds': _r(stds),
              'weights': _r(weights)}
    if not means[1] - means[0] > 1e-9:
        threshold = float(np.mean(np.quantile(scores, [0.1, 0.9])))
        record['fallback'] = 'one mode: midpoint of the 10th and 90th percentiles'
        return threshold, dict(record, threshold=round(threshold, 6))
    grid = np.linspace(means[0], means[1], 2001)
    log_density = [np.log(w) - np.log(s) - 0.5 * ((grid - m) / s) ** 2
                   for m, s, w in zip(means, stds, weights)]
    upper = log_density[1] >= log_density[0]
    crossing = float(grid[np.argmax(upper)]) if upper.any() else float(means[1])
    threshold = float(means[0]) if rule == 'stranger' else crossing
    return threshold, dict(record, crossing=round(crossing, 6), threshold=round(threshold, 6))


def _r(values) -> list:
    return [round(float(v), 6) for v in values]
