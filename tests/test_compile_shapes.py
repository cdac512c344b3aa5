"Compiled steps across shapes in one process (issue 15): the random orders draw no generator under torch.compile."
import pytest, torch


def test_compiled_saim_step_at_two_batch_sizes():
    "A torch.compile'd SAIM step runs at a second batch size (dynamo makes the batch dimension symbolic)."
    from visgen.registry import create_method, load_methods
    load_methods()
    import torch._dynamo as dynamo
    dynamo.reset()
    torch.manual_seed(0)
    m = create_method('saim', size='micro', img_size=8, patch_size=2, in_chans=1, embed_dim=32, depth=1, num_heads=2)
    f = torch.compile(m)
    for B in (4, 3):
        loss = f(torch.randn(B, 1, 8, 8))['loss']
        loss.backward()
        assert torch.isfinite(loss)
