"""Issue 34's "done when": each method is evaluated by its paper's recipe by default (`visgen finetune`, `visgen probe
--protocol paper`), `--recipe mae` is the generic recipe visgen applied to every method before, and a run's config.json
says which pre-training values came from the method's paper and which from the user. Tiny runs on digits (1 epoch)."""
import json
import pytest
import torch
from conftest import run_visgen, TINY

pytestmark = pytest.mark.xdist_group(name='recipes')   # one module fixture: keep this file on one worker
SMALL = ('--data', 'digits', '--epochs', 1, '--train-limit', 256, '--test-limit', 200, '--device', 'cpu', '--quiet', '--opts', TINY)

# Every value of the generic recipe as visgen's fine-tuning applied it to every method before recipes had names
# (visgen.evaluate.finetune's defaults then; `--epochs 1` given here).
GENERIC = dict(name='mae', epochs=1, lr=1e-3, batch_size=128, layer_decay=0.75, wd=0.05, betas=[0.9, 0.999], warmup_epochs=1.,
               randaug='rand-m9-mstd0.5', mixup=0.8, cutmix=1.0, label_smoothing=0.1, drop_path=0.1, reprob=0.25,
               causal=False, pool='mean')

@pytest.fixture(scope='module')
def saim_run(tmp_path_factory):
    out = tmp_path_factory.mktemp('recipes') / 'saim'
    run_visgen('pretrain', '--method', 'saim', '--out', out, '--clip-grad', 0.5, *SMALL, check=True)
    return out

def test_saim_run_records_where_its_defaults_came_from(saim_run):
    cfg = json.loads((saim_run / 'config.json').read_text())
    assert (cfg['train']['clip_grad'], cfg['train']['lr_scale'], cfg['data']['crop_scale']) == (0.5, 'batch', [0.2, 1.0])
    assert cfg['derived']['defaults'] == dict(user=['clip_grad'], paper=['lr_scale', 'crop_scale'])
    assert cfg['derived']['peak_lr'] == pytest.approx(1e-3 * 128 / 256)      # SAIM's lr = base lr x batch / 256 (its code)
    first = json.loads((saim_run / 'metrics.jsonl').read_text().splitlines()[0])
    assert first['lr'] <= 1e-3 * 128 / 256 + 1e-12

def test_saim_finetune_follows_the_saim_recipe(saim_run):
    p = run_visgen('finetune', '--run', saim_run, '--epochs', 1, '--device', 'cpu')
    assert p.returncode == 0, p.stderr
    rc = json.loads((saim_run / 'finetune.json').read_text())['recipe']
    assert (rc['name'], rc['layer_decay'], rc['betas'], rc['pool'], rc['causal'], rc['drop_path']) == \
        ('saim', 0.65, [0.9, 0.999], 'cls', False, 0.1), rc                 # table 7 and the official command (--cls_token)

def test_recipe_mae_is_the_generic_recipe(saim_run):
    from visgen.pipeline import finetune_run
    r = finetune_run(saim_run, recipe='mae', epochs=1, device='cpu')
    assert {k: v for k, v in r['recipe'].items() if k not in ('seed', 'device', 'amp')} == GENERIC, r['recipe']

def test_every_paper_method_names_its_recipe():
    from visgen.registry import create_method
    from visgen.options import recipe, RECIPES
    want = dict(darl_mse=('darl', 0.75, (0.9, 0.95), 'last'), darl_diffusion=('darl', 0.75, (0.9, 0.95), 'last'),
                saim=('saim', 0.65, (0.9, 0.999), 'cls'), randsac=('randsac', 0.65, (0.9, 0.999), 'mean'),
                addp=('addp', 0.65, (0.9, 0.999), 'mean'), mae=('mae', 0.75, (0.9, 0.999), 'mean'))
    for method, (name, ld, betas, pool) in want.items():
        m = create_method(method, img_size=8, patch_size=2, in_chans=1)
        f = recipe(m.recipe)
        assert (m.recipe, f.layer_decay, f.betas, f.pool) == (name, ld, betas, pool), method
    assert recipe('addp').label_smoothing == 0.1 and recipe('darl').reprob == 0. and recipe('randsac').reprob == 0.
    assert set(RECIPES) >= {'darl', 'saim', 'randsac', 'addp', 'mae'}

def test_the_papers_details_by_default():
    "RandSAC's plain nearest-Gaussian blobs on request (some in pieces), SAIM's norm-pix target as the official code's, ADDP's dropout."
    from visgen.registry import create_method
    from visgen.serial import connected_fraction
    from visgen.patches import norm_pix
    m = create_method('randsac', order='blob', blob_assign='nearest', img_size=16, K=6, embed_dim=32, depth=1, num_heads=2)
    assert connected_fraction(m.sample_rank(200, (8, 8), 'cpu', torch.Generator().manual_seed(0)), 8, 8) < 1
    t = torch.randn(8, 16, 4) * 3 + 1
    official = (t - t.mean(-1, keepdim=True)) / (t.var(-1, keepdim=True) + 1.e-6) ** .5    # qiy20/SAIM models_saim.py forward_loss
    assert (norm_pix(t) - official).abs().max() < 1e-6
    a = create_method('addp', img_size=8, patch_size=2, in_chans=1)
    assert a.backbone.blocks[0].attn.drop == 0.1 and a.dec[0].mlp.drop1.p == 0.1

def test_a_run_from_before_the_paper_defaults_resumes(saim_run, tmp_path):
    "A config.json without lr_scale and crop_scale (an earlier visgen's) resumes as it ran, not with SAIM's paper values."
    import shutil
    old = tmp_path / 'old'; shutil.copytree(saim_run, old)
    rec = json.loads((old / 'config.json').read_text())
    del rec['train']['lr_scale'], rec['data']['crop_scale'], rec['derived']['defaults']
    (old / 'config.json').write_text(json.dumps(rec))
    p = run_visgen('pretrain', '--method', 'saim', '--out', old, '--clip-grad', 0.5, '--resume', *SMALL)
    assert p.returncode == 0 and 'nothing to do' in p.stdout, p.stdout + p.stderr

def test_saim_paper_probe_reads_its_class_token(saim_run):
    "`visgen probe --protocol paper` on a SAIM run: the official linear probe (SGD, no warm-up, the class token)."
    from visgen.pipeline import probe
    r = probe(saim_run, protocol='paper', epochs=1, pixels=False, device='cpu')
    assert r['protocol'] == 'paper' and 0 <= r['paper_linear_acc'] <= 1, r
    assert {k: r['paper_recipe'][k] for k in ('recipe', 'optimizer', 'warmup_epochs', 'pool')} == \
        dict(recipe='saim', optimizer='sgd', warmup_epochs=0, pool='cls'), r['paper_recipe']
