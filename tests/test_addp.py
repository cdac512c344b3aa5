"""ADDP end to end on the embedded digits: the VQ tokenizer and ADDP (with its tokenizer and token predictor trained
inside `prepare`) from the CLI, tiny and for one epoch; then generation, inpainting and the generation metric from the
saved run, resume, reuse of trained parts, and clear errors."""
import json
import pytest
import torch
from conftest import run_visgen

TINY_ADDP = ('embed_dim=32,depth=1,num_heads=2,dec_depth=2,vq_width=8,codebook_size=16,code_dim=8,tp_dim=16,'
             'tp_heads=2,vq_epochs=1,predictor_epochs=1')


def _pretrain(out, method, opts, *extra):
    cache = out.parent / 'cache'                       # a fresh cache: the generation metric trains its classifier
    p = run_visgen('pretrain', '--method', method, '--data', 'digits', '--epochs', 1, '--out', out, '--device', 'cpu',
                   '--quiet', '--opts', opts, *extra, env={'OMP_NUM_THREADS': '1', 'VISGEN_CACHE': str(cache)})
    assert p.returncode == 0, p.stdout + p.stderr
    return p


@pytest.fixture(scope='module')
def addp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp('runs') / 'addp'
    _pretrain(out, 'addp', TINY_ADDP + ',eval_samples=64')
    return out


def test_vq_cli(tmp_path):
    out = tmp_path / 'vq'
    _pretrain(out, 'vq', 'width=8,codebook_size=16,code_dim=8')
    m = json.loads((out / 'metrics.json').read_text())
    for k in ('recon_mse', 'psnr', 'codebook_usage', 'perplexity', 'knn_acc', 'random_knn_acc', 'pixel_knn_acc'):
        assert k in m, k
    assert 0 < m['codebook_usage'] <= 1 and 1 <= m['perplexity'] <= 16 and m['recon_mse'] > 0


def test_addp_run_holds_its_parts(addp_run):
    for sub in ('vq', 'predictor'):
        assert (addp_run / sub / 'model.safetensors').exists() and (addp_run / sub / 'metrics.json').exists(), sub
    assert json.loads((addp_run / 'predictor' / 'config.json').read_text())['model']['opts']['vq_run'] == str(addp_run / 'vq')
    m = json.loads((addp_run / 'metrics.json').read_text())
    for k in ('knn_acc', 'linear_acc', 'random_knn_acc', 'pixel_knn_acc', 'fcd', 'fcd_real', 'fcd_precision', 'fcd_recall'):
        assert k in m, k
    assert not any('fid' in k for k in m), m


def test_generate_and_inpaint_from_saved_run(addp_run):
    import visgen.addp  # noqa: F401  (registers the methods)
    from visgen.pipeline import load_run
    from visgen.data import load_run_data, normalise
    model, cfg, info = load_run(addp_run)
    model.eval()
    rd = load_run_data(cfg.data); test_set, mean, std = rd.test, rd.mean, rd.std
    # the frozen tokenizer in the ADDP checkpoint is the one trained in run/vq
    ref = json.loads((addp_run / 'vq' / 'metrics.json').read_text())
    assert abs(model.vq.extra_metrics(test_set, mean, std)['recon_mse'] - ref['recon_mse']) < 1e-5
    g = torch.Generator().manual_seed(0)
    imgs, hist = model.generate(4, steps=4, schedule='linear', generator=g, return_steps=True)
    assert imgs.shape == (4, 1, 8, 8) and torch.isfinite(imgs).all() and len(hist) == 4
    assert (hist[-1]['known'].sum(1) == 15).all()      # ADDP's official count: ceil, at least one token masked after the last step
    x = normalise(test_set.images[:4], mean, std)
    keep = torch.ones(4, 8, 8, dtype=torch.bool); keep[:, 2:6, 2:6] = False          # inpaint the centre
    y = model.inpaint(x, keep, generator=g)
    assert torch.equal(y[:, :, keep[0]], x[:, :, keep[0]]) and not torch.equal(y, x)
    out = model.inpaint(x, ~keep, generator=g)                                       # outpaint around the centre
    assert torch.equal(out[:, :, 2:6, 2:6], x[:, :, 2:6, 2:6])


def test_sample_command_on_addp_and_a_method_that_does_not_generate(addp_run, tmp_path):
    "`visgen sample` is generic: ADDP generates and completes through the contract's hooks; the VQ tokenizer does not generate."
    from conftest import run_visgen
    for extra, png in (([], 'samples.png'), (['--complete'], 'completions.png')):
        p = run_visgen('sample', '--run', addp_run, '--n', '3', '--steps', '2', '--device', 'cpu', *extra)
        assert p.returncode == 0 and (addp_run / png).stat().st_size > 0, p.stderr
    p = run_visgen('sample', '--run', addp_run / 'vq', '--device', 'cpu')
    assert p.returncode == 2 and "does not generate images" in p.stderr and 'Traceback' not in p.stderr, p.stderr


