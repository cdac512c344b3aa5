"darl_diffusion end to end: pre-training from the CLI on digits (1 epoch, tiny model), and sampling from the saved run."
import json
import pytest
import torch
from conftest import run_visgen

pytestmark = pytest.mark.xdist_group(name='darl_diffusion')  # module fixtures: keep this file on one worker
TINY = 'embed_dim=32,depth=1,num_heads=2'

@pytest.fixture(scope='module')
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp('runs') / 'darl_diffusion'
    p = run_visgen('pretrain', '--method', 'darl_diffusion', '--data', 'digits', '--epochs', 1, '--out', out,
                   '--device', 'cpu', '--quiet', '--opts', TINY + ',sample_steps=4')
    assert p.returncode == 0, p.stdout + p.stderr
    return out

def test_pretrain_writes_metrics(run):
    m = json.loads((run / 'metrics.json').read_text())
    assert m['method'] == 'darl_diffusion' and m['final_loss'] > 0
    for k in ('knn_acc', 'linear_acc', 'random_knn_acc', 'pixel_knn_acc'): assert 0 <= m[k] <= 1, k
    assert json.loads((run / 'config.json').read_text())['model']['opts']['sample_steps'] == 4

def test_samples_and_completions_from_run(run):
    from visgen.pipeline import sample_run
    s = sample_run(run, n=3)['samples']
    assert s.shape == (3, 1, 8, 8) and s.isfinite().all() and s.std() > 0.01     # images, not a constant (clamped to [0, 1])
    assert not torch.equal(sample_run(run, n=3, seed=1)['samples'], s)            # another seed, other samples
    c = sample_run(run, n=2, complete=True, steps=2, hook_kw=dict(sampler='ddim'))
    assert torch.allclose(c['samples'][..., :4, :], c['originals'][..., :4, :], atol=1e-5)   # the top half is kept
    assert torch.allclose(sample_run(run, n=2, seed=1)['samples'], sample_run(run, n=2, seed=1, hook_kw=dict(cache=False))['samples'], atol=1e-4)

@pytest.mark.parametrize('opts,msg', [('pred=v', "Unknown prediction target 'v'"), ('decoder=conv', "Unknown patch decoder"),
                                      ('alpha=-1', "alpha > 0"), ('order=random', "Unknown DARL order")])
def test_bad_options(tmp_path, opts, msg):
    p = run_visgen('pretrain', '--method', 'darl_diffusion', '--out', tmp_path / 'r', '--quiet', '--opts', opts)
    assert p.returncode == 2 and msg in p.stderr and 'Traceback' not in p.stderr, p.stderr

def test_sample_command_writes_png(tmp_path):
    from conftest import run_visgen
    out = tmp_path / 'run'
    run_visgen('pretrain', '--method', 'darl_mse', '--epochs', 1, '--opts', 'embed_dim=32,depth=1,num_heads=2',
               '--out', out, '--quiet', check=True)
    p = run_visgen('sample', '--run', out, '--n', 3, '--complete', '--device', 'auto')   # 'auto' resolves (issue 18)
    assert p.returncode == 0 and (out / 'completions.png').stat().st_size > 1000, p.stderr
