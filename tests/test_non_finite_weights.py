"""Weights of a run that diverged are refused where they would be used: dal-export-weights
and model.load_weights name the file and a tensor, and write nothing (issue 34, S11)."""
import pytest
import torch
import torchreid

from dal_torchreid.cli.export_weights import main as export_main
from dal_torchreid.models import WeightsError, load_weights


@pytest.fixture
def nan_weights(tmp_path):
    model = torchreid.models.build_model('resnet18', num_classes=1, pretrained=False)
    state = model.state_dict()
    for tensor in state.values():
        if tensor.is_floating_point():
            tensor.fill_(float('nan'))
    path = tmp_path / 'model.pth.tar-3'
    torch.save({'state_dict': state, 'epoch': 3}, path)
    return path


def test_export_refuses_nan_weights_in_one_line(nan_weights, tmp_path, capsys):
    out = tmp_path / 'exported.pth'
    assert export_main([str(nan_weights), str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and 'Traceback' not in err
    assert f'"{nan_weights}"' in err and 'non-finite' in err and 'tensor "conv1.weight"' in err
    assert not out.exists()


def test_loading_an_infinite_value_is_refused(nan_weights, tmp_path):
    model = torchreid.models.build_model('resnet18', num_classes=1, pretrained=False)
    state = model.state_dict()
    state['layer4.1.bn2.running_var'][5] = float('inf')
    path = tmp_path / 'one-inf.pth'
    torch.save(state, path)
    with pytest.raises(WeightsError,
                       match=r'1 of the 512 values of tensor "layer4.1.bn2.running_var"'):
        load_weights(model, str(path))
