"""dal-benchmark: interleaved timing, robust ratios, and the GPU script run on the CPU."""
import json
import math
import os
import subprocess
import sys

import pytest
import torch

from dal_torchreid.benchmarks import loss_scale
from dal_torchreid.benchmarks import speed as benchmark

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_interleaved_sides_take_turns_after_warmup():
    calls = []

    def side(name, seconds):
        def run():
            calls.append(name)
            return seconds[len([c for c in calls if c == name]) - 1]
        return run

    a, b = benchmark.interleaved([side('A', [9, 1, 2, 3]), side('B', [9, 4, 5, 6])], rounds=3,
                                 warmup=1)
    assert calls == ['A', 'B', 'B', 'A', 'A', 'B', 'B', 'A']
    assert (a, b) == ([1, 2, 3], [4, 5, 6])  # the warm-up round is not kept
    calls.clear()
    benchmark.interleaved([side('A', [0] * 3), side('B', [0] * 3), side('C', [0] * 3)], rounds=3)
    assert calls == ['A', 'B', 'C', 'B', 'C', 'A', 'C', 'A', 'B']
    with pytest.raises(ValueError, match='rounds must be >= 1'):
        benchmark.interleaved([side('A', [0])], rounds=0)


def test_warmup_goes_on_while_step_times_fall():
    def side(seconds):
        it = iter(seconds)
        return lambda: next(it)

    warm = []
    # A settles after its third round (9, 6, 6.1: not 3% below 6); B is steady
    a, b = benchmark.interleaved([side([9, 6, 6.1, 1, 2]), side([5, 5, 5, 3, 4])], rounds=2,
                                 warmup=1, max_warmup=5, warmup_seconds=warm)
    assert warm == [[9, 5], [6, 5], [6.1, 5]] and (a, b) == ([1, 2], [3, 4])
    # still falling at the cap: max_warmup rounds, then the timed ones
    a, _ = benchmark.interleaved([side([9, 8, 7, 1]), side([5, 5, 5, 3])], rounds=1, warmup=1,
                                 max_warmup=3, warmup_seconds=warm)
    assert len(warm) == 3 and a == [1]
    # warmup without max_warmup: exactly that many rounds, as before
    a, _ = benchmark.interleaved([side([9, 8, 7, 1]), side([5, 5, 5, 3])], rounds=1, warmup=3)
    assert a == [1]


def test_ratio_summary_is_the_median_and_quartiles_of_per_pair_ratios():
    s = benchmark.ratio_summary([1.0, 2.0, 3.0, 4.0, 50.0], [1.0, 1.0, 1.0, 1.0, 1.0])
    assert s['pairs'] == [1.0, 2.0, 3.0, 4.0, 50.0]
    # the outlier moves neither the median nor the quartiles
    assert (s['median'], s['q1'], s['q3'], s['iqr']) == (3.0, 2.0, 4.0, 2.0)
    s = benchmark.ratio_summary([2.0, 6.0], [4.0, 3.0])  # pairs, not sums: 0.5 and 2
    assert s['pairs'] == [0.5, 2.0] and s['median'] == pytest.approx(1.25)
    assert benchmark.ratio_summary([3.0], [2.0])['iqr'] == 0
    # low: the sides' lower quartiles, untouched by a minority of slow (disturbed) steps
    s = benchmark.ratio_summary([4.0, 4.0, 4.0, 4.0, 8.0], [2.0, 9.0, 2.0, 2.0, 2.0])
    assert s['low'] == 2.0 and s['min'] == 2.0 and s['median'] == 2.0
    with pytest.raises(ValueError, match='as many numerators'):
        benchmark.ratio_summary([1.0], [1.0, 2.0])


def test_tracklet_chunks_cover_every_tracklet_once():
    chunks = benchmark.tracklet_chunks([4, 5, 3, 9, 2, 20, 1], 10)
    assert chunks == [[0, 1], [2], [3], [4], [5], [6]]
    assert benchmark.tracklet_chunks([4, 5, 1], 10) == [[0, 1, 2]]
    assert benchmark.tracklet_chunks([4, 5, 3], 0) == [[0, 1, 2]]


def _report(medians_and_quartiles):
    return {'spread': {key: {'median': m, 'q1': q1, 'q3': q3, 'iqr': q3 - q1, 'pairs': [m]}
                       for key, (m, q1, q3) in medians_and_quartiles.items()}}


