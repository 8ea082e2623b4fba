"""Clustering for Cluster Contrast: tracklet features -> Jaccard distances -> pseudo-identities."""
from dal_torchreid.cluster.assignment import (
    MIN_MARGIN, MIN_SIMILARITY, assignment_labels, check_min_margin, check_min_similarity,
    confident_assignment
)
from dal_torchreid.cluster.camera import camera_centred
from dal_torchreid.cluster.jaccard import K1, K2, check_k1, check_k2, jaccard_distances
from dal_torchreid.cluster.neighbors import nearest_neighbors
from dal_torchreid.cluster.pseudo_labels import (
    EPS, METHOD, METHODS, MIN_SAMPLES, MUTUAL_NEIGHBORS, OUTLIERS, ClusteringError,
    ClusteringSettings,
    CrossCameraError, check_cross_camera, check_eps, check_method, check_min_samples,
    check_mutual_neighbors, check_outliers, check_pseudo_labels, cluster_tracklets,
    cross_camera_pairs, dbscan_labels, mutual_neighbors_of, outliers_as_classes
)

__all__ = ['camera_centred', 'jaccard_distances', 'nearest_neighbors', 'cluster_tracklets',
           'ClusteringSettings',
           'dbscan_labels', 'outliers_as_classes', 'cross_camera_pairs', 'mutual_neighbors_of',
           'assignment_labels', 'confident_assignment',
           'K1', 'K2', 'EPS', 'MIN_SAMPLES', 'OUTLIERS', 'MUTUAL_NEIGHBORS', 'METHOD', 'METHODS',
           'MIN_SIMILARITY', 'MIN_MARGIN', 'check_k1', 'check_k2', 'check_eps',
           'check_min_samples', 'check_outliers', 'check_mutual_neighbors', 'check_method',
           'check_min_similarity', 'check_min_margin',
           'check_cross_camera', 'CrossCameraError', 'check_pseudo_labels', 'ClusteringError']
