"""No committed figure is stale: the cheap library notebooks (a few seconds each) are executed again in a temporary
copy as `make outputs` runs them, and each committed figure must come back with the same size and, to within a small
anti-aliasing tolerance, the same pixels. A figure whose code changed (a panel added) without `make outputs` fails here.
The other notebooks' figures come from `#| figure`/slow cells that train models: `make outputs` renews them."""
import base64, io, json, shutil
from pathlib import Path
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHEAP = ['01_patches', '02_rope', '03_serial', '04a_twostream', '06_data', '08_train', '15_diffusion']   # ~16 s in all on 2 cores


def _figures(nb: Path) -> dict:
    "{cell id: [PNG bytes]} of the notebook's committed image outputs."
    cells = json.loads(nb.read_text())['cells']
    return {c['id']: [base64.b64decode(o['data']['image/png']) for o in c.get('outputs', []) if 'image/png' in o.get('data', {})]
            for c in cells if c['cell_type'] == 'code' and c.get('outputs')}


@pytest.mark.parametrize('name', CHEAP)
def test_committed_figures_are_current(name, tmp_path, isolated):
    from PIL import Image
    from visgen.site import execute_notebooks
    src = ROOT / 'nbs' / f'{name}.ipynb'
    old = {k: v for k, v in _figures(src).items() if v}
    assert old, f'{name} has no committed figure: take it off CHEAP'
    copy = tmp_path / src.name; shutil.copy(src, copy)
    assert execute_notebooks([copy]) == [copy], f'{name} did not run'
    new = _figures(copy)
    px = lambda b: np.asarray(Image.open(io.BytesIO(b)).convert('RGB'), dtype=np.float32)
    for cid, pngs in old.items():
        assert len(new.get(cid, [])) == len(pngs), f'{name}, cell {cid}: {len(pngs)} committed figure(s), the code draws {len(new.get(cid, []))}'
        for a, b in zip(pngs, new[cid]):
            A, B = px(a), px(b)
            assert A.shape == B.shape, f'{name}, cell {cid}: the committed figure is {A.shape[:2]}, the code draws {B.shape[:2]}: run make outputs'
            assert np.abs(A - B).mean() < 1.0, f'{name}, cell {cid}: the committed figure differs from what the code draws: run make outputs'
