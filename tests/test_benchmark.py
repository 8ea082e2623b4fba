"""tools/benchmark.py in its small mode: three positive finite ratios, printed and written."""
import json
import math

import torch

from dal_torchreid.benchmarks import speed as benchmark


def test_small_benchmark_writes_the_three_ratios(tmp_path, capsys):
    threads = torch.get_num_threads()
    path = tmp_path / 'out' / 'benchmark.json'
    assert benchmark.main(['--small', '--threads', '1', '--json', str(path)]) == 0
    assert torch.get_num_threads() == threads
    with open(path) as f:
        report = json.load(f)
    out = capsys.readouterr().out
    for key in ('train_throughput_ratio', 'loss_overhead_fraction', 'eval_speedup'):
        assert math.isfinite(report[key]) and report[key] > 0, (key, report[key])
        assert key in out
    assert report['mode'] == 'small' and report['machine']['threads'] == 1
    assert report['machine']['torch'] == torch.__version__
    assert 'machine:' in out and '>=0.95' in out and '<=0.02' in out and '>=3.0' in out
