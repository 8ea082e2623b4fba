"""Running dal-train on the tiny data sets: in this process, or as a subprocess of this
checkout, with a deadline so that a regression that hangs fails instead."""
import os
import os.path as osp
import signal
from contextlib import contextmanager

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TRAIN = osp.join(REPO, 'tools', 'train.py')


def tiny_options(root, save_dir, *extra, options=()):
    """dal-train arguments for a tiny, CPU-only run of resnet18 on 32x16 frames."""
    return ['--root', str(root), *options,
            'data.save_dir', str(save_dir), 'data.workers', '0', 'data.height', '32',
            'data.width', '16', 'data.transforms', '[]', 'model.name', 'resnet18',
            'model.pretrained', 'False', 'use_gpu', 'False', 'video.sample_method', 'all',
            'test.batch_size', '1', 'test.ranks', '[1, 2]', 'train.batch_size', '8',
            'train.print_freq', '100', 'dal.warmup_epochs', '1', 'train.seed', '3', *extra]


def subprocess_env():
    """The environment for a subprocess that must import this checkout's dal_torchreid
    (not another installed copy): the checkout first on PYTHONPATH, one thread."""
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env['PYTHONPATH'] = os.pathsep.join([REPO] + [p for p in [env.get('PYTHONPATH')] if p])
    return env


class DeadlineExceeded(Exception):
    """Raised by :func:`deadline`; not an ``OSError``, so a loop that retries on
    ``IOError`` (torchreid's ``read_image``) cannot swallow it."""


@contextmanager
def deadline(seconds):
    """Fails the code inside after ``seconds`` instead of letting it hang."""
    def fail(*_):
        raise DeadlineExceeded(f'no answer within {seconds} s')
    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run_train(argv, capsys, seconds=120):
    """``dal-train argv`` in this process: (exit code, stdout, stderr)."""
    from dal_torchreid.cli.train import main
    capsys.readouterr()
    with deadline(seconds):
        code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def error_lines(stderr):
    """The ``error:`` lines dal-train wrote."""
    return [line for line in stderr.splitlines() if line.startswith('error: ')]


def one_error(code, stderr):
    """The one ``error:`` line of a run that stopped with exit code 2 and no traceback."""
    assert code == 2, stderr[-2000:]
    assert 'Traceback' not in stderr
    [line] = error_lines(stderr)
    return line


def log_text(save_dir, kind='train'):
    """The text of the one ``<kind>.log-<time>`` in ``save_dir``."""
    logs = [n for n in os.listdir(save_dir) if n.startswith(f'{kind}.log')]
    assert len(logs) == 1, logs
    with open(osp.join(save_dir, logs[0])) as f:
        return f.read()


