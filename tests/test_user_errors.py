"""Table-driven: every user mistake exits non-zero with a message naming the problem and the fix, prints no traceback,
and leaves every file as it was (issue 13). One row per fault: setup, command, exit code, a phrase of the message."""
import hashlib, json, os, shutil, signal, subprocess, time
from pathlib import Path
import pytest
from conftest import run_visgen, BIN, ROOT, TINY

ENV = {'OMP_NUM_THREADS': '1'}
BASE = ('--method', 'darl_mse', '--epochs', 1, '--batch-size', 64, '--device', 'cpu', '--quiet', '--opts', TINY)

@pytest.fixture(scope='module')
def finished(tmp_path_factory):
    "A finished tiny run, copied by the rows that need one."
    out = tmp_path_factory.mktemp('fin') / 'run'
    run_visgen('pretrain', *BASE, '--out', out, env=ENV, check=True)
    return out

def _snapshot(d:Path) -> dict:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.rglob('*')) if p.is_file()}

def _user_dir(t): (t / 'd').mkdir(); (t / 'd' / 'thesis.txt').write_text('years of work')
def _site_and_user_dir(t): _user_dir(t); (t / 'p').mkdir(); (t / 'p' / '_quarto.yml').write_text('project:\n  type: website\n')
def _a_file(t): (t / 'f').write_text('not a folder')
def _bad_template(t): (t / 'notes.ipynb').write_text('these are notes, not JSON')
def _nan_run(t):
    from safetensors.torch import load_file, save_file
    f = t / 'run' / 'model.safetensors'; save_file({k: v * float('nan') for k, v in load_file(str(f)).items()}, f)
def _bad_config(t): (t / 'run' / 'config.json').write_text('{"method": "darl_mse", "epo')

FAULTS = [  # id, setup(tmp), needs a finished run copied to tmp/run, command, exit code, phrase, folder that must not change
    ('overwrite-user-folder', _user_dir, False, ('pretrain', *BASE, '--out', 'd', '--overwrite'), 2, 'not a visgen run directory', 'd'),
    ('overwrite-then-bad-batch', None, True, ('pretrain', *BASE, '--out', 'run', '--overwrite', '--batch-size', 5000), 2,
     'fewer than one global batch', 'run'),
    ('resume-other-lr', None, True, ('pretrain', *BASE, '--out', 'run', '--resume', '--lr', 0.01), 2, 'lr: 0.001 -> 0.01', 'run'),
    ('resume-other-epochs', None, True, ('pretrain', *BASE, '--out', 'run', '--resume', '--epochs', 3), 2, '--extend', 'run'),
    ('resume-other-batch', None, True, ('pretrain', *BASE, '--out', 'run', '--resume', '--batch-size', 32), 2, 'batch_size', 'run'),
    ('extend-without-resume', None, True, ('pretrain', *BASE, '--out', 'run', '--extend'), 2, 'together with --resume', 'run'),
    ('unknown-opt', None, False, ('pretrain', '--out', 'r', '--opts', 'bogus=1'), 2, "Unknown option(s) ['bogus']", None),
    ('opt-wrong-type', None, False, ('pretrain', '--out', 'r', '--opts', 'embed_dim=abc'), 2, 'expects int', None),
    ('opt-garbage', None, False, ('pretrain', '--out', 'r', '--opts', 'pos=,=='), 2, '--opts', None),
    ('out-is-a-file', _a_file, False, ('pretrain', *BASE, '--out', 'f'), 2, 'is a file', None),
    ('patch-size-0', None, False, ('pretrain', '--out', 'r', '--patch-size', 0), 2, 'patch_size (--patch-size) must be at least 1', None),
    ('lr-inf', None, False, ('pretrain', '--out', 'r', '--lr', 'inf'), 2, 'finite', None),
    ('epochs-0', None, False, ('pretrain', '--out', 'r', '--epochs', 0), 2, 'epochs (--epochs) must be at least 1', None),
    ('on-corrupt-bogus', None, False, ('pretrain', '--out', 'r', '--on-corrupt', 'ignore'), 2, '--on-corrupt', None),
    ('probe-not-a-run', _user_dir, False, ('probe', '--run', 'd'), 2, 'not a visgen run', 'd'),
    ('probe-nan-weights', _nan_run, True, ('probe', '--run', 'run', '--device', 'cpu'), 2, 'NaN or infinite weights', 'run'),
    ('probe-corrupt-config', _bad_config, True, ('probe', '--run', 'run', '--device', 'cpu'), 2, 'config.json is corrupt', 'run'),
    ('finetune-epochs-0', None, True, ('finetune', '--run', 'run', '--epochs', 0, '--device', 'cpu'), 2, 'epochs (--epochs) must be at least 1', 'run'),
    ('finetune-lr-nan', None, True, ('finetune', '--run', 'run', '--lr', 'nan', '--device', 'cpu'), 2, 'lr (--lr) must be a finite number', 'run'),
    ('template-bool-for-int', None, False, ('experiment', '--template', 'pretrain', '--output', 'o.ipynb', '--params', 'epochs=True'),
     2, "PretrainTemplate.epochs must be int", None),
    ('template-not-a-notebook', _bad_template, False, ('experiment', '--template', 'notes.ipynb', '--output', 'o.ipynb'), 2,
     'not a readable notebook', None),
    ('template-unknown', None, False, ('experiment', '--template', 'nosuch', '--output', 'o.ipynb'), 2, 'not found', None),
    ('main-unknown-method', None, False, ('main', '--methods', 'nosuch', '--out', 'm', '--no-site'), 2, 'Unknown method', None),
    ('out-unwritable', None, False, ('pretrain', *BASE, '--out', '/proc/visgen-run'), 2, 'writable place', None),
    ('sample-not-a-run', _user_dir, False, ('sample', '--run', 'd'), 2, 'not a visgen run', 'd'),
    ('bench-unknown-shape', None, False, ('bench', '--shapes', 'bogus', '--device', 'cpu'), 2, "Unknown shape 'bogus'", None),
    ('site-no-project', _user_dir, False, ('site', '--root', 'd'), 2, 'has no _quarto.yml', 'd'),
    ('site-out-user-folder', _site_and_user_dir, False, ('site', '--root', 'p', '--out', 'd'), 2, 'pass --out another folder', 'd'),
]

