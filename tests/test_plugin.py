"A method from another installed package (entry-point group `visgen.methods`) is a visgen method like the built-in ones."
import json, os, subprocess, sys, textwrap
from pathlib import Path
from conftest import run_visgen

PLUGIN = '''
import torch
from torch import nn
from visgen.registry import register_method
from visgen.vit import ViT, vit_config
from visgen.patches import patchify

class NextMean(nn.Module):
    "Regress each patch's pixels from the mean of the tokens (a throw-away method for the plug-in test)."
    def __init__(self, cfg):
        super().__init__()
        self.backbone = ViT(cfg)
        self.head = nn.Linear(cfg.embed_dim, cfg.patch_size ** 2 * cfg.in_chans)
    def forward(self, imgs):
        h = self.backbone.forward_features(imgs)                                   # (B, N, D)
        pred = self.head(h)
        return dict(loss=(pred - patchify(imgs, self.backbone.cfg.patch_size)).square().mean(), pred=pred)
    def features(self, imgs, pool='mean'):
        h = self.backbone.forward_features(imgs)
        return h.mean(1) if pool == 'mean' else h[:, -1]

@register_method
def plugin_next_mean(size='micro', img_size=8, patch_size=2, in_chans=1):
    "A throw-away method registered by another package."
    return NextMean(vit_config(size, img_size=img_size, patch_size=patch_size, in_chans=in_chans, embed_dim=16, depth=1, num_heads=2))
'''

def test_plugin_method_trains_through_the_cli(tmp_path):
    pkg = tmp_path / 'src'; (pkg / 'visgen_plugin_demo').mkdir(parents=True)
    (pkg / 'visgen_plugin_demo' / '__init__.py').write_text(PLUGIN)
    (pkg / 'pyproject.toml').write_text(textwrap.dedent('''
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "visgen-plugin-demo"
        version = "0.1"
        [project.entry-points."visgen.methods"]
        plugin_next_mean = "visgen_plugin_demo"
        [tool.setuptools]
        packages = ["visgen_plugin_demo"]
    '''))
    site = tmp_path / 'site'
    p = subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps', '--no-build-isolation', '--no-index',
                        '--target', str(site), str(pkg)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    env = {'PYTHONPATH': os.pathsep.join([str(site), os.environ.get('PYTHONPATH', '')]), 'OMP_NUM_THREADS': '1'}
    listed = run_visgen('main', '--list', env=env)
    assert 'plugin_next_mean' in listed.stdout.split(), listed.stdout + listed.stderr
    run = tmp_path / 'run'
    p = run_visgen('pretrain', '--method', 'plugin_next_mean', '--epochs', '1', '--batch-size', '64', '--train-limit', '64',
                   '--test-limit', '32', '--device', 'cpu', '--quiet', '--out', run, env=env)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    m = json.loads((run / 'metrics.json').read_text())
    assert m['method'] == 'plugin_next_mean' and m['steps'] == 1 and 0 <= m['knn_acc'] <= 1
    code = "from visgen.registry import load_methods; load_methods(); import timm; print(type(timm.create_model('plugin_next_mean')).__name__)"
    p = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env={**os.environ, **env}, timeout=300)
    assert p.stdout.strip() == 'NextMean', p.stderr
