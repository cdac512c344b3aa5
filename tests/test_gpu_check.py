"""`visgen gpu-check --dry`: every step of the GPU check at toy sizes on the CPU, one table, a JSON copy; and a check
with one failed row fails (non-zero exit, the row named), whatever the other rows say."""
import json, subprocess, sys
from conftest import ROOT, run_visgen

FIXED = ['cuda cells', 'bench darl_mse micro_8', 'flex randsac', 'stream', 'torchrun']   # what --budget 70 buys (the minimum: 66 s)


def test_gpu_check_dry(tmp_path):
    """The minimum (every step once) within a budget that buys nothing more: the optional items (flex saim, bench saim)
    are planned out, not run (`plan` is tested in nbs/22_gpucheck.ipynb; a failed optional row in the next test)."""
    p = run_visgen('gpu-check', '--dry', '--budget', '70', '--out', tmp_path / 'gc.json', env={'OMP_NUM_THREADS': '1'}, timeout=900)
    print(p.stdout[-3000:])
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    res = json.loads((tmp_path / 'gc.json').read_text())
    rows = {r['step']: r for r in res['rows']}
    assert list(rows) == FIXED, list(rows)
    assert all(rows[s]['status'] == 'ok' for s in FIXED), res['rows']
    assert res['tf32'] is True and res['dry'] is True and res['plan']['est'] <= res['budget']
    assert rows['torchrun']['figures'] == dict(world_size=2, backend='gloo')
    assert rows['bench darl_mse micro_8']['figures']['compiled_img_s'] > 0
    for s in ('[gpu-check] budget 70 s', '| stream | ok |', 'img/s streamed', 'MFU', 'compiled', '= dense masks',
              'gloo on the CPU', '0 failed'):
        assert s in p.stdout, s


FAIL_ONE = """
import sys
import visgen.bench as vb, visgen.gpucheck as gc
real = vb.bench_method
def bench_method(method, *a, **kw):
    if method == 'darl_mse': raise RuntimeError('made to fail')
    return real(method, *a, **kw)
vb.bench_method = bench_method
gc.STEPS = ('bench', 'flex')               # the bench row, and a flex row that passes beside it: seconds, not minutes
from visgen.cli import main
main(['gpu-check', '--dry', '--budget', '70', '--out', sys.argv[1]])   # the minimum plan: no optional row
"""

def test_gpu_check_fails_on_one_failed_row(tmp_path):
    p = subprocess.run([sys.executable, '-c', FAIL_ONE, str(tmp_path / 'gc.json')], cwd=ROOT, capture_output=True, text=True,
                       timeout=900, env={**__import__('os').environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': str(ROOT)})
    assert p.returncode == 2, p.stdout[-2000:] + p.stderr[-2000:]
    assert 'failed row(s): bench darl_mse micro_8' in p.stderr, p.stderr[-2000:]
    rows = {r['step']: r for r in json.loads((tmp_path / 'gc.json').read_text())['rows']}
    assert rows['bench darl_mse micro_8']['status'] == 'failed' and 'made to fail' in rows['bench darl_mse micro_8']['result']
    assert rows['flex randsac']['status'] == 'ok'   # one failed row fails the check even when the others pass
    assert '| bench darl_mse micro_8 | failed |' in p.stdout