def test_compare_says_whether_two_runs_agree_within_their_spread(tmp_path, capsys):
    first = _report({'train_throughput_ratio': (0.97, 0.96, 0.98),
                     'eval_speedup': (1.5, 1.4, 1.6)})
    second = _report({'train_throughput_ratio': (0.985, 0.975, 0.99),
                      'eval_speedup': (1.9, 1.7, 2.0)})
    rows = benchmark.compare_reports(first, second)
    assert [(r['ratio'], r['agree']) for r in rows] == [('train_throughput_ratio', True),
                                                        ('eval_speedup', False)]
    paths = []
    for i, report in enumerate((first, second)):
        paths.append(str(tmp_path / f'run{i}.json'))
        with open(paths[-1], 'w') as f:
            json.dump(report, f)
    assert benchmark.main(['--compare'] + paths) == 0
    out = capsys.readouterr().out
    assert 'train_throughput_ratio' in out and out.rstrip().endswith('no')
    assert benchmark.main(['--compare', paths[0], str(tmp_path / 'missing.json')]) == 2
    [line] = [e for e in capsys.readouterr().err.splitlines() if e.startswith('error: ')]
    assert 'cannot read benchmark report' in line


def test_parts_are_checked_and_threads_restored():
    with pytest.raises(SystemExit):
        benchmark.parse_args(['--parts', 'train,speed'])
    with pytest.raises(ValueError, match='parts must be'):
        benchmark.run_benchmark(small=True, parts=['speed'])
    threads = torch.get_num_threads()
    report = benchmark.run_benchmark(small=True, threads=1, parts=['scale'])
    assert torch.get_num_threads() == threads
    assert report['machine']['threads'] == 1 and 'spread' not in report
    rows = report['loss_scale']['rows']
    assert [r['tracklets'] for r in rows] == list(loss_scale.SMALL_TRACKLETS)


def test_gpu_script_runs_every_part_on_the_cpu_in_small_mode(tmp_path):
    """tools/benchmark_gpu.sh with BENCHMARK_DEVICE=cpu --small: the three ratios with their
    spread, the scale curve and the autocast step times, fp16 skipped with its reason."""
    out_dir = tmp_path / 'bench'
    env = dict(os.environ, PYTHON=sys.executable, BENCHMARK_DEVICE='cpu', OMP_NUM_THREADS='1')
    proc = subprocess.run(['bash', os.path.join(REPO, 'tools', 'benchmark_gpu.sh'), str(out_dir),
                           '--small', '--threads', '1'], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(out_dir / 'benchmark.json') as f:
        report = json.load(f)
    with open(out_dir / 'benchmark.txt') as f:
        printed = f.read()
    assert report['mode'] == 'small' and report['device'] == 'cpu'
    assert report['machine']['threads'] == 1 and report['machine']['torch'] == torch.__version__
    frames = report['timings']['eval_pair_frames']
    assert len(frames) >= 2 and sum(frames) == report['timings']['eval_frames']
    assert max(frames) <= benchmark.SMALL.eval_chunk
    for key in benchmark.RATIOS:
        s = report['spread'][key]
        assert len(s['pairs']) == (len(frames) if key == 'eval_speedup' else benchmark.SMALL.pairs)
        assert all(math.isfinite(r) and r > 0 for r in s['pairs'])
        assert s['q1'] <= s['median'] <= s['q3'] and report[key] == s['low'] > 0
        assert key in printed
    assert report['timings']['eval_feature_difference'] <= 1e-4
    assert '>=1.1' in printed and '<=0.02' in printed and '>=1.0' in printed
    rows = report['loss_scale']['rows']
    assert [r['tracklets'] for r in rows] == list(loss_scale.SMALL_TRACKLETS)
    assert rows[0]['anchor_mib'] == pytest.approx(
        loss_scale.anchor_bytes(loss_scale.SMALL_TRACKLETS[0], 128) / 2 ** 20)
    rows = [(r['engine'], r['amp'], r['channels_last']) for r in report['formats']['rows']]
    assert rows == [('torchreid', 'fp32', False), ('supervised', 'fp32', False),
                    ('supervised', 'fp32', True), ('dal', 'fp32', False), ('dal', 'fp32', True),
                    ('dal', 'bf16', False), ('dal', 'bf16', True)]
    assert report['formats']['rows'][0]['speedup']['median'] == 1.0
    assert all(len(r['seconds']) == benchmark.SMALL.format_rounds
               for r in report['formats']['rows'])
    assert 'fp16 skipped: fp16 autocast needs CUDA' in printed
    assert 'dal          bf16  channels-last' in printed
    assert 'machine:' in printed and 'load (1/5/15 min)' in printed
    assert 'benchmark_gpu.sh: done in' in proc.stdout


def test_call_format_benchmark_times_each_size_in_both_formats():
    from dal_torchreid.benchmarks.call_format import measure
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Flatten()).eval()
    rows = measure(model, torch.randn(6, 3, 16, 8), sizes=[2, 4], rounds=1)
    assert [row['frames_per_call'] for row in rows] == [2, 4]
    assert all(row['contiguous_ms'] > 0 and row['channels_last_ms'] > 0 for row in rows)


