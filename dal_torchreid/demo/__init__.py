"""The demos of ``dal-demo``: the untrained backbone, DAL, Cluster Contrast and a supervised
engine on synthetic data, each trained and scored on the same budget.

:mod:`.synthetic`: a synthetic PRID2011-layout set, ranked the re-id way (``dal-demo``);
:mod:`.footage`: synthetic multi-camera footage, each model's cross-camera association
scored against the ground truth (``dal-demo --footage``).
"""
