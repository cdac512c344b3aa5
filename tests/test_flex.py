"""Compiled FlexAttention with visgen's block masks on the CPU (torch's CPU lowering, forward only), against the dense path:
a kernel per shape, within visgen's own recompile allowance rather than dynamo's limit (past which it would run uncompiled)."""
import pytest, torch
import torch.nn.functional as F
import visgen.vit


@pytest.mark.skipif(not visgen.vit.flex_compiles('cpu', 16), reason=f"torch {torch.__version__}: FlexAttention runs eager on "
                    "the CPU before visgen.vit.CPU_FLEX_TORCH (its CPU lowering failed or corrupted memory under 2.11)")
def test_compiled_flex_matches_dense_at_each_shape(monkeypatch):
    import torch._dynamo as dynamo
    import visgen.vit as vit
    dynamo.reset(); monkeypatch.setattr(vit, '_flex_compiled', None)
    cfg = dynamo.config
    name = 'recompile_limit' if hasattr(cfg, 'recompile_limit') else 'cache_size_limit'
    with cfg.patch(**{name: 1, 'fail_on_recompile_limit_hit': True}):   # dynamo alone would give up (run eager) at the
        _at_two_shapes(vit)                                              # second shape; here it would raise instead
    dynamo.reset()


def _at_two_shapes(vit):
    import torch._dynamo as dynamo
    from visgen.serial import blob_segment_rank, content_mask, query_mask, flex_block_mask, prefix_rank
    before = dynamo.utils.counters['frames']['ok']
    g = torch.Generator().manual_seed(0)
    for B, gh, nh, hd in ((2, 4, 2, 16), (3, 6, 1, 8)):   # two shapes, one of them narrow heads
        r = blob_segment_rank(B, gh, gh, 3, g)              # (B, N) a different segment pattern per sample
        rh = prefix_rank(r)                                 # (B, 1+N) with an always-visible start token
        q, k, v = (torch.randn(B, nh, gh * gh + 1, hd, generator=g) for _ in range(3))
        out = vit.flex(q, k, v, flex_block_mask(rh))
        torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=content_mask(rh)[:, None]),
                                   atol=1e-5, rtol=1e-4)
        qs = q[:, :, 1:]                                    # tokens -> [start] + tokens, strict (the query stream)
        out = vit.flex(qs, k, v, flex_block_mask(r, rh, strict=True))
        torch.testing.assert_close(out, F.scaled_dot_product_attention(qs, k, v, attn_mask=query_mask(r, rh)[:, None]),
                                   atol=1e-5, rtol=1e-4)
    assert dynamo.utils.counters['frames']['ok'] - before == 4, dict(dynamo.utils.counters['frames'])   # compiled, once per shape
