"""Every Python block of docs/own_data.md runs, in order, on tiny synthetic footage, and builds
its model the way that loads weights (issue 34, S13).

The blocks share one working folder holding ``footage/`` and ``tracks/`` (the tiny
footage); the only changes made to them are the ones a machine without network and
without time needs: no ImageNet download (``pretrained=False``) and one epoch instead of
eight (and the weights file of that epoch)."""
import os
import re

import pytest

from footage_fixtures import forget_footage_datasets, tiny_footage  # noqa: F401  (fixtures)

PAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'docs',
                    'own_data.md')
OFFLINE_AND_SHORT = {'pretrained=True': 'pretrained=False', 'max_epoch=8': 'max_epoch=1',
                     'model.pth.tar-8': 'model.pth.tar-1'}


def python_blocks():
    with open(PAGE, encoding='utf-8') as f:
        return re.findall(r'^```python\n(.*?)^```', f.read(), re.S | re.M)


def test_every_model_is_built_the_way_that_loads_its_weights():
    blocks = python_blocks()
    assert len(blocks) >= 3
    for block in blocks:
        assert 'torchreid.models.build_model' not in block  # warns, then random weights
        if 'build_model(' in block:
            assert 'from dal_torchreid.models import build_model' in block
            assert 'pretrained=True' in block or 'load_weights(model' in block


def test_the_python_blocks_run_in_order_on_tiny_footage(tiny_footage, tmp_path, monkeypatch,
                                                         capsys):
    footage, tracks, _ = tiny_footage
    os.symlink(footage, tmp_path / 'footage')
    os.symlink(tracks, tmp_path / 'tracks')
    monkeypatch.chdir(tmp_path)
    for number, block in enumerate(python_blocks(), 1):
        code = block
        for documented, here in OFFLINE_AND_SHORT.items():
            code = code.replace(documented, here)
        try:
            exec(compile(code, f'{PAGE} python block {number}', 'exec'), {})
        except Exception as err:
            pytest.fail(f'python block {number} of docs/own_data.md failed: {err!r}\n{block}')
    assert (tmp_path / 'log' / 'shop' / 'model' / 'model.pth.tar-1').is_file()
    out = capsys.readouterr().out
    assert 'Loaded weights from "log/shop/model/model.pth.tar-1"' in out
    summary = open(tmp_path / 'out' / 'shop' / 'summary.json').read()
    assert '"scores"' in summary