def test_reuse_parts_and_resume(addp_run, tmp_path):
    out = tmp_path / 'again'
    _pretrain(out, 'addp', TINY_ADDP + f",predictor_run={addp_run / 'predictor'}")
    assert not (out / 'vq').exists() and not (out / 'predictor').exists()           # nothing retrained
    _pretrain(out, 'addp', TINY_ADDP + f",predictor_run={addp_run / 'predictor'}", '--resume')


def test_mismatched_part_is_refused(addp_run, tmp_path):
    p = run_visgen('pretrain', '--method', 'addp', '--data', 'digits', '--epochs', 1, '--out', tmp_path / 'bad',
                   '--quiet', '--opts', TINY_ADDP.replace('codebook_size=16', 'codebook_size=32') + f",vq_run={addp_run / 'vq'}")
    assert p.returncode == 2 and 'codebook_size' in p.stderr and 'Traceback' not in p.stderr, p.stderr


def test_addp_template_runs(tmp_path, monkeypatch):
    "experiments/addp.ipynb end to end at a toy budget: parts, two ADDP runs, the metric, the figures, the verdicts."
    from conftest import ROOT
    from visgen.cli import execute_template
    monkeypatch.setenv('VISGEN_CACHE', str(tmp_path / 'cache'))
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    out = tmp_path / 'abl'
    nb = execute_template(ROOT / 'experiments' / 'addp.ipynb', tmp_path / 'addp.ipynb', dict(
        epochs=1, vq_epochs=1, predictor_epochs=1, tp_dim=16, tp_heads=2, mappings=['wsum'], gen_steps=[2, 4],
        gen_seeds=[0], eval_samples=32, classifier_steps=30, device='cpu', out_dir=str(out), train_seeds=[0, 1]), cwd=ROOT)
    res = json.loads((out / 'results.json').read_text())
    assert set(res['runs']) == {'wsum', 'wsum, no tokens'} and 'fcd' in res['generation']['wsum']
    assert set(res['generation_by_seed']) == {'wsum_s0', 'wsum_s1', 'wsum, no tokens_s0', 'wsum, no tokens_s1'}
    c = res['claims']['reliable tokens to the decoder beat none']           # read with the rule over both training seeds
    assert len(c['per_seed']) == 2 and c['lo'] <= c['delta'] <= c['hi'] and c['verdict'] in ('holds', 'reversed', 'unresolved'), c
    assert (out / 'addp_wsum_s1' / 'metrics.json').exists()
    text = nb.read_text()
    assert 'image/png' in text and 'FCD' in text and 'held' in text
    for f in ('samples.png', 'intermediate_steps.png', 'inpainting.png', 'vq_reconstructions.png'):
        assert (out / f).exists(), f


def test_ablation_switches_from_the_cli(addp_run, tmp_path):
    "The switches of the paper's tables 5 and 6 train end to end from the CLI (reusing the trained parts)."
    out = tmp_path / 'switches'
    _pretrain(out, 'addp', TINY_ADDP + f",predictor_run={addp_run / 'predictor'},condition=same,target=both,fixed_ratio=0.5,"
              "token_input=both")
    opts = json.loads((out / 'config.json').read_text())['model']['opts']
    assert (opts['condition'], opts['target'], opts['fixed_ratio'], opts['token_input']) == ('same', 'both', 0.5, 'both')
    m = json.loads((out / 'metrics.json').read_text())
    assert m['final_loss'] == m['final_loss'] and 'knn_acc' in m                       # finite (not NaN), evaluated


@pytest.mark.parametrize('opts,word', [('target=pixels', 'target'), ('token_input=encoder', 'token_input')])
def test_bad_switch_is_refused(tmp_path, opts, word):
    p = run_visgen('pretrain', '--method', 'addp', '--data', 'digits', '--epochs', 1, '--out', tmp_path / 'bad', '--quiet',
                   '--opts', TINY_ADDP + ',' + opts)
    assert p.returncode == 2 and word in p.stderr and 'Traceback' not in p.stderr, p.stderr


def test_predictor_with_other_ratio_distribution_is_refused(addp_run, tmp_path):
    "A predictor trained with MAGE's ratios (the default) is not reused where MaskGIT's are asked for."
    p = run_visgen('pretrain', '--method', 'addp', '--data', 'digits', '--epochs', 1, '--out', tmp_path / 'bad', '--quiet',
                   '--opts', TINY_ADDP + f",tp_ratio_dist=maskgit,predictor_run={addp_run / 'predictor'}")
    assert p.returncode == 2 and 'ratio_dist' in p.stderr and 'Traceback' not in p.stderr, p.stderr