@pytest.mark.parametrize('name,setup,run,cmd,code,phrase,keep', FAULTS, ids=[f[0] for f in FAULTS])
def test_user_error(tmp_path, finished, name, setup, run, cmd, code, phrase, keep):
    if run: shutil.copytree(finished, tmp_path / 'run')
    if setup: setup(tmp_path)
    before = _snapshot(tmp_path / keep) if keep else None
    p = run_visgen(*cmd, cwd=tmp_path, env=ENV)
    assert p.returncode == code, (p.returncode, p.stderr[-2000:])
    assert phrase in p.stderr, p.stderr[-2000:]
    assert 'Traceback' not in p.stderr, p.stderr[-3000:]
    if keep: assert _snapshot(tmp_path / keep) == before, f"{keep} changed"
    for stub in ('r', 'o.ipynb', 'm'): assert not (tmp_path / stub).exists(), f"a failed start left {stub}"

def _wait_for(path:Path, proc, timeout=120):
    t0 = time.time()
    while not (path.exists() and path.stat().st_size) and time.time() - t0 < timeout and proc.poll() is None: time.sleep(0.2)
    assert path.exists(), "training did not start"

def test_second_writer_is_refused_and_ctrl_c_exits_130(tmp_path):
    "While a run trains, a second `--resume` on its folder exits 2 naming the holder's PID; Ctrl-C ends the first with 130."
    out = tmp_path / 'run'
    # far more epochs than any machine trains before the signal: the test must not depend on the machine's speed
    args = [str(BIN / 'visgen'), 'pretrain', *map(str, BASE), '--epochs', '100000', '--out', str(out)]
    # a shell that started the tests in the background ignores SIGINT, and children inherit that: restore the default
    a = subprocess.Popen(args, env={**os.environ, **ENV}, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        _wait_for(out / 'metrics.jsonl', a)
        b = run_visgen('pretrain', *BASE, '--epochs', 100000, '--out', out, '--resume', env=ENV)
        assert b.returncode == 2 and f'PID {a.pid}' in b.stderr, b.stderr[-2000:]
        a.send_signal(signal.SIGINT)
        _, err = a.communicate(timeout=120)
        assert a.returncode == 130 and 'interrupted' in err and '--resume' in err and 'Traceback' not in err, err[-2000:]
    finally:
        if a.poll() is None: a.kill()

def test_every_fault_is_on_the_site_page():
    page = (ROOT / 'faults.qmd').read_text()
    missing = [f[0] for f in FAULTS if f'| {f[0]} |' not in page]
    assert not missing, f"faults.qmd lacks rows for {missing}"
