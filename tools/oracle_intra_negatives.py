"""DIAGNOSTIC ONLY, USES IDENTITY LABELS IN TRAINING: DAL with same-person tracklets kept
out of each other's intra-camera negatives, as ``dal-train`` otherwise.

What DAL's intra-camera term costs on data where a person has several tracklets in one
camera: this run spares, for every training tracklet, the other tracklets of the same
person in its camera (read from the identities) as negatives, for the whole run. It is an
upper bound for the label-free ``dal.intra_mutual_neighbors``, never a training method.

Usage (the arguments of ``dal-train``; the DAL engine only)::

    python tools/oracle_intra_negatives.py --config-file configs/synthetic_pretrained_mars.yaml \\
        --root reid-data train.seed 1 data.save_dir log/mars/oracle_s1
"""
import sys

import dal_torchreid.experiment.run as experiment
from dal_torchreid.cli.train import main
from dal_torchreid.engine.diagnostics import read_tracklet_identities, same_person_rows
from dal_torchreid.engine import VideoDALEngine


def build_oracle_engine(cfg, datamanager, *args, **kwargs):
    engine = build_engine(cfg, datamanager, *args, **kwargs)
    if not isinstance(engine, VideoDALEngine) or engine.criterion.intra_mutual_neighbors:
        print('error: oracle_intra_negatives runs the DAL engine (loss.name dal) with '
              'dal.intra_mutual_neighbors 0 only', file=sys.stderr)
        raise SystemExit(2)
    criterion = engine.criterion
    table = same_person_rows(read_tracklet_identities(datamanager),
                             criterion.tracklets_per_camera)
    criterion.spare_negatives(table)
    print(f'=> ORACLE (identities used in training, diagnostic only): '
          f'{int((table < table.size(0)).sum()) // 2} same-person pairs of tracklets of one '
          'camera kept out of each other\'s negatives')
    return engine


build_engine = experiment.build_engine
experiment.build_engine = build_oracle_engine

if __name__ == '__main__':
    sys.exit(main())
