"Every notebook's examples are tests: run each one on a fresh kernel (slow/cuda cells skipped)."
import os
from pathlib import Path
import pytest, torch
from nbdev.config import get_config
from nbdev.test import test_nb as run_notebook

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted((ROOT / 'nbs').glob('*.ipynb'))

REGISTRIES = [('visgen.registry', 'METHODS'), ('visgen.registry', 'PAPER_CARDS'), ('visgen.options', 'PAPER_TRAIN'),
              ('visgen.options', 'RECIPES'), ('visgen.data', 'DATASETS')]

@pytest.fixture
def isolated():
    """nbdev runs a notebook inside this process: undo what its cells set globally (environment, torch modes, and the
    registries: a method notebook registers its own classes and paper card, which later tests in this worker must not see)."""
    import importlib
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

@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.stem)
def test_notebook(nb, monkeypatch, isolated):
    monkeypatch.chdir(nb.parent)
    skip = get_config(path=ROOT).get('tst_flags', '').replace('|', ' ').split()
    ok, secs = run_notebook(nb, skip_flags=[f for f in skip if f], do_print=False, showerr=True)
    assert ok, f"{nb.name} failed (see the traceback above)"
