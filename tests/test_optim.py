"""TensorFlow-style RMSProp, weight-decay scope, BatchNorm momentum and the optimizer builder."""
import math

import pytest
import torch
import torchreid
from torch import nn

from dal_torchreid.optim import (
    OPTIMIZERS, RELEASE_BN_MOMENTUM, RMSpropTF, build_optimizer, check_bn_momentum, check_optim,
    check_weight_decay_scope, is_depthwise, param_groups, release_bn_momentum, set_bn_momentum,
)

GRADS = ([0.5, -2.0, 0.01], [1.5, 0.3, -0.02])
START = [1.0, -1.0, 0.5]


def tf1_rmsprop(p, grads, lrs, rho, momentum, eps, weight_decay):
    """TF1's ApplyRMSProp by hand, one float at a time: ms starts at 1, mom at 0."""
    p, ms, mom = list(p), [1.0] * len(p), [0.0] * len(p)
    for g, lr in zip(grads, lrs):
        for i in range(len(p)):
            gi = g[i] + weight_decay * p[i]
            ms[i] = rho * ms[i] + (1 - rho) * gi ** 2
            mom[i] = momentum * mom[i] + lr * gi / math.sqrt(ms[i] + eps)
            p[i] -= mom[i]
    return p


def two_steps(optimizer_cls, lrs, **kwargs):
    p = nn.Parameter(torch.tensor(START, dtype=torch.float64))
    opt = optimizer_cls([p], lr=lrs[0], **kwargs)
    for g, lr in zip(GRADS, lrs):
        opt.param_groups[0]['lr'] = lr
        p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
    return p.detach()


@pytest.mark.parametrize('eps,weight_decay', [(1.0, 0.0), (1e-10, 0.0), (1.0, 0.3)])
def test_rmsprop_tf_matches_tf1_by_hand(eps, weight_decay):
    lrs = (0.045, 0.045 * 0.94)  # a staircase decay between the steps: lr sits inside mom
    got = two_steps(RMSpropTF, lrs, alpha=0.9, eps=eps, momentum=0.9, weight_decay=weight_decay)
    want = tf1_rmsprop(START, GRADS, lrs, rho=0.9, momentum=0.9, eps=eps,
                       weight_decay=weight_decay)
    assert torch.allclose(got, torch.tensor(want, dtype=torch.float64), rtol=0, atol=1e-12)
    torch_rms = two_steps(torch.optim.RMSprop, lrs, alpha=0.9, eps=eps, momentum=0.9,
                          weight_decay=weight_decay)
    assert (torch_rms - got).abs().max() > 1e-3  # PyTorch's RMSprop is another update


def test_rmsprop_tf_without_momentum_and_state():
    p = nn.Parameter(torch.tensor([2.0], dtype=torch.float64))
    opt = RMSpropTF([p], lr=0.1, eps=1.0)
    p.grad = torch.tensor([3.0], dtype=torch.float64)
    opt.step()
    ms = 0.9 + 0.1 * 9.0
    assert p.item() == pytest.approx(2.0 - 0.1 * 3.0 / math.sqrt(ms + 1.0), abs=1e-12)
    assert opt.state[p]['square_avg'].item() == pytest.approx(ms)
    q = nn.Parameter(torch.zeros(1))  # no gradient: untouched, no state
    opt.add_param_group({'params': [q]})
    opt.step()
    assert q.item() == 0 and q not in opt.state


@pytest.mark.parametrize('kwargs,message', [
    (dict(lr=0.0), 'lr must be > 0'), (dict(lr=0.1, alpha=1.0), 'alpha must be in'),
    (dict(lr=0.1, eps=0.0), 'eps must be > 0'), (dict(lr=0.1, momentum=-0.1), 'momentum must be'),
    (dict(lr=0.1, weight_decay=-1.0), 'weight_decay must be >= 0'),
])
def test_rmsprop_tf_refuses_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RMSpropTF([nn.Parameter(torch.zeros(1))], **kwargs)


def mobilenet(frozen_classifier=True):
    model = torchreid.models.build_model('mobilenetv2_x1_0', num_classes=5, pretrained=False)
    model.classifier.requires_grad_(not frozen_classifier)
    return model


def test_param_groups_decay_conv_and_linear_weights_only():
    model = mobilenet(frozen_classifier=False)
    decayed, rest = param_groups(model, 4e-5)
    assert decayed['weight_decay'] == 4e-5 and rest['weight_decay'] == 0.0
    decayed_ids = {id(p) for p in decayed['params']}
    rest_ids = {id(p) for p in rest['params']}
    depthwise = [m for m in model.modules() if is_depthwise(m)]
    assert len(depthwise) == 17  # one per bottleneck
    assert all(m.groups == m.in_channels == m.out_channels for m in depthwise)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            assert {id(m.weight), id(m.bias)} <= rest_ids
        elif isinstance(m, (nn.Conv2d, nn.Linear)):
            assert id(m.weight) in (rest_ids if m in depthwise else decayed_ids)
            if m.bias is not None:
                assert id(m.bias) in rest_ids
    assert id(model.classifier.weight) in decayed_ids and id(model.classifier.bias) in rest_ids
    assert not decayed_ids & rest_ids
    assert len(decayed_ids) + len(rest_ids) == len(list(model.parameters()))


