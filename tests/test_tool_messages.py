"""Each tool's message for a path that is not what it should be: one line naming it,
exit code 2, nothing deleted (dal-benchmark --compare, dal-make-synthetic --overwrite,
a dangling save_dir link, a directory where a split file or checkpoint goes)."""
import json
import os
import shutil

import pytest

from dal_torchreid.benchmarks import speed
from dal_torchreid.cli import make_synthetic_data, prepare_splits

from cli_helpers import error_lines, one_error, run_train, tiny_options


@pytest.mark.parametrize('content, expected', [
    ([1, 2], 'it holds a JSON list, not an object'),
    ({'spread': [1]}, '"spread" holds a list, not an object'),
    ({'spread': {'eval_speedup': {'median': 'fast', 'q1': 1, 'q3': 2}}},
     '"spread"."eval_speedup" must hold numbers median, q1, q3 (and low), got '
     '{"median": "fast", "q1": 1, "q3": 2}'),
], ids=['list', 'spread-list', 'text-median'])
def test_compare_refuses_a_file_that_is_no_report(tmp_path, capsys, content, expected):
    path = tmp_path / 'a.json'
    path.write_text(json.dumps(content))
    assert speed.main(['--compare', str(path), str(path)]) == 2
    assert error_lines(capsys.readouterr().err) == [
        f'error: --compare: "{path}" is not a dal-benchmark --json report: {expected}']


def test_make_synthetic_overwrite_refuses_a_folder_it_did_not_write(tmp_path, capsys):
    real = tmp_path / 'prid2011' / 'prid_2011' / 'multi_shot' / 'cam_a' / 'person_0001'
    real.mkdir(parents=True)
    (real / '0001.png').write_bytes(b'a frame of the real data set')
    tiny = ['--ids', '2', '--min-frames', '1', '--max-frames', '1', '--height', '16',
            '--width', '8']
    assert make_synthetic_data.main(['--layout', 'prid2011', '--root', str(tmp_path),
                                     '--overwrite', *tiny]) == 2
    assert error_lines(capsys.readouterr().err) == [
        f'error: "{tmp_path / "prid2011"}" exists but is not a synthetic set (no '
        'synthetic.json); overwrite (--overwrite) replaces only a set the generator wrote: move '
        'it away or choose another root']
    assert (real / '0001.png').read_bytes() == b'a frame of the real data set'
    # a set it wrote is replaced
    shutil.rmtree(tmp_path / 'prid2011')
    for _ in range(2):
        assert make_synthetic_data.main(['--layout', 'prid2011', '--root', str(tmp_path),
                                         '--overwrite', *tiny]) == 0


def test_a_dangling_link_as_save_dir_is_named(tiny_prid2011_root, tmp_path, capsys):
    link = tmp_path / 'log'
    os.symlink(tmp_path / 'gone', link)
    code, _, err = run_train(tiny_options(tiny_prid2011_root, link), capsys)
    assert one_error(code, err) == (f'error: data.save_dir "{link}" is a symbolic link to '
                                    f'"{tmp_path / "gone"}", which does not exist')


def test_a_directory_in_place_of_the_split_file_is_named(prid_copy, tmp_path, capsys):
    split_file = prid_copy / 'prid2011' / 'splits_prid2011.json'
    split_file.unlink()
    split_file.mkdir()
    code, _, err = run_train(tiny_options(prid_copy, tmp_path / 'log'), capsys)
    assert one_error(code, err) == f'error: split file "{split_file}" is a directory, not a file'


def test_prepare_splits_names_a_directory_in_place_of_the_split_file(prid_copy, capsys):
    split_file = prid_copy / 'prid2011' / 'splits_prid2011.json'
    split_file.unlink()
    split_file.mkdir()
    assert prepare_splits.main(['--dataset', 'prid2011', '--root', str(prid_copy), '--random',
                                '--min-frames', '1', '--overwrite']) == 2
    assert error_lines(capsys.readouterr().err) == [
        f'error: cannot write "{split_file}": Is a directory']


def test_a_directory_in_place_of_a_mars_file_is_named(tiny_mars_root, tmp_path, capsys):
    root = tmp_path / 'data'
    shutil.copytree(tiny_mars_root, root)
    query = root / 'mars' / 'info' / 'query_IDX.mat'
    query.unlink()
    query.mkdir()
    code, _, err = run_train(tiny_options(root, tmp_path / 'log', 'data.sources', "['mars']",
                                          'data.targets', "['mars']"), capsys)
    assert one_error(code, err) == (f'error: "{query}" is a directory where the mars data set '
                                    'needs a file')


@pytest.mark.parametrize('engine, checkpoint', [
    ('dal', 'checkpoint-latest.pth.tar'), ('softmax', 'model.pth.tar-1'),
])
def test_a_directory_in_place_of_a_checkpoint_is_named(tiny_prid2011_root, tmp_path, capsys,
                                                       monkeypatch, engine, checkpoint):
    save_dir = tmp_path / 'log'
    in_the_way = save_dir / 'model' / checkpoint
    # a new run moves an earlier run's model/ aside: the directory appears after that
    from dal_torchreid.experiment import run as experiment
    set_aside_run = experiment.set_aside_run

    def set_aside_then_block(*args, **kwargs):
        moved = set_aside_run(*args, **kwargs)
        in_the_way.mkdir(parents=True)
        return moved
    monkeypatch.setattr(experiment, 'set_aside_run', set_aside_then_block)
    extra = ['train.max_epoch', '1', 'loss.name', engine]
    if engine == 'softmax':
        extra += ['train.supervised_epochs', '1', 'video.train_sample_method', 'evenly',
                  'video.seq_len', '4']
    code, _, err = run_train(tiny_options(tiny_prid2011_root, save_dir, *extra), capsys)
    assert one_error(code, err) == f'error: cannot write "{in_the_way}": Is a directory'
    assert not (save_dir / 'run.lock').exists()
