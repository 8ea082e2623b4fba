"""The whole path on synthetic footage: footage -> tracklets -> training without labels ->
cross-camera ids -> scores against the ground truth."""
import json
import os

from cli_helpers import run_train, tiny_options
from dal_torchreid.cli.associate import main as associate
from dal_torchreid.cli.make_tracklets import main as make_tracklets
from dal_torchreid.footage import read_mot_file
from footage_fixtures import (  # noqa: F401  (fixtures)
    TINY_FOOTAGE, tiny_footage, forget_footage_datasets
)


def test_footage_to_scored_global_ids_without_a_label(tiny_footage, tmp_path, capsys):
    footage, tracks, _ = tiny_footage
    root, save_dir, out = tmp_path / 'data', tmp_path / 'log', tmp_path / 'out'
    assert make_tracklets(['--footage', footage, '--tracks', tracks, '--root', str(root),
                           '--name', 'street', '--min-conf', '0.5', '--max-frames', '8']) == 0
    code, _, err = run_train([*tiny_options(root, save_dir), 'train.max_epoch', '2',
                              '-s', 'street'], capsys, seconds=300)
    assert code == 0, err[-2000:]
    weights = save_dir / 'model' / 'model.pth.tar-2'
    assert weights.is_file()
    record = json.load(open(save_dir / 'results.json'))
    assert record['label_free'][-1]['epoch'] == 2 and record['targets'] == {}
    # the footage has gt.txt: the training's association is scored at the end
    trained = record['footage_scores']['street']
    assert 0 <= trained['pairwise']['f1'] <= 1 and 0 <= trained['idf1']['IDF1'] <= 1
    assert (save_dir / 'association' / 'street' / 'report.html').is_file()
    code = associate(['--root', str(root), '--out', str(out), '--footage', footage,
                      'model.name', 'resnet18', 'model.pretrained', 'False', 'use_gpu', 'False',
                      'data.height', '32', 'data.width', '16', 'model.load_weights', str(weights),
                      '-s', 'street'])
    printed = capsys.readouterr().out
    assert code == 0
    assert f'Loaded weights from "{weights}"' in printed  # the trained model, not ImageNet's
    for c in range(TINY_FOOTAGE.cameras):
        rows = read_mot_file(str(out / f'cam{c + 1}.txt'))
        assert len(rows) > 0
    scores = json.load(open(out / 'scores.json'))
    assert set(scores) >= {'pairwise', 'idf1'}
    assert 'IDF1' in printed and os.path.isfile(out / 'report.html')
