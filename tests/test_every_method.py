"Every registered method, built by name with its defaults: one training step, features, and every trained weight reached."
import pytest, torch
import visgen  # noqa: F401
from visgen.registry import load_methods, create_method, check_contract

@pytest.mark.parametrize('name', load_methods())
def test_method_contract(name):
    torch.manual_seed(0)
    m = check_contract(create_method(name).train(), name)   # defaults: micro, 8x8, one channel
    x = torch.randn(4, 1, 8, 8)
    out = m(x)
    loss = out['loss']
    assert loss.ndim == 0 and torch.isfinite(loss), (name, loss)
    loss.backward()
    trained = {n for n, p in m.named_parameters() if p.requires_grad}
    reached = {n for n, p in m.named_parameters() if p.grad is not None}
    if not getattr(m, 'find_unused_parameters', False):   # DDP needs every trained weight in the graph, or the declaration
        assert trained == reached, (name, sorted(trained - reached)[:5])
    with torch.no_grad(): f = m.eval().features(x)
    assert f.ndim == 2 and f.shape[0] == 4 and torch.isfinite(f).all(), (name, f.shape)
