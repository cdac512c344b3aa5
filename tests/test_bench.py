"`visgen bench` and the benchmark template at toy shapes: they run and report every row; timings stay out of tests."
import json
import pytest
from conftest import run_visgen, ROOT

pytestmark = pytest.mark.xdist_group(name='bench')


def test_bench_cli_prints_the_table(tmp_path):
    out = tmp_path / 'bench.json'
    p = run_visgen('bench', '--methods', 'darl_mse,saim', '--shapes', 'micro_8', '--batch', 8, '--repeats', 1,
                   '--device', 'cpu', '--out', out)
    assert p.returncode == 0, p.stderr
    res = json.loads(out.read_text())
    got = {(r['method'], r['path'], r['dtype']) for r in res['rows']}
    assert got == {(m, path, d) for m in ('darl_mse', 'saim') for path, d in (('fast', 'fp32'), ('fast', 'bf16'), ('reference', 'fp32'))}
    assert set(res['peaks']) == {'fp32', 'bf16'} and all(v > 0 for v in res['peaks'].values())
    assert '| saim | micro_8 | 8 | reference | fp32 |' in p.stdout
    p = run_visgen('bench', '--shapes', 'vit_x_9', '--device', 'cpu')
    assert p.returncode == 2 and "Unknown shape 'vit_x_9'" in p.stderr and 'Traceback' not in p.stderr, p.stderr


def test_bench_template_runs(tmp_path):
    from visgen.cli import execute_template
    nb = execute_template(ROOT / 'experiments' / 'bench.ipynb', tmp_path / 'bench.ipynb', dict(
        methods='darl_mse', shapes='micro_8', batch=8, device='cpu', repeats=1, amp_check_steps=12, amp_check_methods='darl_mse',
        attention_lengths='16', gen_size='micro', gen_batch='2', gen_patches='4',
        more_shapes='micro_8', more_methods='saim'), cwd=ROOT)
    text = nb.read_text()
    for s in ('measured matmul peak', 'largest gap', 'math speed-up', 'recompute s/img', 'image/png', '| saim | micro_8 |',
              '| DARL-MSE fast bf16, fraction of the bf16 matmul peak | >= 30% |'): assert s in text, s
