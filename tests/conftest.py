import json, os, select, signal, subprocess, sys, tempfile
from pathlib import Path
# Tests run two pytest workers on two cores (see the Makefile): one thread each, set before torch loads.
os.environ.setdefault('OMP_NUM_THREADS', '1')
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

def same_weights(a: Path, b: Path):
    "Assert the `model.safetensors` of run directories `a` and `b` are equal, tensor by tensor."
    import torch
    from safetensors.torch import load_file
    wa, wb = load_file(str(a / 'model.safetensors')), load_file(str(b / 'model.safetensors'))
    assert wa.keys() == wb.keys()
    for k in wa: assert torch.equal(wa[k], wb[k]), f"{k} differs"


# Most CLI tests start `visgen` for an error found in a second or a run of a few steps: importing torch, the methods and
# the pipeline (~4 s on 2 cores) was most of their time. A "zygote" process imports them once per pytest worker and forks a
# child per command; the child sets the test's cwd, environment and output files, runs `visgen.cli.main` and exits with its
# status, as the console script does (same interpreter, the same `main`). Environments that change how a process starts
# (PYTHONPATH, thread counts, torch/CUDA settings) and tests that signal the process start the console script itself.
# `run_python` serves `python -c CODE` and `python SCRIPT` (experiments/, fault-injection code that patches visgen) alike.
_ZYGOTE = r'''
import json, os, sys, traceback
import torch, visgen.cli, visgen.pipeline, visgen.registry
visgen.registry.load_methods()
out = os.fdopen(os.dup(1), 'w', buffering=1)
for line in sys.stdin:
    r = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.chdir(r['cwd']); os.environ.clear(); os.environ.update(r['env'])
        for fd, path, flags in ((0, os.devnull, os.O_RDONLY), (1, r['out'], os.O_WRONLY), (2, r['err'], os.O_WRONLY)):
            f = os.open(path, flags); os.dup2(f, fd); os.close(f)
        if 'python' not in r:
            sys.argv = ['visgen', *r['args']]
            raise SystemExit(visgen.cli.main(r['args']))
        a = r['python']                                  # `python -c CODE ARGS...` or `python SCRIPT ARGS...`
        sys.argv = ['-c', *a[2:]] if a[0] == '-c' else a
        if a[0] != '-c': sys.path[0] = os.path.dirname(os.path.abspath(a[0]))
        import runpy
        if a[0] == '-c': exec(compile(a[1], '<string>', 'exec'), {'__name__': '__main__'})
        else: runpy.run_path(a[0], run_name='__main__')
        raise SystemExit(0)
    out.write(f"{pid}\n")
    out.write(f"{os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])}\n")
'''
_STARTUP = ('PYTHON', 'OMP_', 'MKL_', 'KMP_', 'TORCH', 'CUDA', 'LD_', 'ATEN_', 'ONEDNN_', 'VIRTUAL_ENV', 'PATH')
_zygote, _zygote_env, _buf = None, None, b''

def _startup_env(env): return {k: v for k, v in env.items() if k.startswith(_STARTUP)}

def _line(fd, timeout=None) -> str|None:
    "The zygote's next line, or None after `timeout` seconds without one."
    global _buf
    while b'\n' not in _buf:
        if not select.select([fd], [], [], timeout)[0]: return None
        chunk = os.read(fd, 4096)
        if not chunk: raise RuntimeError('the zygote process died')
        _buf += chunk
    line, _, _buf = _buf.partition(b'\n')
    return line.decode()

def _zygote_run(args, cwd, env, timeout, python=False):
    "`visgen *args` (`python`: `python *args`) in a child forked from the zygote; a CompletedProcess, or None where it cannot serve."
    global _zygote, _zygote_env, _buf
    if _zygote is None or _zygote.poll() is not None:
        _zygote_env, _buf = _startup_env(os.environ), b''
        _zygote = subprocess.Popen([sys.executable, '-c', _ZYGOTE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                   cwd=ROOT, bufsize=1)
    if _startup_env(env) != _zygote_env: return None
    with tempfile.TemporaryDirectory() as d:
        o, e = Path(d) / 'out', Path(d) / 'err'; o.touch(); e.touch()
        req = dict(args=args, cwd=str(cwd), env=env, out=str(o), err=str(e), **({'python': args} if python else {}))
        _zygote.stdin.write(json.dumps(req) + '\n'); _zygote.stdin.flush()
        fd = _zygote.stdout.fileno()
        pid = int(_line(fd)); code = _line(fd, timeout)
        if code is None:
            os.kill(pid, signal.SIGKILL); _line(fd)
            raise subprocess.TimeoutExpired([('python' if python else 'visgen'), *args], timeout, o.read_text(), e.read_text())
        return subprocess.CompletedProcess([('python' if python else 'visgen'), *args], int(code), o.read_text(), e.read_text())

def run_visgen(*args, cwd=None, env=None, timeout=600, check=False, fresh=False):
    "Run `visgen *args` (in a child of the zygote, or with `fresh` the console script itself); returns the CompletedProcess."
    e, args = {**os.environ, **(env or {})}, list(map(str, args))
    p = None if fresh else _zygote_run(args, cwd or ROOT, e, timeout)
    if p is None:
        p = subprocess.run([str(BIN / 'visgen'), *args], cwd=cwd or ROOT, env=e, timeout=timeout, capture_output=True, text=True)
    if check and p.returncode: raise AssertionError(f"visgen {' '.join(args)} failed:\n{p.stdout}\n{p.stderr}")
    return p

def run_python(*args, cwd=None, env=None, timeout=600):
    """`python *args` (`-c CODE ...` or `SCRIPT ...`), forked from the zygote where the environment allows (torch and visgen
    already imported: code that patches a visgen module patches the one the command uses), else a fresh interpreter."""
    e, args = {**os.environ, **(env or {})}, list(map(str, args))
    p = _zygote_run(args, cwd or ROOT, e, timeout, python=True)
    return p or subprocess.run([sys.executable, *args], cwd=cwd or ROOT, env=e, timeout=timeout, capture_output=True, text=True)

@pytest.fixture
def visgen_cli(): return run_visgen

TINY = 'embed_dim=32,depth=2,num_heads=2'

REGISTRIES = [('visgen.registry', 'METHODS'), ('visgen.registry', 'PAPER_CARDS'), ('visgen.options', 'PAPER_TRAIN'),
              ('visgen.options', 'RECIPES'), ('visgen.data', 'DATASETS')]

@pytest.fixture
def isolated():
    """nbdev runs a notebook inside this process: undo what its cells set globally (environment, torch modes, and the
    registries: a method notebook registers its own classes and paper card, which later tests in this worker must not see)."""
    import importlib, torch
    env, grad, dtype = dict(os.environ), torch.is_grad_enabled(), torch.get_default_dtype()
    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    importlib.import_module('visgen.registry').load_methods()     # every built-in registered before the snapshot
    regs = [getattr(importlib.import_module(m), n) for m, n in REGISTRIES]
    saved = [dict(r) for r in regs]
    yield
    for r, s in zip(regs, saved): r.clear(); r.update(s)
    os.environ.clear(); os.environ.update(env)
    torch.set_grad_enabled(grad); torch.set_default_dtype(dtype)
    torch.set_num_threads(threads); torch.use_deterministic_algorithms(det)
