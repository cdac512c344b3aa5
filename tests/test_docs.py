"""The documentation pipeline: library pages as API docs (nbdev's show_doc), the pre-processed project
that Quarto would render, and equations typeset offline (KaTeX served by the site, in headless Chromium).

One site of a copy of the repository is built per module (smalldocs; the nbdev processing is cached in
VISGEN_CACHE/docs, so only the first build in a clone takes a minute).
"""
import json, re, shutil, subprocess
from pathlib import Path

import nbformat
import pytest
import yaml

from test_site import copy_site
from visgen.site import build_site, stage_project

pytestmark = pytest.mark.xdist_group(name='site')
REPO = Path(__file__).resolve().parents[1]
META = {'title', 'subtitle', 'description', 'author', 'date', 'categories', 'image'}  # document metadata
NBDEV_FLAGS = {'export', 'exports', 'exporti', 'hide', 'default_exp', 'slow', 'cuda', 'figure'}
# Quarto's cell options that these notebooks may use (quarto.org, "Code cells: Jupyter")
CELL_OPTIONS = {'label', 'echo', 'eval', 'output', 'include', 'warning', 'error', 'message', 'code-fold', 'code-summary',
                'code-overflow', 'code-line-numbers', 'fig-cap', 'fig-alt', 'fig-align', 'fig-width', 'fig-height',
                'tbl-cap', 'column', 'layout-ncol', 'layout-nrow', 'classes', 'panel', 'lst-label', 'lst-cap'}


def card_notebooks() -> list:
    "(notebook, method) of every method with a paper card: the notebook whose `default_exp` is the builder's module."
    from visgen.registry import METHODS, PAPER_CARDS, load_methods
    load_methods()
    exp = {m.group(1): p.stem for p in sorted((REPO / 'nbs').glob('*.ipynb'))
           if (m := re.search(r'#\|\s*default_exp\s+(\w+)', p.read_text()))}
    pairs = [(exp[METHODS[n].__module__.rpartition('.')[2]], n) for n in sorted(PAPER_CARDS)]
    assert ('07_darl', 'darl_mse') in pairs, pairs          # the derivation finds a known pair
    return pairs


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    root = copy_site(tmp_path_factory.mktemp('repo'))
    which = shutil.which  # smalldocs even where quarto is installed
    shutil.which = lambda cmd, *a, **k: None if cmd == 'quarto' else which(cmd, *a, **k)
    try: build_site(root)
    finally: shutil.which = which
    return root


def test_library_pages_are_api_docs(site):
    cli = (site / '_site' / 'nbs' / '12_cli.html').read_text()
    assert re.search(r'<h3[^>]*id="experiment_cmd"', cli), 'a heading per exported function'
    assert 'def</span> <span class="fu">experiment_cmd</span>' in cli or 'experiment_cmd</span>(' in cli, 'its signature'
    opts = (site / '_site' / 'nbs' / '00b_options.html').read_text()      # a command's flags: its part of the options tree
    table = opts[opts.index('id="experimentoptions"'):]
    table = table[table.index('<table'):table.index('</table>')]
    assert 'Where the executed notebook goes' in table and '<strong>Type</strong>' in table and '<code>--output</code>' in table, 'its flags as a table'
    for page in (site / '_site' / 'nbs').glob('*.html'):
        text = page.read_text()
        assert not re.search(r'<span class="co">#\|\s*(export|exporti|default_exp|hide|slow|cuda|figure|exec_doc)\b', text), f'{page.name} shows nbdev directives'
    assert 'id="patchify"' in (site / '_site' / 'nbs' / '01_patches.html').read_text()
    for nb, name in card_notebooks():   # each method's paper card, rendered from the code when the site is built
        page = (site / '_site' / 'nbs' / f'{nb}.html').read_text()
        assert 'visgen default' in page and 'official code' in page and f'<strong>{name}</strong>' in page, f'{nb}: no paper card'


