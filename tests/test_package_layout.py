"""The package keeps torchreid's shape: subpackages by concern, imports that only go down.

Every ``import`` of the package's own modules (at the top of a file or inside a
function alike) is read from the source. A subpackage may import its own modules and
those of the layers below it, never one above, nor one beside it on its own layer; no
two modules import each other, directly or through others.
"""
import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / 'dal_torchreid'

# Bottom to top: a subpackage may import those on lower layers only.
LAYERS = [
    {'files'},                          # file errors, the output-folder lock
    {'metrics', 'losses', 'optim'},     # the method's math, torchreid's missing pieces
    {'data', 'models', 'cluster'},      # data sets, backbones, generic clustering
    {'engine'},                         # the engines, their features, diagnostics
    {'footage'},                        # a user's footage: tracklets to global ids
    {'experiment'},                     # a config to a run and its records
    {'demo'},                           # dal-demo's comparisons
    {'cli', 'benchmarks'},              # the commands
    {'plugin'},                         # registration in torchreid's namespaces
    {'__init__'},                       # the package: registers the plugin on import
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
TOP_LEVEL_MODULES = {'__init__.py', 'plugin.py'}


def module_name(path: pathlib.Path) -> str:
    parts = ('dal_torchreid',) + path.relative_to(PACKAGE).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob('*.py')}


def is_package(name: str) -> bool:
    return MODULES[name].name == '__init__.py'


def imported(name: str) -> set[str]:
    """The package's modules that module ``name`` imports."""
    tree = ast.parse(MODULES[name].read_text(encoding='utf-8'))
    base = name if is_package(name) else name.rpartition('.')[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ''
            if node.level:
                parent = base.split('.')
                parent = parent[:len(parent) - node.level + 1]
                module = '.'.join(parent + ([module] if module else []))
            # ``from pkg import sub`` imports the submodule ``pkg.sub``
            targets = [f'{module}.{a.name}' if f'{module}.{a.name}' in MODULES else module
                       for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:  # a name inside a module
                target = target.rpartition('.')[0]
            if target.startswith('dal_torchreid') and target != name:
                found.add(target)
    return found


GRAPH = {name: imported(name) for name in MODULES}


def layer(name: str) -> str:
    parts = name.split('.')
    return parts[1] if len(parts) > 1 else '__init__'


def test_the_top_level_holds_only_the_package_and_the_plugin():
    loose = {p.name for p in PACKAGE.iterdir() if p.suffix == '.py'}
    assert loose == TOP_LEVEL_MODULES
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != '__pycache__'}
    assert folders == set(RANK) - {'plugin', '__init__'}, 'a new subpackage needs a layer here'


@pytest.mark.parametrize('name', sorted(MODULES))
def test_imports_only_go_down(name):
    mine = RANK[layer(name)]
    upward = sorted(t for t in GRAPH[name] if layer(t) != layer(name) and RANK[layer(t)] >= mine)
    assert not upward, (f'{name} imports {upward}: a layer imports only those below it '
                        f'(layers bottom to top: {LAYERS})')


def cycles(graph: dict) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_two_modules_import_each_other():
    """No cycle of imports among the package's modules (a package importing its own
    submodules to re-export them is a cycle only if one imports the package back)."""
    assert not cycles(GRAPH), f'modules that import each other: {cycles(GRAPH)}'


def test_the_checks_see_what_they_refuse():
    """An import inside a function counts; a cycle through a third module is found."""
    assert 'dal_torchreid.engine.features' in GRAPH['dal_torchreid.footage.association']
    assert cycles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}) == [['a', 'b', 'c']]
    assert cycles({'a': {'b'}, 'b': set()}) == []
    assert RANK[layer('dal_torchreid.engine.video_dal')] > RANK[layer('dal_torchreid.data')]
