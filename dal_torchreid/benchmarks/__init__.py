"""Benchmarks behind the figures of docs/benchmarks.md and docs/experiments.md, each ``python -m dal_torchreid.benchmarks.<name>``:
``speed`` (the ``dal-benchmark`` command: DAL's speed relative to torchreid),
``loss_scale`` (the loss step's cost from 1k to 128k tracklets), ``synthetic_speed`` and ``synthetic_difficulty`` (the synthetic data's cost and difficulty)."""
