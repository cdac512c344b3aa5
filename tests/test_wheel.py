"""A new user's day one: a wheel built from the repository, installed in a fresh virtual environment,
runs `visgen main` from an empty directory and builds the site there.

The fresh environment gets only the wheel (`pip install --no-deps`); torch and the other dependencies
come from this environment's site-packages through a `.pth` file (cheap: nothing is downloaded), which
adds that folder to `sys.path` but does not run its `.pth` files, so the editable install of the
repository is not seen. The job runs one method for one epoch on the embedded digits data (about a
minute on two cores), under umask 002, to check that written weights are group-readable.

`visgen main` runs first as with only the `experiments` extra: the `.pth` hides smalldocs (the `site` extra's
renderer) while `VISGEN_TEST_NO_SITE` is set, so main must finish with exit 0, saying that the site was skipped and
which extra renders it. `visgen export` of that run is then loaded by the printed `timm.create_model` line in a
process that has not imported visgen, and compared with visgen's backbone; `visgen site` then renders the site.
"""
import json, os, shutil, stat, subprocess, sys, sysconfig, zipfile
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.xdist_group(name='wheel')


def _sh(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope='module')
def wheel(tmp_path_factory) -> Path:
    "A wheel built from a copy of the sources (the repository gets no build/ folder)."
    src = tmp_path_factory.mktemp('src')
    for name in ('setup.py', 'pyproject.toml', 'settings.ini', 'README.md', 'MANIFEST.in', 'LICENSE'): shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / 'visgen', src / 'visgen', ignore=shutil.ignore_patterns('__pycache__'))
    (src / 'experiments').mkdir()
    for t in (ROOT / 'experiments').glob('*.ipynb'): shutil.copy(t, src / 'experiments' / t.name)
    out = tmp_path_factory.mktemp('wheel')
    _sh([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-build-isolation', '-w', out, src])
    return next(out.glob('visgen_harness-*.whl'))   # the distribution visgen-harness; the import visgen


def test_wheel_contents_and_metadata(wheel):
    z = zipfile.ZipFile(wheel)
    names = z.namelist()
    templates = {Path(n).name for n in names if n.startswith('visgen/templates/')}
    assert {t.name for t in (ROOT / 'experiments').glob('*.ipynb')} == templates
    assert not any('experiments/results' in n for n in names), 'executed results are not templates'
    meta = z.read(next(n for n in names if n.endswith('.dist-info/METADATA'))).decode()
    assert 'Name: visgen-harness' in meta.splitlines(), 'the name on PyPI is ours, not the unrelated `visgen`'
    assert 'License-Expression: Apache-2.0' in meta
    assert any(n.endswith('.dist-info/licenses/LICENSE') for n in names), 'the licence text ships in the wheel'
    assert 'Classifier: Development Status :: 3 - Alpha' in meta
    requires = [l.split(':', 1)[1].strip() for l in meta.splitlines() if l.startswith('Requires-Dist:')]
    core = {r.split(';')[0].split('>')[0].split('=')[0].split('<')[0].strip().lower() for r in requires if 'extra ==' not in r}
    assert {'pyyaml', 'torch', 'timm', 'safetensors', 'fastcore', 'scipy'} <= core
    assert not core & {'papermill', 'smalldocs', 'nbdev', 'pytest'}, 'tools belong to extras'
    extras = lambda e: {r.split(';')[0].strip() for r in requires if f'extra == "{e}"' in r}
    assert any(r.startswith('papermill') for r in extras('experiments'))
    assert any(r.startswith('smalldocs') for r in extras('site'))
    assert {'ipywidgets'} <= {r.split('>')[0].split('=')[0].split('<')[0] for r in extras('dev')}
    pinned = [r for e in ('experiments', 'site', 'dev') for r in extras(e) if '==' in r]
    assert not pinned, f'extras take ranges, not exact pins: {pinned}'


def test_main_from_an_empty_directory(wheel, tmp_path):
    venv = tmp_path / 'venv'
    _sh([sys.executable, '-m', 'venv', '--without-pip', venv])
    py = venv / 'bin' / 'python'
    site = Path(_sh([py, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])']).stdout.strip())
    (site / 'deps-from-dev-env.pth').write_text(sysconfig.get_paths()['purelib'] + '\n'
        # only the `experiments` extra while VISGEN_TEST_NO_SITE is set: smalldocs cannot be found or imported
        "import os, sys; os.environ.get('VISGEN_TEST_NO_SITE') and sys.modules.__setitem__('smalldocs', None)\n")
    _sh([sys.executable, '-m', 'pip', '--python', py, 'install', '-q', '--no-deps', wheel])
    env = {**os.environ, 'PATH': f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}", 'OMP_NUM_THREADS': '1'}
    env.pop('PYTHONPATH', None)                         # (a worktree's PYTHONPATH would import its visgen, not the wheel's)
    where = _sh([py, '-c', 'import visgen; print(visgen.__file__)'], cwd=tmp_path, env=env).stdout.strip()
    assert where.startswith(str(site)), f'visgen imported from {where}, not the wheel'

    work = tmp_path / 'empty'; work.mkdir()
    r = subprocess.run(f"umask 002 && exec {venv / 'bin' / 'visgen'} main --methods darl_mse --epochs 1 --device cpu --out results",
                       shell=True, cwd=work, env={**env, 'VISGEN_TEST_NO_SITE': '1'}, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    assert str(site / 'visgen' / 'templates' / 'pretrain.ipynb') in r.stdout, 'the shipped template ran'
    assert '[visgen main] site skipped' in r.stdout and 'pip install "visgen-harness[site]"' in r.stdout, r.stdout[-2000:]
    res = work / 'results'
    assert not (res / '_site').exists() and 'Traceback' not in r.stderr
    m = json.loads((res / 'darl_mse' / 'metrics.json').read_text())
    assert 0 <= m['knn_acc'] <= 1
    assert (res / 'summary.md').is_file() and 'darl_mse' in (res / 'summary.md').read_text()
    for f in [res / 'darl_mse' / 'model.safetensors', *res.glob('darl_mse/checkpoints/step-*/model.safetensors')]:
        assert stat.S_IMODE(f.stat().st_mode) == 0o664, f'{f} is {oct(f.stat().st_mode)}: umask 002 asks for 0664'
    # `visgen export`: the run's backbone for timm's own model, loaded by the printed line in a process without visgen
    r = subprocess.run([venv / 'bin' / 'visgen', 'export', '--run', res / 'darl_mse'], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    exported = res / 'darl_mse' / 'timm' / 'model.safetensors'
    mask = os.umask(0); os.umask(mask)
    assert stat.S_IMODE(exported.stat().st_mode) == 0o666 & ~mask, f'the export follows the umask: {oct(exported.stat().st_mode)}'
    line = r.stdout.split('\n', 1)[1]
    r = subprocess.run([py, '-c', _TIMM_THEN_VISGEN, line, res / 'darl_mse'], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert 'timm.models.eva.Eva' in r.stdout and 'features agree' in r.stdout, r.stdout     # darl_mse: 2D RoPE, timm's EVA
    # `visgen site` renders the site main skipped, from anywhere, once a renderer is installed
    site_dir = res / '_site'
    r = subprocess.run([venv / 'bin' / 'visgen', 'site', '--root', res], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (site_dir / 'index.html').is_file()
    page = (site_dir / 'darl_mse' / 'pretrain.html').read_text()
    assert 'darl_mse on digits' in page
    assert 'out_dir = ' not in page, 'papermill parameter cells are hidden'
    assert str(tmp_path) not in page, 'no local path on the page'
    assert 'darl_mse/pretrain.html' in (site_dir / 'index.html').read_text()
    assert not list(work.glob('_site')) and not (work / 'runs').exists(), 'everything went under --out'


_TIMM_THEN_VISGEN = r"""
import sys, torch
try: import torchvision
except RuntimeError as e:   # a CUDA-built torchvision beside a CPU torch (as in this dev environment): not visgen's business,
    assert 'torchvision::' in str(e), e            # but timm imports it; declare its two ops as visgen.core does, without visgen
    for m in [m for m in sys.modules if m.startswith('torchvision')]: del sys.modules[m]
    lib = torch.library.Library('torchvision', 'FRAGMENT')
    for s in ('nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor', 'qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor'):
        lib.define(s)
env = {}; exec(sys.argv[1], env); tm = env['model'].eval()
assert not [m for m in sys.modules if m.startswith('visgen')], 'the printed line needs no visgen'
from visgen.pipeline import load_run
model, cfg, info = load_run(sys.argv[2])
torch.manual_seed(0); x = torch.randn(16, info['in_chans'], *info['img_size'])
with torch.no_grad(): ref, tokens, pooled = model.backbone.eval().forward_features(x), tm.forward_features(x), tm(x)
torch.testing.assert_close(tokens, ref, rtol=1e-5, atol=1e-5); torch.testing.assert_close(pooled, ref.mean(1), rtol=1e-5, atol=1e-5)
print(type(tm).__module__ + '.' + type(tm).__name__, 'features agree: max abs difference', (tokens - ref).abs().max().item())
"""