def test_staged_project_is_what_quarto_accepts(site):
    "What `quarto render _proc` would read: valid notebooks, only Quarto's `key: value` options, front matter Quarto knows."
    from smalldocs.quarto_keys import QUARTO_PAGE_OPTIONS
    stage = site / '_proc'
    cfg = yaml.safe_load((stage / '_quarto.yml').read_text())
    assert cfg['format']['html']['html-math-method'] == 'katex'
    nbs = sorted(stage.rglob('*.ipynb'))
    assert len(nbs) >= len(list((REPO / 'nbs').glob('*.ipynb')))
    for p in nbs:
        nb = nbformat.read(p, as_version=4)
        nbformat.validate(nb)
        for n, c in enumerate(nb.cells):
            if c.cell_type == 'raw' and n == 0 and c.source.startswith('---'):
                fm = yaml.safe_load(c.source.strip().strip('-'))
                assert isinstance(fm, dict) and set(fm) <= QUARTO_PAGE_OPTIONS | META, (p, fm)
                assert 'output-file' not in fm, 'pages keep their paths'
            if c.cell_type != 'code': continue
            opts = [l[2:] for l in c.source.split('\n') if l.startswith('#|')]
            lead = c.source.split('\n')[:len(opts)]
            assert all(l.startswith('#|') for l in lead), (p, n, 'an option below code')
            parsed = yaml.safe_load('\n'.join(opts)) if opts else {}
            assert isinstance(parsed, dict), (p.name, n, opts)
            assert set(parsed) <= CELL_OPTIONS, (p.name, n, set(parsed) - CELL_OPTIONS)
            assert not NBDEV_FLAGS & {o.strip().split(':')[0] for o in opts}, (p.name, n)
    # the results page's include is there, even where no run wrote it
    inc = re.search(r'\{\{<\s*include\s+(\S+)\s*>\}\}', (stage / 'results.qmd').read_text()).group(1)
    assert (stage / inc).is_file()


def test_missing_include_on_a_fresh_clone(tmp_path):
    root = copy_site(tmp_path, runs=False, experiments=False)
    (root / 'results.qmd').write_text((root / 'results.qmd').read_text() + '\n{{< include runs/other/missing.md >}}\n')
    stage = stage_project(root, api_docs=False)
    assert 'Not available yet' in (stage / 'runs' / 'other' / 'missing.md').read_text()


def test_parameter_cells_hidden_and_no_local_paths_in_results():
    "Committed executed notebooks: no local path, no tqdm warning in their outputs; the site hides their parameter cells."
    for p in [*(REPO / 'experiments' / 'results').glob('*.ipynb'), *(REPO / 'nbs').glob('*.ipynb')]:
        nb = json.loads(p.read_text())
        for c in nb['cells']:
            for o in c.get('outputs', []):
                text = json.dumps(o)
                for leak in ('/work/', '/tmp/', '/root/', '.venv/lib', 'site-packages', 'TqdmWarning'):
                    assert leak not in text, f'{p.name}: output shows {leak!r}'


def _chromium():
    return next((shutil.which(c) for c in ('chromium', 'chromium-browser', 'google-chrome') if shutil.which(c)), None)


