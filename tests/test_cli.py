"The CLI end to end on the embedded digits data: pre-train, files written, baselines, probe, fine-tune, bad input."
import json
from pathlib import Path
import pytest
from conftest import run_visgen, TINY, ROOT
from visgen.compare import unpack_correct

pytestmark = pytest.mark.xdist_group(name='cli')  # module fixtures: keep this file on one worker

@pytest.fixture(scope='module')
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp('runs') / 'darl'
    p = run_visgen('pretrain', '--method', 'darl_mse', '--data', 'digits', '--epochs', 15, '--out', out, '--seed', 0,
                   '--device', 'cpu', '--quiet')
    assert p.returncode == 0, p.stdout + p.stderr
    return out

def test_pretrain_writes_run(run):
    for f in ('config.json', 'metrics.json', 'metrics.jsonl', 'model.safetensors', 'checkpoints/latest'):
        assert (run / f).exists(), f
    m = json.loads((run / 'metrics.json').read_text())
    for k in ('knn_acc', 'linear_acc', 'random_knn_acc', 'random_linear_acc', 'pixel_knn_acc', 'pixel_linear_acc'):
        assert 0 <= m[k] <= 1, k
    assert m['knn_acc'] > m['random_knn_acc'], m   # pre-training beats the same network at random init

def test_existing_run_is_not_overwritten(run):
    before = (run / 'metrics.json').read_bytes()
    p = run_visgen('pretrain', '--method', 'darl_mse', '--epochs', 1, '--out', run, '--quiet')
    assert p.returncode == 2 and 'already exists' in p.stderr and 'Traceback' not in p.stderr
    assert (run / 'metrics.json').read_bytes() == before

def test_probe(run):
    p = run_visgen('probe', '--run', run, '--device', 'cpu')
    assert p.returncode == 0, p.stderr
    assert json.loads((run / 'probe.json').read_text())['knn_acc'] == json.loads((run / 'metrics.json').read_text())['knn_acc']

def test_finetune(run):
    p = run_visgen('finetune', '--run', run, '--epochs', 1, '--device', 'cpu')
    assert p.returncode == 0, p.stderr
    r = json.loads((run / 'finetune.json').read_text())
    assert 0 <= r['acc'] <= 1 and 0 <= r['random_acc'] <= 1
    rc = r['recipe']                                                    # a DARL run: DARL's recipe (table 8, sec. 4)
    assert (rc['name'], rc['pool'], rc['causal'], rc['betas'], rc['layer_decay'], rc['drop_path'], rc['reprob']) == \
        ('darl', 'last', False, [0.9, 0.95], 0.75, 0.0, 0.0), rc
    c = json.loads((run / 'finetune_correct.json').read_text())        # per test image, for visgen.compare
    assert abs(unpack_correct(c['finetune_correct']).mean() - r['acc']) < 1e-6

def test_causal_finetune_and_layer_probes(run):
    "DARL's causal fine-tuning with last-token readout (table 3), and probes of every layer (figure 8b)."
    p = run_visgen('finetune', '--run', run, '--epochs', 1, '--device', 'cpu', '--causal', '--pool', 'last')
    assert p.returncode == 0, p.stderr
    r = json.loads((run / 'finetune.json').read_text())
    assert r['recipe']['causal'] is True and r['recipe']['pool'] == 'last' and 0 <= r['acc'] <= 1
    p = run_visgen('probe', '--run', run, '--device', 'cpu', '--layers')
    assert p.returncode == 0, p.stderr
    rows = json.loads((run / 'layers.json').read_text())
    assert [r['layer'] for r in rows] == list(range(1, len(rows) + 1)) and len(rows) == 4   # micro: 4 blocks
    assert all(0 <= r['knn_acc'] <= 1 and 0 <= r['linear_acc'] <= 1 for r in rows)

@pytest.mark.parametrize('args,msg', [
    (('--method', 'darl_typo'), "Unknown method 'darl_typo'"),
    (('--data', 'mnist_typo'), "Unknown data set 'mnist_typo' (--data)"),
    (('--epochs', 0), "epochs (--epochs) must be at least 1"),
    (('--lr', -1), "lr (--lr) must be more than 0"),
    (('--patch-size', 3), "not divisible by the patch size 3"),
    (('--data', 'imagefolder', '--data-root', '/nonexistent/folder'), "/nonexistent/folder"),
])
def test_bad_input(tmp_path, args, msg):
    p = run_visgen('pretrain', '--out', tmp_path / 'r', '--quiet', *args)
    assert p.returncode == 2, p.stdout + p.stderr
    assert msg in p.stderr and 'Traceback' not in p.stderr, p.stderr
    assert not (tmp_path / 'r').exists() or not any((tmp_path / 'r').iterdir())

