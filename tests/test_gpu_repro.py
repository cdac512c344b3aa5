"The one-GPU-slot reproduction template runs end to end at toy sizes on the CPU (`dry=True`)."
import json
from conftest import ROOT
from visgen.cli import execute_template

def test_gpu_repro_dry_run(tmp_path):
    out = tmp_path / 'runs'
    nb = execute_template(ROOT / 'experiments' / 'gpu_repro.ipynb', tmp_path / 'gpu_repro.ipynb',
                          dict(dry=True, out_dir=str(out)), cwd=ROOT)
    res = json.loads((out / 'gpu_repro.json').read_text())
    assert res['epochs'] >= 1 and res['img_s'] > 0
    assert [r['order'] for r in res['results']] == ['raster', 'random', 'square']
    text = nb.read_text()
    for s in ('img/s ->', '| patch-raster (seed 0) | 55.5 |', '| squares M=2 (seed 0) | 81.4 |'): assert s in text, s
