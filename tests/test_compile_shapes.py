"Compiled steps across shapes in one process (issue 15): the random orders draw no generator under torch.compile."
import pytest, torch


def test_compiled_saim_step_at_two_batch_sizes():
    """A torch.compile'd SAIM step, forward and backward, runs at a second batch size (dynamo makes the batch dimension
    symbolic). AOTAutograd traces both graphs (`aot_eager`); inductor's own lowering is tested by test_train_options."""
    from visgen.registry import create_method, load_methods
    load_methods()
    import torch._dynamo as dynamo
    dynamo.reset()
    torch.manual_seed(0)
    m = create_method('saim', size='micro', img_size=8, patch_size=2, in_chans=1, embed_dim=32, depth=1, num_heads=2)
    f = torch.compile(m, backend='aot_eager')
    for B in (4, 3):
        loss = f(torch.randn(B, 1, 8, 8))['loss']
        loss.backward()
        assert torch.isfinite(loss)


@pytest.mark.parametrize('dynamic', [False, None], ids=['static', 'dynamic'])
def test_every_method_compiles_whole_at_two_shapes(dynamic):
    """Every registered method's training loss traces as one graph (`fullgraph=True`: a graph break raises) at two input
    shapes in one process, as `visgen bench` and `gpu-check` compile them one after the other: static shapes (`dynamic=False`),
    and dynamo's default, whose second shape recompiles with symbolic sizes. Each shape gets one graph, no more."""
    import logging
    import torch._dynamo as dynamo
    from torch._dynamo.testing import CompileCounter
    from visgen.registry import load_methods, create_method
    torch._logging.set_logs(dynamo=logging.ERROR)
    for name in load_methods():
        dynamo.reset(); cnt = CompileCounter()           # counts graphs; traces only (no inductor): seconds per method
        for H, W, B in ((8, 12, 4), (16, 8, 3)):
            torch.manual_seed(0)
            m = create_method(name, img_size=(H, W)).train()
            step = torch.compile(lambda x: m(x)['loss'], backend=cnt, fullgraph=True, dynamic=dynamic)
            loss = step(torch.randn(B, 1, H, W)); loss.backward()
            assert torch.isfinite(loss), (name, H, W)
        assert cnt.frame_count == 2, (name, dynamic, cnt.frame_count)
    dynamo.reset()
