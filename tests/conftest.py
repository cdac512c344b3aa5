import os, subprocess, sys
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

def run_visgen(*args, cwd=None, env=None, timeout=600, check=False):
    "Run the `visgen` console script of this environment; returns the CompletedProcess."
    e = {**os.environ, **(env or {})}
    p = subprocess.run([str(BIN / 'visgen'), *map(str, args)], cwd=cwd or ROOT, env=e, timeout=timeout,
                       capture_output=True, text=True)
    if check and p.returncode: raise AssertionError(f"visgen {' '.join(map(str, args))} failed:\n{p.stdout}\n{p.stderr}")
    return p

@pytest.fixture
def visgen_cli(): return run_visgen

TINY = 'embed_dim=32,depth=2,num_heads=2'
