"`visgen gpu-check --dry`: every step of the GPU check at toy sizes on the CPU, one table, a JSON copy."
import json
from conftest import run_visgen

def test_gpu_check_dry(tmp_path):
    p = run_visgen('gpu-check', '--dry', '--out', tmp_path / 'gc.json', env={'OMP_NUM_THREADS': '1'}, timeout=900)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    rows = json.loads((tmp_path / 'gc.json').read_text())['rows']
    assert [r['step'] for r in rows] == ['cuda cells', 'bench', 'flex', 'stream', 'torchrun']
    assert all(r['status'] == 'ok' for r in rows), rows
    assert '| stream | ok |' in p.stdout and 'img/s' in p.stdout