@pytest.mark.skipif(_chromium() is None, reason='no Chromium (Debian: apt-get install chromium)')
def test_equation_renders_offline_in_chromium(site, tmp_path):
    "A library page typeset by the KaTeX the site serves, with every network host unreachable; a screenshot is kept."
    page = site / '_site' / 'nbs' / '01_patches.html'
    html = page.read_text()
    assert '../site_libs/katex/katex.min.js' in html and 'cdn.jsdelivr' not in html
    assert (site / '_site' / 'site_libs' / 'katex' / 'fonts' / 'KaTeX_Main-Regular.woff2').is_file()
    flags = [_chromium(), '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
             '--disable-component-update', '--disable-sync', '--no-first-run', f'--user-data-dir={tmp_path / "profile"}',
             '--host-resolver-rules=MAP * ~NOTFOUND', '--allow-file-access-from-files', '--virtual-time-budget=5000']
    dom = subprocess.run(flags + ['--dump-dom', page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert 'class="katex"' in dom, 'KaTeX typeset the page'
    assert 'katex-error' not in dom
    shot = tmp_path / 'patches.png'
    subprocess.run(flags + ['--window-size=1200,1600', f'--screenshot={shot}', page.as_uri()], capture_output=True, timeout=120)
    assert shot.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' and shot.stat().st_size > 10_000


def test_saving_in_jupyter_leaves_notebooks_unchanged(tmp_path):
    "What JupyterLab does on save (kernel metadata, execution counts), then nbdev's pre-save hook, then nbformat.write."
    import configparser
    from nbdev.clean import clean_jupyter
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(REPO / 'settings.ini')
    assert cfg['DEFAULT'].getboolean('jupyter_hooks'), 'settings.ini turns the Jupyter save hook on'
    for p in [*REPO.glob('nbs/*.ipynb'), *REPO.glob('experiments/*.ipynb'), *REPO.glob('experiments/results/*.ipynb')]:
        nb = nbformat.read(p, as_version=4)
        nb.metadata['kernelspec'] = {'display_name': 'Python 3 (ipykernel)', 'language': 'python', 'name': 'python3'}
        nb.metadata['language_info'] = {'name': 'python', 'version': '3.11.7'}
        for c in nb.cells:
            if c.cell_type == 'code':
                c.execution_count = 41
                c.metadata['execution'] = {'iopub.status.busy': '2026-12-01T00:00:00Z'}
        clean_jupyter(path=str(p), model={'type': 'notebook', 'content': nb})
        nbformat.write(nb, tmp_path / p.name)
        assert (tmp_path / p.name).read_text() == p.read_text(), f'saving {p.relative_to(REPO)} in JupyterLab changes it'


def test_template_parameters_have_types():
    "`papermill --help-notebook` shows a type for every parameter of every template."
    import papermill as pm
    for t in (REPO / 'experiments').glob('*.ipynb'):
        params = pm.inspect_notebook(str(t))
        untyped = [k for k, v in params.items() if v['inferred_type_name'] in ('None', None)]
        assert not untyped, f'{t.name}: parameters without `# type:` {untyped}'


def test_nbdev_own_processors_run_on_every_notebook():
    "`nbdev_readme`/`nbdev_docs` run nbdev's processors, which execute every cell that imports: no NameError in any notebook."
    import sys
    code = ('import warnings, glob; warnings.simplefilter("ignore")\n'
            'from execnb.nbio import read_nb\nfrom nbdev.processors import FilterDefaults\n'
            'for p in sorted(glob.glob("nbs/*.ipynb")):\n'
            '    nb = read_nb(p)\n'
            '    try: FilterDefaults()(nb)\n'
            '    except Exception as e: raise SystemExit(f"{p}: {str(e)[-1500:]}")\n'
            '    print(p, sum("show_doc" in c.source for c in nb.cells))')
    r = subprocess.run([sys.executable, '-c', code], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    shown = dict(l.rsplit(' ', 1) for l in r.stdout.splitlines())
    assert len(shown) >= 25 and int(shown['nbs/04_vit.ipynb']) > 5, shown


def test_contributing_example_is_a_working_method(tmp_path):
    "CONTRIBUTING.md's smallest method follows the contract and pre-trains through the public API, nothing else edited."
    import sys
    code = (REPO / 'CONTRIBUTING.md').read_text().split('```python\n', 1)[1].split('```', 1)[0]
    code += '''
from visgen.registry import check_contract, create_method, load_methods
from visgen.options import RunOptions
from visgen.pipeline import pretrain
assert 'masked_patches' in load_methods()
m = check_contract(create_method('masked_patches', img_size=(8, 12)))
x = torch.randn(4, 1, 8, 12); out = m(x); out['loss'].backward()
assert torch.isfinite(out['loss']) and out['pred'].shape == (4, 24, 4), out['pred'].shape
assert m.features(x).shape == (4, m.backbone.embed_dim)
r = pretrain('run', RunOptions.of(method='masked_patches', epochs=1, batch_size=32, train_limit=64, test_limit=32, device='cpu'),
             progress=False, log=lambda *a: None)
assert 0 <= r['linear_acc'] <= 1, r
'''
    subprocess.run([sys.executable, '-c', code], check=True, cwd=tmp_path)
