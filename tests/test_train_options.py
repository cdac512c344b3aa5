"Training options that change how the step runs but must not change what it computes."
import json
import pytest
import torch
from safetensors.torch import load_file
from visgen.options import RunOptions
from visgen.pipeline import pretrain

def _run(out, **kw):
    cfg = RunOptions.of(method='darl_mse', epochs=1, batch_size=64, **kw)
    return pretrain(out, cfg, progress=False, log=lambda *a: None)

def test_compiled_step_trains_the_same_weights(tmp_path):
    "torch.compile of the step (inductor on CPU) gives the eager run's weights, saved under the plain names."
    eager, comp = _run(tmp_path / 'eager'), _run(tmp_path / 'compiled', compile=True)
    a, b = load_file(tmp_path / 'eager' / 'model.safetensors'), load_file(tmp_path / 'compiled' / 'model.safetensors')
    assert a.keys() == b.keys() and not any('_orig_mod' in k for k in b)
    for k in a: torch.testing.assert_close(a[k], b[k], atol=1e-4, rtol=1e-3)
    assert abs(eager['final_loss'] - comp['final_loss']) < 1e-3
    assert json.loads((tmp_path / 'compiled' / 'config.json').read_text())['train']['compile'] is True

def test_train_limit_takes_a_balanced_subset(tmp_path):
    "train_limit/test_limit train and evaluate on class-balanced subsets; bad values are refused."
    m = _run(tmp_path / 'r', train_limit=500, test_limit=200)
    assert m['steps'] == 500 // 64
    with pytest.raises(Exception, match=r'train_limit \(--train-limit\) must be at least 0'): RunOptions.of(train_limit=-1)
