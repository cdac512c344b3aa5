"""The figures the library notebooks keep (what `make outputs` saved) and the size of every PNG in the repository.

Each notebook that defines a drawn concept or a method holds at least one figure of its own, with a caption and alt
text; the library holds at least 30 figures; no PNG, embedded in a committed notebook or committed as a file, is above
150 KiB. Reads the committed JSON only: nothing is executed.
"""
import base64, json, re, subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LIMIT = 150 * 1024
# The concepts drawn where they are defined, the methods seen working, the per-block probes, the plots of runs.
DRAWN = ['01_patches', '02_rope', '03_serial', '04_vit', '04a_twostream', '06_data', '08_train', '09_evaluate', '09b_plot',
         '15_diffusion', '17_vq', '18_token_predictor', '19_addp',
         '07_darl', '07a_mae', '13_saim', '14_randsac', '16_darl_diffusion']
IMAGE = ('image/png', 'image/svg+xml')


def figures(nb: Path) -> list:
    "(cell source, mime type, bytes) of each image output of notebook `nb`."
    out = []
    for c in json.loads(nb.read_text())['cells']:
        for o in c.get('outputs', []):
            for k in IMAGE:
                if k in o.get('data', {}):
                    v = ''.join(o['data'][k]) if isinstance(o['data'][k], list) else o['data'][k]
                    out.append((''.join(c['source']), k, base64.b64decode(v) if k == 'image/png' else v.encode()))
    return out


def tracked(*patterns) -> list:
    "The files git tracks that match `patterns`."
    return [REPO / p for p in subprocess.run(['git', 'ls-files', *patterns], cwd=REPO, capture_output=True, text=True,
                                             check=True).stdout.split()]


def test_every_drawn_notebook_holds_its_figures():
    counts = {nb.stem: len(figures(nb)) for nb in sorted((REPO / 'nbs').glob('*.ipynb'))}
    assert not [n for n in DRAWN if n not in counts], 'a notebook named here was renamed'
    assert not [n for n in DRAWN if counts[n] == 0], f'notebooks without a figure: {[n for n in DRAWN if counts[n] == 0]}'
    assert sum(counts.values()) >= 30, counts


@pytest.mark.parametrize('name', DRAWN)
def test_each_figure_has_a_caption_and_alt_text(name):
    "Every figure of a library notebook says what it shows: `#| fig-cap` and `#| fig-alt` in its cell."
    for src, _, _ in figures(REPO / 'nbs' / f'{name}.ipynb'):
        head = '\n'.join(l for l in src.splitlines() if l.startswith('#|'))
        assert re.search(r'#\|\s*fig-cap:\s*\S', head) and re.search(r'#\|\s*fig-alt:\s*\S', head), f'{name}: {src[:120]!r}'


def test_no_png_above_150_kib():
    big = [f'{nb.relative_to(REPO)}: {len(b) // 1024} KiB' for nb in tracked('*.ipynb')
           for _, k, b in figures(nb) if k == 'image/png' and len(b) > LIMIT]
    big += [f'{p.relative_to(REPO)}: {p.stat().st_size // 1024} KiB' for p in tracked('*.png', '*.PNG')
            if p.is_file() and p.stat().st_size > LIMIT]
    assert not big, 'PNGs above 150 KiB (a lower dpi, or grayscale where the figure is gray):\n' + '\n'.join(big)
