#!/bin/bash
# The own-footage measurement of docs/experiments.md for one seed: synthetic footage
# (40 people, 3 cameras, 600 frames of 320x240), tracklets, the untrained ImageNet
# backbone's association, DAL and Cluster Contrast trained without labels and their
# associations, each scored against the footage's ground truth. One thread.
#   tools/own_footage_seeds.sh SEED WORK_DIR
set -e
S=$1; W=$2; C=configs/own_footage.yaml
export OMP_NUM_THREADS=1
python -c "
from dal_torchreid.data.synthetic.footage import FootageConfig, make_synthetic_footage
make_synthetic_footage('$W/footage', '$W/tracks', FootageConfig(people=40, cameras=3, frames=600, seed=$S))"
dal-make-tracklets --footage $W/footage --tracks $W/tracks --root $W/data --name syn --min-conf 0.5
dal-associate --config-file $C --root $W/data --out $W/out-untrained --footage $W/footage -s syn
dal-train --config-file $C --root $W/data data.save_dir $W/log/dal train.seed $S -s syn > $W/dal.log 2>&1
dal-associate --config-file $C --root $W/data --out $W/out-dal --footage $W/footage \
    model.load_weights $W/log/dal/model/model.pth.tar-8 -s syn
dal-train --config-file $C --root $W/data data.save_dir $W/log/cc --engine cc train.seed $S -s syn > $W/cc.log 2>&1
dal-associate --config-file $C --root $W/data --out $W/out-cc --footage $W/footage \
    model.load_weights $W/log/cc/model/model.pth.tar-8 -s syn
