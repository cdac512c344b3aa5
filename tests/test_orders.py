"SAIM and RandSAC from the command line (digits, 1 epoch, tiny model), the orders template under papermill, and the order API."
import json
import pytest
import torch
from conftest import run_visgen, TINY, ROOT

import visgen.core  # noqa: F401  (before timm)
from visgen.core import UserError
from visgen.serial import ORDERS, sample_rank, attention_args, order_from_rank, gather_tokens


@pytest.mark.parametrize('method,opts', [('saim', TINY), ('saim', TINY + ',share=true,order=raster'),
                                         ('randsac', TINY + ',order=blob,K=3'), ('randsac', TINY + ',decoder=twostream')])
def test_pretrain_cli(tmp_path, method, opts):
    out = tmp_path / 'run'
    p = run_visgen('pretrain', '--method', method, '--data', 'digits', '--epochs', 1, '--out', out, '--device', 'cpu',
                   '--quiet', '--opts', opts)
    assert p.returncode == 0, p.stdout + p.stderr
    m = json.loads((out / 'metrics.json').read_text())
    for k in ('knn_acc', 'linear_acc', 'random_knn_acc', 'random_linear_acc'): assert 0 <= m[k] <= 1, k
    assert m['final_loss'] == m['final_loss']     # not NaN
    if opts == TINY:                               # a finished run re-evaluates from its saved weights
        p = run_visgen('probe', '--run', out, '--device', 'cpu')
        assert p.returncode == 0, p.stderr
        assert json.loads((out / 'probe.json').read_text())['knn_acc'] == m['knn_acc']


def test_bad_order_options(tmp_path):
    p = run_visgen('pretrain', '--method', 'randsac', '--epochs', 1, '--out', tmp_path / 'r', '--quiet', '--opts', 'order=square,M=3')
    assert p.returncode == 2 and 'cannot tile the 4x4 token grid' in p.stderr and 'Traceback' not in p.stderr, p.stderr
    import visgen.saim, visgen.randsac  # noqa: F401  (registration)
    from visgen.registry import create_method
    for name, kw, msg in [('randsac', dict(order='zigzag'), "Unknown order 'zigzag'"), ('randsac', dict(M=4), 'makes a single segment'),
                          ('saim', dict(order='blob', K=0), 'K=0'), ('saim', dict(share=True, dec_depth=1), 'share=True')]:
        with pytest.raises(UserError, match=msg): create_method(name, img_size=8, patch_size=2, **kw)


def test_orders_template_runs(tmp_path):
    from visgen.cli import execute_template
    nb = execute_template(ROOT / 'experiments' / 'orders.ipynb', tmp_path / 'orders.ipynb', dict(
        epochs=1, device='cpu', out_dir=str(tmp_path / 'runs'), only=['RandSAC square M=2', 'SAIM stochastic']), cwd=ROOT)
    res = json.loads((tmp_path / 'runs' / 'orders.json').read_text())['results']
    assert [r['setting'] for r in res] == ['RandSAC square M=2', 'SAIM stochastic']
    opts = json.loads((tmp_path / 'runs' / 'RandSAC_square_M2_s0' / 'config.json').read_text())['model']['opts']
    assert opts['norm_pix'] is False, opts        # raw pixels, as the paper's order ablations (issue 14)
    assert 'image/png' in nb.read_text()


def test_sample_rank_every_order_on_device():
    "Every order gives dense ranks on the requested device, reproducibly from a seeded generator."
    kw = dict(nested_raster=dict(block=2), round_robin=dict(block=2), square=dict(M=2), blob=dict(K=3),
              hierarchical=dict(M=2, P=2), shuffled=dict(K=3), shuffled_square=dict(M=2),
              hierarchical_blob=dict(K=5, P=2))
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    for name in ORDERS:
        g = lambda: torch.Generator(dev).manual_seed(0)
        r = sample_rank(name, 4, (8, 8), g(), dev, **kw.get(name, {}))
        assert r.device.type == dev and r.shape == (4, 64)
        assert torch.equal(r, sample_rank(name, 4, (8, 8), g(), dev, **kw.get(name, {})))
        a = attention_args(gather_tokens(r, order_from_rank(r)))
        assert a['is_causal'] == (name in ('raster', 'nested_raster', 'round_robin', 'random'))
    with pytest.raises(UserError, match='known orders are'):
        sample_rank('zigzag', 1, (4, 4))


@pytest.mark.parametrize('method,kw', [('randsac', dict(order='blob', K=3)), ('randsac', dict(order='blob', K=3, decoder='twostream')),
                                       ('saim', dict(order='blob', K=3))])
def test_flex_path_matches_reference(monkeypatch, method, kw):
    "Blob orders (a different segment pattern per sample) through FlexAttention block masks give the reference loss."
    import visgen.saim, visgen.randsac, visgen.vit, visgen.serial  # noqa: F401
    from visgen.registry import create_method
    calls = []
    real = visgen.vit.flex
    monkeypatch.setattr(visgen.serial, 'FLEX', 'always')
    monkeypatch.setattr(visgen.vit, 'flex', lambda *a: calls.append(1) or real(*a))
    torch.manual_seed(0)
    m = create_method(method, img_size=8, patch_size=2, **kw).eval()
    x = torch.randn(3, 1, 8, 8)
    rank = m.sample_rank(3, (4, 4), x.device, torch.Generator().manual_seed(0))
    with torch.no_grad(): fast, ref = m(x, rank=rank)['loss'], m(x, rank=rank, reference=True)['loss']
    assert calls, 'the FlexAttention path was not taken'
    torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize('method,kw', [('saim', {}), ('saim', dict(share=True, order='square', M=2)),
                                       ('randsac', dict(order='hierarchical', M=1, P=2)), ('randsac', dict(decoder='twostream')),
                                       ('darl_mse', {}), ('darl_diffusion', {}), ('vq', {}), ('addp', {})])
def test_training_forward_is_one_graph(method, kw):
    "Orders whose segment size is known before sampling need no host read of the ranks: one torch.compile graph, no sync."
    import torch._dynamo as dynamo
    from visgen.registry import create_method, load_methods
    load_methods()
    torch.manual_seed(0)
    m = create_method(method, img_size=8, **({} if method == 'vq' else dict(patch_size=2)), **kw)
    dynamo.reset()
    e = dynamo.explain(m)(torch.randn(2, 1, 8, 8))
    assert e.graph_break_count == 0, [str(b.reason)[:200] for b in e.break_reasons]
