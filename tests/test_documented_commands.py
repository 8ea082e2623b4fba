"""Every command the README and docs/ show runs: each ``dal-*`` command (and ``torchrun
tools/train.py``) found in a code block or an inline code span is parsed by its tool, and
each one that takes a config proves that config valid, reading no data; every config in
configs/ and the built-in defaults are valid for every engine."""
import glob
import os
import os.path as osp
import re
import shlex

import pytest

from dal_torchreid.experiment.config import load_config
from dal_torchreid.experiment.config.torchreid import ENGINES

from footage_fixtures import (  # noqa: F401  (fixtures)
    forget_footage_datasets, tiny_footage, tiny_tracklets
)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PAGES = [osp.join(REPO, 'README.md')] + sorted(glob.glob(osp.join(REPO, 'docs', '*.md')))
CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', '*.yaml')))
TOOLS = ('dal-train', 'dal-run-splits', 'dal-demo', 'dal-prepare-splits', 'dal-make-synthetic',
         'dal-benchmark', 'dal-fetch-weights', 'dal-make-tracklets', 'dal-associate',
         'dal-export-weights', 'dal-search', 'tools/train.py')
FENCE = re.compile(r'^```([^\n]*)\n(.*?)^```', re.S | re.M)
SHELL_FENCES = ('bash', 'sh', 'shell', 'console')
# The docs' placeholders, as a reader fills them in.
PLACEHOLDERS = {'N': '2', 'SEED': '1', 'ROOT': 'reid-data', 'R': 'reid-data',
                'F': 'configs/synthetic_demo.yaml', 'PATH': 'log/run/model/model.pth.tar-1'}
OPTIONAL = re.compile(r'\s*\[(?:-|[A-Z][A-Z ]*\b|[^\]]*\.\.\.)[^\]]*\]')
SPAN = re.compile(r'`([^`]+)`')


def _commands_in_block(block):
    """Shell commands of a code block: continuation lines joined, comments dropped, the
    block's own ``NAME="..."`` variables filled in."""
    text = re.sub(r'\\\n', ' ', block)
    variables = {}
    for line in text.splitlines():
        line = line.split(' #', 1)[0].strip()
        if line.startswith('#'):
            continue
        words = shlex.split(line) if line else []
        assigned = re.fullmatch(r'([A-Za-z_]\w*)=(.*)', words[0]) if len(words) == 1 else None
        if assigned:  # NAME="..." alone on its line (not NAME=value before a command)
            variables[assigned.group(1)] = assigned.group(2)
            continue
        yield re.sub(r'\$(\w+)', lambda m: variables.get(m.group(1), m.group(0)), line)


def _tool_call(text):
    """``(tool, argv)`` of a shell command that runs one of :data:`TOOLS`, else None."""
    try:
        words = shlex.split(text)
    except ValueError:
        return None
    for i, word in enumerate(words):
        if word in TOOLS and (i == 0 or words[i - 1].startswith('-') or '=' in words[i - 1]
                              or words[0] in ('torchrun', 'python')):
            return ('dal-train' if word == 'tools/train.py' else word), words[i + 1:]
        if not (re.match(r'\w+=', word) or word in ('torchrun', 'python')
                or word.startswith('-')):
            return None
    return None


def _alternatives(text):
    """A documented command with placeholders as the commands it stands for: optional
    ``[--option ...]`` and ``[KEY VALUE ...]`` parts left out, ``a|b`` as each
    alternative, :data:`PLACEHOLDERS` filled in."""
    text = OPTIONAL.sub('', text.replace('\\|', '|'))
    words = [PLACEHOLDERS.get(w, w) for w in text.split()]
    if not words:
        return []
    choices = [w.split('|') if '|' in w and '[' not in w else [w] for w in words]
    n = max(len(c) for c in choices)
    return [' '.join(c[min(i, len(c) - 1)] for c in choices) for i in range(n)]


def documented_commands():
    """``(page, tool, argv)`` of every tool command in the README and docs/."""
    found = []
    for page in PAGES:
        with open(page, encoding='utf-8') as f:
            text = f.read()
        name = osp.relpath(page, REPO)
        if name == osp.join('docs', 'config.md'):
            continue  # generated: the keys, no commands
        lines = [line for kind, block in FENCE.findall(text) if kind.strip() in SHELL_FENCES
                 for line in _commands_in_block(block)]
        lines += [' '.join(span.split()) for span in SPAN.findall(FENCE.sub('', text))]
        for line in (alt for line in lines for alt in _alternatives(line)):
            call = _tool_call(line)
            # a tool named in prose without arguments is no command
            if call is not None and call[1] and (name, *call) not in found:
                found.append((name, *call))
    return found