def test_timm_create_model_and_other_resolution():
    import visgen.darl, timm, torch  # visgen first: it imports torchvision safely on a CPU-only torch; registration
    m = timm.create_model('darl_mse', img_size=8, patch_size=2, pos='rope2d').eval()
    with torch.no_grad():
        assert m.features(torch.randn(2, 1, 8, 8)).shape == (2, 64)
        assert m.features(torch.randn(2, 1, 16, 12)).shape == (2, 64)   # 8x6 grid, trained at 4x4

def test_unknown_command():
    p = run_visgen('pretrian')
    assert p.returncode == 2 and "unknown command 'pretrian'" in p.stderr

def _fresh_python(code:str) -> str:
    "stdout of `python -c code` in a new interpreter (not the zygote, which has torch imported), checked to exit 0."
    import subprocess
    from conftest import BIN
    p = subprocess.run([str(BIN / 'python'), '-c', code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout

def test_help_and_version_do_not_import_torch():
    "The CLI answers --help, COMMAND --help and --version before importing torch (fast on any machine)."
    out = _fresh_python("import sys, contextlib, io\nfrom visgen.cli import main\n"
            "for a in (['--help'], ['--version']): main(a)\n"
            "try:\n    with contextlib.redirect_stdout(io.StringIO()): main(['pretrain', '--help'])\nexcept SystemExit: pass\n"
            "print('torch' in sys.modules)")
    assert out.strip().endswith('False') and 'visgen 0.1' in out and 'gpu-check' in out, out

def test_default_options_of_every_command_without_torch():
    "The default options of every command (and a run's whole tree, its config.json record) are built without importing torch (0.05 s measured; the time is printed, not asserted: it is the machine's)."
    out = _fresh_python("import sys, time\nt = time.perf_counter()\nfrom visgen.options import COMMAND_PARTS, RunOptions, run_record\n"
                        "opts = {c: {p: cls() for p, cls in parts.items()} for c, parts in COMMAND_PARTS.items()}\n"
                        "rec = run_record(RunOptions())\n"
                        "print(len(opts), sorted(rec), 'torch' in sys.modules, time.perf_counter() - t)")
    n, *_, torch_loaded, secs = out.split()
    print(f"default options of {n} commands built in {float(secs):.3f} s")
    assert int(n) >= 12 and torch_loaded == 'False', out

def test_every_command_help_shows_the_trees_flags():
    "Each command's --help lists exactly its options-tree fields as dashed flags (bools also as --no-X), none hand-written, torch not imported."
    import subprocess, sys
    from conftest import BIN
    code = ("import sys, contextlib, io, json, re\nfrom dataclasses import fields\nfrom visgen.cli import main\n"
            "from visgen.options import COMMAND_PARTS, flag\nout = {}\n"
            "for cmd, parts in COMMAND_PARTS.items():\n"
            "    buf = io.StringIO()\n"
            "    try:\n        with contextlib.redirect_stdout(buf): main([cmd, '--help'])\n    except SystemExit: pass\n"
            "    h = buf.getvalue().split('options:', 1)[1]\n"
            "    out[cmd] = dict(tree=sorted(flag(f) for c in parts.values() for f in fields(c)),\n"
            "                    shown=sorted(set(re.findall(r'^  (--[^\\s,]+)', h, re.M) + re.findall(r', (--[^\\s,]+)', h))))\n"
            "print(json.dumps(dict(out=out, torch='torch' in sys.modules)))")
    p = subprocess.run([str(BIN / 'python'), '-c', code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout.strip().splitlines()[-1])
    assert not r['torch']
    for cmd, d in r['out'].items():
        assert d['tree'], cmd
        shown = {s for s in d['shown'] if s != '--help'}
        assert all('_' not in s for s in shown), (cmd, shown)
        assert {s for s in shown if not (s.startswith('--no-') and '--' + s[5:] in d['tree'])} == set(d['tree']), (cmd, shown, d['tree'])

def test_probe_at_another_resolution(run):
    "`--img-size` probes the same images resized (a larger token grid); files named by size and position mode; bad values refused."
    p = run_visgen('probe', '--run', run, '--device', 'cpu', '--img-size', 16, '--positions', 'extrapolate')
    assert p.returncode == 0, p.stderr
    r = json.loads((run / 'probe_16px_extrapolate.json').read_text())
    assert (r['img_size'], r['positions']) == ([16, 16], 'extrapolate') and (run / 'probe_16px_extrapolate_correct.json').exists()
    assert r['pixel_linear_acc'] > 0.5                                       # the resized digits are still digits
    p = run_visgen('probe', '--run', run, '--device', 'cpu', '--img-size', 16, '--no-pixels')
    assert p.returncode == 0, p.stderr
    r = json.loads((run / 'probe_16px.json').read_text())
    assert r['positions'] == 'interpolate' and 'linear_acc' in r and not any(k.startswith('pixel_') for k in r), r
    before = sorted(f.name for f in run.iterdir())
    for args, msg in ((('--img-size', 15), "--img-size must be a multiple of the run's patch size 2"),
                      (('--img-size', 16, '--positions', 'stretch'), 'positions (--positions) must be one of interpolate, extrapolate'),
                      (('--img-size', 16, '--layers'), 'leave out --img-size')):
        p = run_visgen('probe', '--run', run, '--device', 'cpu', *args)
        assert p.returncode == 2 and msg in p.stderr and 'Traceback' not in p.stderr, p.stderr
    assert sorted(f.name for f in run.iterdir()) == before                  # nothing written by a refused call

def test_paper_probe(run):
    "The paper's linear probe (DARL's table 11: LARS, label smoothing 0.1, mean of the causal features) beside the fast one."
    p = run_visgen('probe', '--run', run, '--device', 'cpu', '--protocol', 'paper', '--epochs', 2)
    assert p.returncode == 0, p.stderr
    r = json.loads((run / 'probe.json').read_text())
    assert 0 <= r['paper_linear_acc'] <= 1 and 0 <= r['random_paper_linear_acc'] <= 1 and 'linear_acc' in r
    assert r['protocol'] == 'paper' and r['paper_recipe'] == dict(recipe='darl', optimizer='lars', epochs=2, blr=0.1, batch_size=256,
        warmup_epochs=0, weight_decay=0., label_smoothing=0.1, pool='mean'), r['paper_recipe']
    p = run_visgen('probe', '--run', run, '--device', 'cpu', '--epochs', 2)
    assert p.returncode == 2 and 'pass --protocol paper' in p.stderr

def test_run_written_before_the_options_tree(run, tmp_path):
    "A run whose config.json is the flat file of earlier versions is still probed, and resumed (a no-op here) or refused clearly."
    import shutil
    old = tmp_path / 'old'; shutil.copytree(run, old)
    rec = json.loads((old / 'config.json').read_text())
    flat = {**rec['model'], **rec['data'], **rec['train'], **rec['eval']}
    flat['image_size'] = flat.pop('img_size')                            # earlier files: the user's size under this name,
    flat.update(rec['derived'])                                          # and the derived values beside the options
    (old / 'config.json').write_text(json.dumps(flat))
    p = run_visgen('probe', '--run', old, '--device', 'cpu', '--no-pixels')
    assert p.returncode == 0, p.stderr[-2000:]
    assert json.loads((old / 'probe.json').read_text())['knn_acc'] == json.loads((old / 'metrics.json').read_text())['knn_acc']
    p = run_visgen('pretrain', '--method', 'darl_mse', '--data', 'digits', '--epochs', 15, '--out', old, '--seed', 0,
                   '--device', 'cpu', '--quiet', '--resume')
    assert p.returncode == 0, p.stderr[-2000:]
    assert 'derived' in json.loads((old / 'config.json').read_text())             # rewritten as the tree on resume
    p = run_visgen('pretrain', '--method', 'darl_mse', '--data', 'digits', '--epochs', 15, '--out', old, '--seed', 0,
                   '--device', 'cpu', '--quiet', '--resume', '--lr', '0.01')
    assert p.returncode == 2 and 'lr: 0.001 -> 0.01' in p.stderr and 'Traceback' not in p.stderr