def test_bf16_conv_benchmark_counts_passes_and_prints_every_map(capsys):
    from dal_torchreid.benchmarks import bf16_conv
    assert bf16_conv.bad_passes(4, 2, bf16=False, passes=2, batch=2) == (0, 0, [])
    assert bf16_conv.bad_passes(2, 1, bf16=False, passes=1, batch=2, conv='depthwise-s2') == \
        (0, 0, [])  # float32 writes the padded taps' zero gradient
    assert bf16_conv.padded_kernel_taps(2, 1, stride=2) == [
        [0, 0], [0, 1], [0, 2], [1, 0], [1, 2], [2, 0], [2, 2]]  # row 0; columns 0 and 2
    assert bf16_conv.padded_kernel_taps(8, 4, stride=2) == []
    assert bf16_conv.main(['--passes', '1', '--batch', '1', '--convs', 'resnet-s2,depthwise-s1',
                           '--maps', '2x1,4x2', '--fp32']) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 + 2 * 2 * 2 + 1 and '1 passes each' in lines[0]
    assert lines[1].startswith('resnet-s2 2x1 map, bf16: wrong weight gradient in ')
    assert lines[2] == ('resnet-s2 2x1 map, fp32: wrong weight gradient in 0 of 1 passes '
                        '(0.0%; non-finite in 0), taps []; taps wholly in padding [[0, 0], '
                        '[0, 1], [0, 2], [1, 0], [1, 2], [2, 0], [2, 2]]')
    assert lines[-1].startswith('wrong taps outside the padding: ')
    for bad in (['--passes', '0'], ['--convs', 'vgg'], ['--maps', '2by1']):
        with pytest.raises(SystemExit):
            bf16_conv.main(bad)

def test_step_phases_split_each_engine_step_into_phases_that_add_up(tmp_path, capsys):
    from dal_torchreid.benchmarks import step_phases
    path = tmp_path / 'phases.json'
    assert step_phases.main(['--small', '--threads', '1', '--steps', '2', '--warmup', '0',
                             '--json', str(path)]) == 0
    with open(path) as f:
        report = json.load(f)
    assert set(report['steps']) == {'dal', 'softmax'}
    for rows in report['steps'].values():
        assert len(rows) == 2
        for row in rows:
            assert all(row[p] >= 0 for p in step_phases.PHASES)
            assert sum(row[p] for p in step_phases.PHASES) == pytest.approx(row['total'])
            assert sum(row[p + '_faults'] for p in step_phases.PHASES) == row['faults']
    dal = report['summary']['dal']
    assert dal['total']['min'] <= dal['total']['median'] <= dal['total']['p90'] <= \
        dal['total']['max']
    assert dal['phases']['clip']['median'] > 0  # DAL clips gradients, torchreid's step does not
    printed = capsys.readouterr().out
    assert 'dal: step median' in printed and 'softmax: step median' in printed


def test_phase_timer_refuses_a_step_that_is_not_the_engines():
    from dal_torchreid.benchmarks.step_phases import PhaseTimer
    model, criterion = torch.nn.Linear(2, 2), torch.nn.MSELoss()
    timer = PhaseTimer(model, criterion, torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(RuntimeError, match='no forward_start mark'):
        timer.time(lambda: None)
    timer.remove()


def test_a_target_is_met_only_when_low_and_median_both_meet_it():
    summary = {'low': 1.12, 'median': 1.05}
    assert not benchmark.target_met(summary, '>=', 1.1)
    assert benchmark.target_met(dict(summary, median=1.11), '>=', 1.1)
    assert benchmark.target_met({'low': 0.015, 'median': 0.019}, '<=', 0.02)
    assert not benchmark.target_met({'low': 0.021, 'median': 0.019}, '<=', 0.02)


def test_cluster_part_times_the_clustering_step():
    from dal_torchreid.benchmarks import cluster_scale
    assert 'cluster' in benchmark.PARTS
    result = cluster_scale.scale_rows((200, 400), dim=32, threads=1)
    assert [r['tracklets'] for r in result['rows']] == [200, 400]
    for r in result['rows']:
        assert r['total_s'] >= r['search_s'] > 0 and r['peak_mib'] >= 0
        assert r['clusters'] > 0 and 0 <= r['outliers'] <= 1
    assert 'clustering step' in benchmark.format_report(dict(
        cluster_scale=result, mode='small', backbone='resnet18', input=[64, 48],
        frames_per_batch=8, seconds=1.0, load={}, machine=benchmark.machine_info('cpu')))
