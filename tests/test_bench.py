"`visgen bench` and the benchmark template at toy shapes: they run and report every row; timings stay out of tests."
import json
import pytest
from conftest import run_visgen, ROOT
from visgen.core import native_bf16

# bf16 rows only where the CPU computes bf16 natively (AMX/AVX512-BF16); elsewhere they are skipped with a reason.
AMPS = ('fp32', 'bf16') if native_bf16('cpu') else ('fp32',)

pytestmark = pytest.mark.xdist_group(name='bench')


def test_bench_cli_prints_the_table(tmp_path):
    out = tmp_path / 'bench.json'
    p = run_visgen('bench', '--methods', 'darl_mse,saim', '--shapes', 'micro_8', '--batch', 8, '--repeats', 1,
                   '--device', 'cpu', '--out', out)
    assert p.returncode == 0, p.stderr
    res = json.loads(out.read_text())
    got = {(r['method'], r['path'], r['dtype']) for r in res['rows']}
    assert got == {(m, path, d) for m in ('darl_mse', 'saim') for path, d in [('fast', a) for a in AMPS] + [('reference', 'fp32')]}
    assert set(res['peaks']) == set(AMPS) and all(v > 0 for v in res['peaks'].values())
    assert (res['skipped'] is None) == ('bf16' in AMPS) and res['cpu']
    if 'bf16' not in AMPS: assert 'bf16 skipped: emulated on' in p.stdout, p.stdout
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
    wanted = ['measured matmul peak', 'math speed-up', 'recompute s/img', 'image/png', '| saim | micro_8 |']
    wanted += ['largest gap', '| DARL-MSE fast bf16, fraction of the bf16 matmul peak | >= 30% |'] if 'bf16' in AMPS else \
              ['bf16 skipped: emulated on', 'bf16-vs-fp32 curves skipped']
    for s in wanted: assert s in text, s
