"""Every registered method, built by name with its defaults on a non-square image: one training step, features,
every trained weight reached, predictions in the contract's layout, and a training loss that compiles to one graph."""
import logging
import pytest, torch
import visgen  # noqa: F401
from visgen.registry import load_methods, create_method, check_contract

H, W = 8, 12   # non-square: rows and columns must not be confused anywhere


@pytest.mark.parametrize('name', load_methods())
def test_method_contract(name):
    torch.manual_seed(0)
    m = check_contract(create_method(name, img_size=(H, W)).train(), name)   # defaults: micro, patch 2, one channel
    x = torch.randn(4, 1, H, W)
    out = m(x)
    loss = out['loss']
    assert loss.ndim == 0 and torch.isfinite(loss), (name, loss)
    if 'pred' in out:   # patches (B, N, p*p*C) in raster order, or a reconstructed image (B, C, H, W)
        shape = tuple(out['pred'].shape)
        if len(shape) == 3: p = m.backbone.cfg.patch_size; assert shape == (4, (H // p) * (W // p), p * p), (name, shape)
        else: assert shape == (4, 1, H, W), (name, shape)
    loss.backward()
    trained = {n for n, p in m.named_parameters() if p.requires_grad}
    reached = {n for n, p in m.named_parameters() if p.grad is not None}
    if not getattr(m, 'find_unused_parameters', False):   # DDP needs every trained weight in the graph, or the declaration
        assert trained == reached, (name, sorted(trained - reached)[:5])
    with torch.no_grad(): f = m.eval().features(x)
    assert f.ndim == 2 and f.shape[0] == 4 and torch.isfinite(f).all(), (name, f.shape)


@pytest.mark.parametrize('name', load_methods())
def test_training_loss_is_one_graph(name):
    "`--compile` compiles the step's model: no method's loss may fall back to Python (a graph break) at its defaults."
    torch._dynamo.reset(); torch._logging.set_logs(dynamo=logging.ERROR)
    m = create_method(name, img_size=(H, W)).train()
    e = torch._dynamo.explain(lambda x: m(x)['loss'])(torch.randn(4, 1, H, W))
    assert e.graph_break_count == 0, (name, [str(b.reason)[:200] for b in e.break_reasons])
