"Every notebook's examples are tests: run each one on a fresh kernel (slow/cuda/figure cells skipped); the cheap drawing notebooks are run by tests/test_outputs.py."
import os
from pathlib import Path
import pytest, torch
from nbdev.config import get_config
from nbdev.test import test_nb as run_notebook

ROOT = Path(__file__).resolve().parents[1]
from test_outputs import CHEAP   # executed whole, examples included, by tests/test_outputs.py (which compares their figures)
NBS = [p for p in sorted((ROOT / 'nbs').glob('*.ipynb')) if p.stem not in CHEAP]

@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.stem)
def test_notebook(nb, monkeypatch, isolated):
    monkeypatch.chdir(nb.parent)
    skip = get_config(path=ROOT).get('tst_flags', '').replace('|', ' ').split()
    ok, secs = run_notebook(nb, skip_flags=[f for f in skip if f], do_print=False, showerr=True)
    assert ok, f"{nb.name} failed (see the traceback above)"
