"""Attention maps of every registered method that has attention, on a non-square image: read from the arguments its
blocks pass to `sdpa`, on the probe path (`features`) and on the training path (`forward`: masks, two streams)."""
import pytest, torch
import visgen  # noqa: F401
from visgen.registry import load_methods, create_method
from visgen.vit import Attention, attention_blocks, attention_maps, attention_weights, allowed_keys, record_attention, sdpa

H, W = 8, 12   # non-square: rows and columns must not be confused anywhere


def check_calls(name, calls):
    "Each recorded call: weights of shape (B, nh, Nq, Nk), zero where the mask forbids a key, rows summing to one where it allows some, and weights @ v = the fused output."
    for i, cs in enumerate(calls):
        assert cs, f'{name}: block {i} never attended'
        for c in cs:
            w = attention_weights(c['q'], c['k'], c['mask'], c['is_causal'])
            assert w.shape == (*c['q'].shape[:3], c['k'].shape[2]), (name, i, w.shape)
            ok = allowed_keys(c['mask'], c['is_causal'], w.shape[-2], w.shape[-1]).expand_as(w)
            rows = ok.any(-1)                                              # (B, nh, Nq) queries that may attend something
            assert rows.any(), (name, i)
            assert (w[~ok] == 0).all(), (name, i)
            torch.testing.assert_close(w.sum(-1)[rows], torch.ones(int(rows.sum())), msg=f'{name}: block {i}')
            assert (w.sum(-1)[~rows] == 0).all(), (name, i)
            fused = sdpa(c['q'], c['k'], c['v'], c['mask'], c['is_causal']).float()
            torch.testing.assert_close((w @ c['v'].float())[rows], fused[rows], atol=1e-5, rtol=1e-4, msg=f'{name}: block {i}')


@pytest.mark.parametrize('name', load_methods())
def test_attention_maps(name):
    torch.manual_seed(0)
    m = create_method(name, img_size=(H, W)).eval()
    if not any(isinstance(mod, Attention) for mod in m.modules()): pytest.skip(f'{name} has no attention')
    blocks, x = attention_blocks(m), torch.randn(3, 1, H, W)
    maps = attention_maps(m, x)                                            # the probe path, every block
    assert len(maps) == len(blocks)
    for a in maps:
        assert a.shape[:2] == (3, blocks[0].attn.nh) and a.shape[2] == a.shape[3], (name, a.shape)
    torch.testing.assert_close(attention_maps(m, x, block=-1), maps[-1])
    for run in (lambda: m.features(x), lambda: m(x)):                      # probe path, training path
        with record_attention([b.attn for b in blocks]) as calls, torch.no_grad(): run()
        check_calls(name, calls)
    assert not any('attend' in b.attn.__dict__ for b in blocks)           # the blocks are as they were