def test_param_groups_leave_out_frozen_parameters():
    model = mobilenet(frozen_classifier=True)
    ids = {id(p) for g in param_groups(model, 4e-5) for p in g['params']}
    assert id(model.classifier.weight) not in ids and id(model.classifier.bias) not in ids
    assert ids == {id(p) for p in model.parameters() if p.requires_grad}


def test_zero_gradient_step_shrinks_conv_weights_only():
    model = mobilenet()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    lr, wd = 0.1, 0.01
    optimizer = build_optimizer(model, optim='sgd', lr=lr, weight_decay=wd, momentum=0.0,
                                weight_decay_scope='conv_linear')
    assert type(optimizer) is torch.optim.SGD
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    after = model.state_dict()
    conv = 'conv1.conv.weight'
    assert torch.allclose(after[conv], before[conv] * (1 - lr * wd))
    for name in ('conv1.bn.weight', 'conv1.bn.bias', 'conv2.0.conv1.bn.weight',
                 'conv2.0.dwconv2.conv.weight', 'classifier.weight', 'classifier.bias'):
        assert torch.equal(after[name], before[name]), name
    # torchreid's scope decays everything, BatchNorm and depthwise weights included
    model.load_state_dict(before)
    optimizer = build_optimizer(model, optim='sgd', lr=lr, weight_decay=wd, momentum=0.0)
    optimizer.step()
    for name in ('conv1.bn.weight', 'conv2.0.dwconv2.conv.weight'):
        assert torch.allclose(model.state_dict()[name], before[name] * (1 - lr * wd)), name


@pytest.mark.parametrize('optim', OPTIMIZERS)
def test_build_optimizer_every_name_with_both_scopes(optim):
    model = mobilenet()
    for scope in ('all', 'conv_linear'):
        optimizer = build_optimizer(model, optim=optim, lr=0.01, weight_decay=4e-5,
                                    weight_decay_scope=scope, rmsprop_eps=1.0)
        decays = sorted({g['weight_decay'] for g in optimizer.param_groups})
        assert decays == ([4e-5] if scope == 'all' else [0.0, 4e-5])
        if optim.startswith('rmsprop'):
            assert all(g['eps'] == 1.0 for g in optimizer.param_groups)
        assert (type(optimizer) is RMSpropTF) == (optim == 'rmsprop_tf')
        before = model.conv1.conv.weight.clone()
        optimizer.zero_grad()
        model.train()(torch.randn(2, 3, 32, 16)).square().mean().backward()
        optimizer.step()
        assert torch.isfinite(model.conv1.conv.weight).all()
        assert not torch.equal(model.conv1.conv.weight, before)


def test_build_optimizer_refuses_bad_settings():
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match='^optim must be one of'):
        build_optimizer(model, optim='lamb')
    with pytest.raises(ValueError, match='^weight_decay_scope must be one of'):
        build_optimizer(model, weight_decay_scope='bn')
    with pytest.raises(ValueError, match='^weight_decay must be >= 0'):
        build_optimizer(model, weight_decay=-1.0)
    with pytest.raises(ValueError, match='^staged_lr'):
        build_optimizer(model, optim='rmsprop_tf', staged_lr=True, new_layers='classifier')
    check_optim('rmsprop_tf')
    check_weight_decay_scope('conv_linear')


def test_bn_momentum_sets_the_running_statistics_rate():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4), nn.Flatten(), nn.BatchNorm1d(64))
    assert set_bn_momentum(model, 0.003) == 2
    x = torch.randn(8, 3, 4, 4) + 2.0
    with torch.no_grad():
        batch_mean = model[0](x).mean(dim=(0, 2, 3))
        model.train()(x)
    assert torch.allclose(model[1].running_mean, 0.003 * batch_mean, atol=1e-7)
    assert not torch.allclose(model[1].running_mean, 0.1 * batch_mean, atol=1e-4)
    assert model[3].momentum == 0.003


def test_bn_momentum_zero_keeps_the_model_and_release_table():
    model = mobilenet()
    assert set_bn_momentum(model, 0.0) == 0
    assert all(m.momentum == 0.1 for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert set_bn_momentum(model, release_bn_momentum('mobilenetv2_x1_0')) == 53
    assert all(m.momentum == 3e-4 for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert release_bn_momentum('resnet50') == RELEASE_BN_MOMENTUM['resnet'] == 3e-3
    assert math.isclose(RELEASE_BN_MOMENTUM['mobilenet'], 1 - 0.9997)
    with pytest.raises(ValueError, match="^arch 'osnet_x1_0'"):
        release_bn_momentum('osnet_x1_0')
    with pytest.raises(ValueError, match='^bn_momentum must be in'):
        check_bn_momentum(1.5)
