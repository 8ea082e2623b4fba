"""What a run records: its config when it starts, the environment line, results.json with
package versions, every evaluation, numbers without float32 noise; no torchreid Cython
warning."""
import json
import subprocess
import sys

from cli_helpers import TRAIN, run_train, subprocess_env, tiny_options

SLOW = 600  # seconds a tiny run may take on a loaded machine


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
    code, out, err = run_train(options, capsys, seconds=SLOW)
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
    code, printed, _ = run_train(options + ['--print-config'], capsys, seconds=SLOW)
    assert code == 0 and (save_dir / 'config.yaml').read_text() == printed


def test_no_cython_warning_from_the_commands():
    done = subprocess.run([sys.executable, TRAIN, '--help'], env=subprocess_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and 'Cython' not in done.stderr + done.stdout


def test_diagnostics_plots_are_titled_with_whole_epochs_a_clear_legend_and_warm_up_marked():
    from dal_torchreid.experiment.results import epoch_figure
    history = [dict(epoch=e, num_associations=n, precision=p, recall=r)
               for e, n, p, r in [(1, 0, 0.0, 0.0), (2, 0, 0.0, 0.0), (3, 40, 0.6, 0.3),
                                  (4, 50, 0.7, 0.4), (5, 55, 0.8, 0.5)]]
    fig = epoch_figure(history, 'num_associations', 'associations', ('precision', 'recall'),
                       title='dal_resnet50_prid2011: DAL', warmup_epochs=2)
    fig.canvas.draw()
    assert fig._suptitle.get_text() == 'dal_resnet50_prid2011: DAL'
    left, right = fig.axes
    for ax in (left, right):
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks)
        spans = [p for p in ax.patches if p.get_label() == 'warm-up']
        assert len(spans) == 1 and spans[0].get_x() + spans[0].get_width() == 2.5
    for line in right.get_lines():  # warm-up epochs are not drawn as zeros
        assert list(line.get_xdata()) == [3, 4, 5]
    legend = right.get_legend().get_window_extent()
    assert legend.x0 >= right.get_window_extent().x1  # beside the axes, clear of the data
    assert legend.x1 <= fig.get_window_extent().x1