COMMANDS = documented_commands()


def test_the_docs_show_the_commands_this_test_checks():
    tools = {tool for _, tool, _ in COMMANDS}
    assert {'dal-train', 'dal-run-splits', 'dal-demo', 'dal-prepare-splits',
            'dal-make-synthetic', 'dal-benchmark', 'dal-make-tracklets', 'dal-associate',
            'dal-export-weights', 'dal-search'} <= tools
    readme = [argv for page, tool, argv in COMMANDS if page == 'README.md' and tool == 'dal-train']
    assert ['--engine', 'triplet'] in [argv[4:6] for argv in readme]


def _demo_configs(argv):
    from dal_torchreid.cli import demo
    return demo.demo_configs(demo.parse_args(argv))


def _parses(parse, argv):
    try:
        parse(argv)
    except SystemExit as err:
        if err.code != 0 or '--help' not in argv:  # --help prints and exits 0
            raise AssertionError(f'the parser refused {argv}') from err


@pytest.mark.parametrize('page,tool,argv', COMMANDS,
                         ids=lambda v: ' '.join(v) if isinstance(v, list) else str(v))
def test_documented_command_runs_its_config(page, tool, argv, capsys, monkeypatch, request,
                                            tmp_path):
    """A training command prints its config (proving it valid, reading no data); any other
    command's arguments are accepted by its parser. A command on a user's footage (``-s``
    naming no torchreid data set) runs on a tiny tracklet set cut from synthetic footage,
    placed under its name in a data root of its own."""
    monkeypatch.chdir(REPO)
    if '-s' in argv and '--root' in argv and '--help' not in argv:
        from dal_torchreid.data.datamanager import registered_video_datasets
        name = argv[argv.index('-s') + 1]
        if name not in registered_video_datasets():
            root, tiny = request.getfixturevalue('tiny_tracklets')
            os.symlink(osp.join(root, tiny), tmp_path / name)
            argv = list(argv)
            argv[argv.index('--root') + 1] = str(tmp_path)
    if tool in ('dal-train', 'dal-run-splits', 'dal-associate', 'dal-search'):
        from dal_torchreid.cli import associate, run_splits, search, train
        main = {'dal-train': train.main, 'dal-run-splits': run_splits.main,
                'dal-associate': associate.main, 'dal-search': search.main}[tool]
        code = main(argv + ['--print-config'])
        err = capsys.readouterr().err
        assert code == 0, f'{page}: {tool} {" ".join(argv)}: {err}'
    elif tool == 'dal-demo':
        configs = _demo_configs(argv)
        assert [cfg.loss.name for cfg in configs.values()][1:] == ['dal', 'cc', 'triplet']
    elif tool == 'dal-prepare-splits':
        from dal_torchreid.cli.prepare_splits import build_parser
        _parses(build_parser().parse_args, argv)
    elif tool == 'dal-make-tracklets':
        from dal_torchreid.cli.make_tracklets import build_parser
        _parses(build_parser().parse_args, argv)
    elif tool == 'dal-make-synthetic':
        from dal_torchreid.cli.make_synthetic_data import parse_args
        _parses(parse_args, argv)
    elif tool == 'dal-benchmark':
        from dal_torchreid.benchmarks.speed import parse_args
        if '--device' in argv and argv[argv.index('--device') + 1] == 'cuda':
            pytest.skip('--device cuda needs a CUDA device')
        _parses(parse_args, argv)
    elif tool == 'dal-export-weights':
        from dal_torchreid.cli.export_weights import build_parser
        _parses(build_parser().parse_args, argv)
    else:
        from dal_torchreid.cli.fetch_weights import build_parser
        _parses(build_parser().parse_args, argv)


@pytest.mark.parametrize('engine', ENGINES)
@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_every_config_is_valid_for_every_engine(path, engine):
    cfg = load_config(path, ['loss.name', engine])
    assert cfg.loss.name == engine


@pytest.mark.parametrize('engine', ENGINES)
def test_the_defaults_are_valid_for_every_engine(engine, capsys):
    from dal_torchreid.cli.train import main
    assert main(['--print-config', '--engine', engine]) == 0, capsys.readouterr().err
    assert f'name: {engine}' in capsys.readouterr().out
