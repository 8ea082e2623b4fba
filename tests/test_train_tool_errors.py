"""dal-train's failures: one line naming the file (exit 2) that also reaches train.log,
resume refusals, diverged runs, unfinished checkpoint files of a killed run."""
import os
import os.path as osp
import re
import shutil
import stat

import pytest
import torch

from dal_torchreid.cli import train as train_tool

from cli_helpers import error_lines, log_text, run_train, tiny_options

UMASK = 0o027


@pytest.fixture(scope='module')
def dal_run(tiny_prid2011_root, tmp_path_factory):
    """A one-epoch DAL run on split 0 of the tiny PRID2011 set, started under umask 0o027
    in a save_dir holding an unfinished checkpoint file of a killed run."""
    save_dir = tmp_path_factory.mktemp('dal-run')
    os.makedirs(save_dir / 'model')
    stale = save_dir / 'model' / '.tmp-killed.pth'
    stale.write_bytes(b'half a checkpoint')
    previous = os.umask(UMASK)
    try:
        code = train_tool.main(tiny_options(tiny_prid2011_root, save_dir, 'train.max_epoch', '1'))
    finally:
        os.umask(previous)
    assert code == 0
    return save_dir, stale


def test_unfinished_checkpoints_removed_and_umask_respected(dal_run):
    save_dir, stale = dal_run
    assert not stale.exists()
    names = sorted(os.listdir(save_dir / 'model'))
    assert names == ['checkpoint-latest.pth.tar', 'model.pth.tar-1']
    for name in names:
        mode = stat.S_IMODE(os.stat(save_dir / 'model' / name).st_mode)
        assert mode == 0o666 & ~UMASK, oct(mode)


def _split_1(root, tmp_path, checkpoint):
    return tiny_options(root, tmp_path / 'log', 'data.split_id', '1')


def _ilidsvid(root, tmp_path, checkpoint):
    return tiny_options(tmp_path.parent / 'ilids', tmp_path / 'log', 'data.sources',
                        "['ilidsvid']", 'data.targets', "['ilidsvid']")


def _osnet(root, tmp_path, checkpoint):
    return tiny_options(root, tmp_path / 'log', 'model.name', 'osnet_x0_25')


def _truncated(root, tmp_path, checkpoint):
    with open(checkpoint, 'rb') as f:
        head = f.read(4096)
    with open(checkpoint, 'wb') as f:
        f.write(head)
    return tiny_options(root, tmp_path / 'log')


def _torchreid_checkpoint(root, tmp_path, checkpoint):
    state = torch.load(checkpoint, weights_only=True)
    torch.save({k: state[k] for k in ('state_dict', 'epoch', 'rank1', 'optimizer')}, checkpoint)
    return tiny_options(root, tmp_path / 'log')


def _osnet_without_meta(root, tmp_path, checkpoint):
    state = torch.load(checkpoint, weights_only=True)
    del state['meta']  # a checkpoint of an older version
    torch.save(state, checkpoint)
    return _osnet(root, tmp_path, checkpoint)


@pytest.mark.parametrize('case, expected', [
    (_split_1, r'was written for training_set \'\w+\' \(another data set or split\), '
               r'this run has training_set \'\w+\''),
    (_ilidsvid, r"was written for sources \['prid2011'\], this run has sources \['ilidsvid'\]"),
    (_osnet, r"was written for backbone 'ResNet', this run has backbone 'OSNet'"),
    (_truncated, r'cannot load checkpoint ".*": RuntimeError: PytorchStreamReader failed'),
    (_torchreid_checkpoint, r"is not a DAL checkpoint: missing \['dal'\]"),
    (_osnet_without_meta, r'holds no valid record of the training set it was written for '
                          r'\(no meta\), so it cannot be matched'),
], ids=['split', 'dataset', 'backbone', 'truncated', 'not-dal', 'old-foreign-backbone'])
def test_resume_refuses_a_checkpoint_in_one_line_naming_it(dal_run, tiny_prid2011_root,
                                                           tiny_ilidsvid_root, tmp_path, capsys,
                                                           case, expected):
    shutil.copytree(tiny_ilidsvid_root, tmp_path.parent / 'ilids', dirs_exist_ok=True)
    checkpoint = str(tmp_path / 'checkpoint.pth.tar')
    shutil.copy(dal_run[0] / 'model' / 'checkpoint-latest.pth.tar', checkpoint)
    argv = case(tiny_prid2011_root, tmp_path, checkpoint)
    code, out, err = run_train(argv + ['model.resume', checkpoint, 'train.max_epoch', '2'],
                               capsys)
    assert code == 2
    [line] = error_lines(err)
    assert line.startswith(f'error: checkpoint "{checkpoint}"') or \
        line.startswith(f'error: cannot load checkpoint "{checkpoint}"')
    assert re.search(expected, line), line
    assert 'Traceback' not in err and 'Resumed from' not in out
    assert error_lines(log_text(tmp_path / 'log')) == [line]
    assert not osp.exists(tmp_path / 'log' / 'results.json')


@pytest.mark.parametrize('engine', ['dal', 'softmax'])
def test_diverged_training_stops_naming_the_epoch(tiny_prid2011_root, tmp_path, capsys, engine):
    save_dir = tmp_path / 'log'
    code, _, err = run_train(tiny_options(
        tiny_prid2011_root, save_dir, 'train.lr', '1e30', 'train.max_epoch', '2',
        'video.train_sample_method', 'evenly', 'video.seq_len', '4',
        'train.batch_size', '8' if engine == 'dal' else '4', options=('--engine', engine)),
        capsys)
    assert code == 2
    [line] = error_lines(err)
    assert (line.startswith('error: DAL loss is nan at epoch 1, step ') if engine == 'dal' else
            line.startswith('error: the model diverged: ') and 'after epoch 1' in line), line
    assert not osp.exists(save_dir / 'results.json')
    assert not osp.exists(save_dir / 'model')  # no checkpoint of the diverged epoch
    assert error_lines(log_text(save_dir)) == [line]


def test_unexpected_error_keeps_its_traceback_in_the_log(tiny_prid2011_root, tmp_path,
                                                         monkeypatch):
    def broken(cfg):
        print('=> Start training')
        raise RuntimeError('a bug, not the input')
    monkeypatch.setattr(train_tool, 'run_experiment', broken)
    save_dir = tmp_path / 'log'
    with pytest.raises(RuntimeError, match='a bug'):
        train_tool.main(tiny_options(tiny_prid2011_root, save_dir))
    log = log_text(save_dir)
    assert 'Traceback (most recent call last)' in log
    assert log.rstrip().endswith('RuntimeError: a bug, not the input')
