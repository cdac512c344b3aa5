"Every notebook's examples are tests: run each one on a fresh kernel (slow/cuda cells skipped)."
from pathlib import Path
import pytest
from nbdev.config import get_config
from nbdev.test import test_nb as run_notebook

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted((ROOT / 'nbs').glob('*.ipynb'))

@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.stem)
def test_notebook(nb, monkeypatch):
    monkeypatch.chdir(nb.parent)
    skip = get_config(path=ROOT).get('tst_flags', '').replace('|', ' ').split()
    ok, secs = run_notebook(nb, skip_flags=[f for f in skip if f], do_print=False, showerr=True)
    assert ok, f"{nb.name} failed (see the traceback above)"
