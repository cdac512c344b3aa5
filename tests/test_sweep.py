"The CIFAR-10 sweep's runner and the kNN-recipe investigation work end to end (on digits: nothing here reads CIFAR)."
import json, sys
import pytest
from conftest import ROOT, TINY, run_visgen, run_python

def _py(*args): return run_python(*args)      # `python experiments/X.py ...`, forked from a process that imported torch once

def test_sweep_dry_prints_the_protocol():
    r = _py('experiments/cifar_sweep.py', '--dry', '--only', 'randsac_square_raw', '--seeds', '7')
    assert r.returncode == 0, r.stderr
    cmd = r.stdout.strip().splitlines()[-1]
    for s in ('--method randsac', '--seed 7', '--epochs 6', '--train-limit 20000', '--opts order=square,M=2,norm_pix=False',
              'runs/cifar/randsac_square_raw_s7', '--amp ', '--clip-grad 1.0', '--lr-scale none'):   # the committed rows' values
        assert s in cmd, (s, cmd)
    r = _py('experiments/cifar_sweep.py', '--dry', '--only', 'saim', '--seeds', '7', '--finetune')
    assert r.returncode == 0, r.stderr
    ft = r.stdout.strip().splitlines()[-1]
    assert ' finetune --run ' in ft and 'runs/cifar/saim_s7' in ft and '--epochs 5' in ft and '--recipe mae' in ft, ft
    r = _py('experiments/cifar_sweep.py', '--dry', '--only', 'darl_diffusion', '--seeds', '7', '--curve')
    assert r.returncode == 0, r.stderr
    pre, cur = r.stdout.strip().splitlines()[-2:]
    assert '--keep-last 6' in pre and 'learning_curve.py' in cur and 'runs/cifar/darl_diffusion_s7' in cur, (pre, cur)
    r = _py('experiments/cifar_sweep.py', '--dry', '--only', 'randsac_long', '--seeds', '7', '--curve')
    assert r.returncode == 0, r.stderr
    pre, cur = r.stdout.strip().splitlines()[-2:]                      # its own budget, a curve of every 2nd epoch
    assert '--epochs 8' in pre and '--train-limit 0' in pre and '--keep-last 8' in pre and '--every 2' in cur, (pre, cur)
    r = _py('experiments/cifar_sweep.py', '--dry', '--only', 'darl_mse_abs', '--seeds', '7', '--probe-size', 56, '--positions', 'extrapolate')
    assert r.returncode == 0, r.stderr
    pr = r.stdout.strip().splitlines()[-1]                              # a probe of the finished run, no training
    assert ' probe --run ' in pr and '--img-size 56' in pr and '--positions extrapolate' in pr and 'pretrain' not in r.stdout, pr
    r = _py('experiments/cifar_sweep.py', '--only', 'nosuch')
    assert r.returncode != 0 and "Unknown setting(s) ['nosuch']" in r.stderr

@pytest.fixture(scope='module')
def two_epochs(tmp_path_factory):
    "A finished tiny run of two epochs that kept both checkpoints (read, never written, by the tests below)."
    run = tmp_path_factory.mktemp('sweep') / 'run'
    run_visgen('pretrain', '--method', 'darl_mse', '--data', 'digits', '--epochs', 2, '--train-limit', 256, '--test-limit', 200,
               '--device', 'cpu', '--quiet', '--opts', TINY, '--keep-last', 2, '--out', run, check=True)
    return run

def test_knn_recipe_reproduces_the_runs_knn(tmp_path, two_epochs):
    run = two_epochs
    r = _py('experiments/knn_recipe.py', run, '--out', tmp_path / 'res')     # asserts its first recipe = metrics.json
    assert r.returncode == 0, r.stderr[-2000:]
    rows = json.loads((tmp_path / 'res' / 'knn_recipes.json').read_text())
    assert {r['features'] for r in rows} == {'model', 'random init', 'raw pixels', 'raw pixels, mean of patches',
                                             'model, tokens in image order', 'random init, tokens in image order'}
    assert len(rows) == 3 * 7 + 3 * 3
    assert all(0 <= r['knn_acc'] <= 1 for r in rows)

def test_learning_curve_probes_every_epoch_and_ends_at_the_runs_metrics(tmp_path, two_epochs):
    run = two_epochs
    r = _py('experiments/learning_curve.py', run, '--out', tmp_path / 'res')   # asserts its last row = metrics.json
    assert r.returncode == 0, r.stderr[-2000:]
    c, m = json.loads((tmp_path / 'res' / 'curve.json').read_text()), json.loads((run / 'metrics.json').read_text())
    assert [r['epoch'] for r in c['rows']] == [0, 1, 2]
    assert c['rows'][0]['linear_acc'] == m['random_linear_acc'] and c['rows'][-1]['knn_acc'] == m['knn_acc']
    assert c['pixel_knn_acc'] == m['pixel_knn_acc']
    r = _py('experiments/learning_curve.py', run, '--out', tmp_path / 'every', '--every', 2)   # epoch 1 skipped, the last kept
    assert r.returncode == 0, r.stderr[-2000:]
    assert [r['epoch'] for r in json.loads((tmp_path / 'every' / 'curve.json').read_text())['rows']] == [0, 2]
    r = _py('experiments/learning_curve.py', run, '--out', tmp_path / 'zero', '--every', 0)
    assert r.returncode == 2 and '--every must be at least 1' in r.stderr and not (tmp_path / 'zero').exists()

def test_cifar_results_notebook_rebuilds_from_committed_files(tmp_path):
    "experiments/results/cifar.ipynb runs from the committed files alone, and every code cell shows something."
    import nbformat, papermill as pm
    out = tmp_path / 'cifar.ipynb'
    pm.execute_notebook(str(ROOT / 'experiments/results/cifar.ipynb'), str(out), kernel_name='python3',
                        cwd=str(ROOT / 'experiments/results'), progress_bar=False)
    silent = [i for i, c in enumerate(nbformat.read(out, as_version=4).cells) if c.cell_type == 'code' and not c.outputs]
    assert not silent, f'code cells {silent} printed nothing'

def test_knn_recipe_keeps_the_layout_only_where_features_visit_image_order():
    import importlib.util
    from visgen.registry import create_method
    spec = importlib.util.spec_from_file_location('knn_recipe', ROOT / 'experiments' / 'knn_recipe.py')
    kr = importlib.util.module_from_spec(spec); spec.loader.exec_module(kr)
    kw = dict(img_size=8, patch_size=2, in_chans=1)
    assert kr.image_order(create_method('darl_mse', **kw))                       # raster: its own order is image order
    assert not kr.image_order(create_method('darl_mse', order='round_robin', **kw))   # features visit its order
    assert kr.image_order(create_method('darl_mse', order='random', **kw))       # two streams: the unmasked encoder
    assert kr.image_order(create_method('randsac', **kw)) and kr.image_order(create_method('saim', **kw))
