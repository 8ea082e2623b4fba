"""What a run records: its config when it starts, the environment line, results.json with
package versions, every evaluation, numbers without float32 noise; no torchreid Cython
warning."""
import json
import subprocess
import sys

from cli_helpers import TRAIN, run_train, subprocess_env, tiny_options


def floats(value, under=''):
    if isinstance(value, float):
        yield under, value
    elif isinstance(value, dict):
        for k, v in value.items():
            if k != 'config':
                yield from floats(v, f'{under}.{k}')
    elif isinstance(value, list):
        for v in value:
            yield from floats(v, under)


def test_a_run_records_its_config_environment_versions_and_every_evaluation(
        tiny_prid2011_root, tmp_path, capsys):
    save_dir = tmp_path / 'dal'
    options = tiny_options(tiny_prid2011_root, save_dir, 'train.max_epoch', 2,
                           'test.eval_freq', 1)
    code, out, err = run_train(options, capsys)
    assert code == 0, err
    assert '=> environment: python ' in out and 'rank evaluation: torchreid' in out
    with open(save_dir / 'results.json') as f:
        record = json.load(f)
    assert set(record['versions']) == {'python', 'torch', 'torchvision', 'torchreid',
                                       'dal_torchreid'}
    assert [e['epoch'] for e in record['evaluations']] == [1, 2]
    last = record['evaluations'][-1]['targets']['prid2011']
    assert last == {k: record['targets']['prid2011'][k] for k in ('rank1', 'mAP')}
    noisy = [(k, v) for k, v in floats(record) if float(f'{v:.6g}') != v]
    assert not noisy, noisy[:3]
    code, printed, _ = run_train(options + ['--print-config'], capsys)
    assert code == 0 and (save_dir / 'config.yaml').read_text() == printed


def test_no_cython_warning_from_the_commands():
    done = subprocess.run([sys.executable, TRAIN, '--help'], env=subprocess_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and 'Cython' not in done.stderr + done.stdout
