"""The documentation and results site of the repository, rendered into a temporary copy.

The copy holds the real `_quarto.yml`, `results.qmd`, `nbs/` and `experiments/`, plus a fake main run
(`runs/main/darl_mse/` with a tiny executed notebook and its metrics). smalldocs renders it, as it does
wherever `quarto` is not installed; a fake `quarto` command checks the other branch.
"""
import json, os, re, shutil, stat, subprocess
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from visgen.core import UserError
from visgen.site import build_site, prepare_results

pytestmark = pytest.mark.xdist_group(name='site')  # module fixtures: keep this file on one worker

REPO = Path(__file__).resolve().parents[1]
METRICS = {'knn_acc': 0.7123, 'linear_acc': 0.7456, 'random_knn_acc': 0.3012, 'random_linear_acc': 0.3345,
           'pixel_knn_acc': 0.6078, 'pixel_linear_acc': 0.6211, 'pretrain_time_s': 321.0}


def write_nb(path: Path, title: str, printed: str | None = None):
    "A small notebook: a title and, optionally, a code cell with a saved stdout output."
    cells = [new_markdown_cell(f'# {title}')]
    if printed is not None:
        cells.append(new_code_cell(f'print({printed!r})', execution_count=1,
                                   outputs=[new_output('stream', name='stdout', text=printed + '\n')]))
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(new_notebook(cells=cells, metadata={'kernelspec': {'name': 'python3', 'language': 'python', 'display_name': 'Python 3'}}), path)


def copy_site(dest: Path, runs=True, experiments=True) -> Path:
    "Copy what the site is made of into `dest`; add a fake main run and fake experiment notebooks."
    for name in ('_quarto.yml', 'results.qmd', 'faults.qmd', 'styles.css', 'settings.ini', 'README.md'):  # settings.ini: nbdev's doc processing; README: the home page
        shutil.copy(REPO / name, dest / name)
    shutil.copytree(REPO / 'nbs', dest / 'nbs', ignore=shutil.ignore_patterns('.ipynb_checkpoints'))
    if experiments:
        if (REPO / 'experiments').is_dir():
            shutil.copytree(REPO / 'experiments', dest / 'experiments', ignore=shutil.ignore_patterns('.ipynb_checkpoints'))
        write_nb(dest / 'experiments' / 'fake_template.ipynb', 'A template')  # unexecuted: never a page
        write_nb(dest / 'experiments' / 'results' / 'fake_ablation.ipynb', 'Fake ablation', 'ablation 0.42')
    if runs:
        run = dest / 'runs' / 'main' / 'darl_mse'
        write_nb(run / 'pretrain.ipynb', 'Pre-training darl_mse', 'knn_acc 0.7123')
        (run / 'metrics.json').write_text(json.dumps(METRICS))
    return dest


@pytest.fixture
def no_quarto(monkeypatch):
    "Render with smalldocs even where quarto is installed."
    which = shutil.which
    monkeypatch.setattr(shutil, 'which', lambda cmd, *a, **k: None if cmd == 'quarto' else which(cmd, *a, **k))


@pytest.fixture(scope='module')
def repo_site(tmp_path_factory):
    "The repository's site, built once for this module with smalldocs (as wherever quarto is not installed)."
    root = copy_site(tmp_path_factory.mktemp('repo'))
    which = shutil.which
    shutil.which = lambda cmd, *a, **k: None if cmd == 'quarto' else which(cmd, *a, **k)
    try: index = build_site(root)
    finally: shutil.which = which
    return root, index


def test_site_of_the_repo(repo_site):
    root, index = repo_site
    site = root / '_site'
    assert index == site / 'index.html'
    assert 'url=nbs/index.html' in index.read_text()
    home = (site / 'nbs' / 'index.html').read_text()
    assert 'papermill experiments/pretrain.ipynb' in home and 'RandSAC' in home
    for nb in (REPO / 'nbs').glob('*.ipynb'):  # every library notebook is a page
        assert (site / 'nbs' / nb.with_suffix('.html').name).is_file(), nb.name
    assert 'patchify' in (site / 'nbs' / '01_patches.html').read_text()
    results = (site / 'results.html').read_text()
    assert '0.7123' in results and '0.6211' in results and '5.3 min' in results
    assert 'href="runs/main/darl_mse/pretrain.html"' in results
    assert (root / 'runs' / 'main' / 'summary.md').is_file()
    assert 'knn_acc 0.7123' in (site / 'runs' / 'main' / 'darl_mse' / 'pretrain.html').read_text()
    assert 'ablation 0.42' in (site / 'experiments' / 'results' / 'fake_ablation.html').read_text()
    assert not list((site / 'experiments').glob('*.html')), 'templates must not be pages'
    for page in ('nbs/01_patches.html', 'results.html'):  # both sections are in the sidebar of every page
        text = (site / page).read_text()
        assert 'Library' in text and 'fake_ablation.html' in text and 'pretrain.html' in text


def test_no_broken_links(tmp_path):
    "What `smalldocs check` reports as broken links in the real config, notebooks and results page."
    from smalldocs.config import load
    from smalldocs.site import Site
    root = copy_site(tmp_path)
    prepare_results(root)
    site = Site(load(root), quiet=True)
    site.out = tmp_path / 'scratch'
    site.build()
    assert not [w for w in site.warnings if 'broken link' in w or 'unknown key' in w], site.warnings


def test_missing_runs_and_experiments(tmp_path, no_quarto):
    root = copy_site(tmp_path, runs=False, experiments=False)
    index = build_site(root)
    assert index.is_file()
    assert 'No results yet' in (root / '_site' / 'results.html').read_text()


def fake_quarto(bin_dir: Path, body: str) -> Path:
    q = bin_dir / 'quarto'
    q.write_text('#!/bin/sh\n' + body)
    q.chmod(q.stat().st_mode | stat.S_IEXEC)
    return q


def test_quarto_is_used_when_installed(tmp_path, monkeypatch):
    (tmp_path / 'repo').mkdir()
    root = copy_site(tmp_path / 'repo', runs=False, experiments=False)
    bin_dir = tmp_path / 'bin'; bin_dir.mkdir()
    log = tmp_path / 'argv'
    fake_quarto(bin_dir, f'echo "$@" > {log}\nmkdir -p "$2/_site/nbs" && echo home > "$2/_site/nbs/index.html"\n')
    monkeypatch.setenv('PATH', f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    index = build_site(root)
    # Quarto renders the pre-processed copy (as with nbdev_docs), whose site is moved to root/_site
    assert log.read_text().split() == ['render', str(root / '_proc'), '--quiet']
    assert index == root / '_site' / 'index.html' and 'url=nbs/index.html' in index.read_text()
    staged = (root / '_proc' / 'nbs' / '01_patches.ipynb').read_text()
    assert 'show_doc(patchify)' in staged and '#| export' not in staged
    fake_quarto(bin_dir, 'echo "ERROR: bad page nbs/x.ipynb" >&2\nexit 1\n')
    with pytest.raises(UserError, match='bad page nbs/x.ipynb'):
        build_site(root)


LOCAL = re.compile(r'/(work|tmp|root|home)/')          # a path on the machine that built the pages
TRACKER = re.compile(r'\bIssues? #?\d+')              # the project's tracker is not the reader's


def test_pages_hold_no_local_paths_tracker_references_or_stderr(repo_site):
    "What a reader must not see on any page: a local path, an internal issue number, a stderr block; every figure has alt text."
    root, _ = repo_site
    pages = sorted((root / '_site').rglob('*.html'))
    assert len(pages) > 30
    bad = []
    for p in pages:
        html = p.read_text()
        text = re.sub(r'<[^>]+>', ' ', html)
        where = p.relative_to(root / '_site')
        if str(root) in html: bad.append(f'{where}: the path of the copy it was built from')
        for m in LOCAL.finditer(text): bad.append(f'{where}: a local path: ...{" ".join(text[max(0, m.start() - 60):m.end() + 40].split())}...')
        for m in TRACKER.finditer(text): bad.append(f'{where}: a tracker reference: {m.group(0)}')
        if 'cell-output-stderr' in html: bad.append(f'{where}: a stderr block')
        bad += [f'{where}: a figure without alt text' for img in re.findall(r'<img\b[^>]*>', html)
                if 'data:image' in img and not re.search(r'\balt="[^"]+"', img)]
    assert not bad, '\n'.join(bad)


def test_no_stray_numbers_in_committed_notebooks():
    "A cell ending in `path.write_text(...)` shows the byte count (`6499`) on its page: end it with `;`."
    for p in [*(REPO / 'experiments').glob('*.ipynb'), *(REPO / 'experiments' / 'results').glob('*.ipynb'), *(REPO / 'nbs').glob('*.ipynb')]:
        for c in json.loads(p.read_text())['cells']:
            last = ''.join(c['source']).rstrip().splitlines()[-1:] if c['cell_type'] == 'code' else []
            if last and re.match(r'[\w(][^;]*\.write_(text|bytes)\([^;]*\)$', last[0]):   # the value of the cell: a byte count
                assert False, f'{p.name}: a cell ends in {last[0][:60]!r}: add a semicolon'


def _chromium():
    return next((shutil.which(c) for c in ('chromium', 'chromium-browser', 'google-chrome') if shutil.which(c)), None)


def _dom(page: Path, profile: Path, width: int = 1200) -> str:
    "The DOM of `page` after its scripts ran in headless Chromium, opened from disk as a reader would (no file access flags)."
    flags = [_chromium(), '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run',
             '--disable-component-update', '--disable-sync', f'--user-data-dir={profile}', '--host-resolver-rules=MAP * ~NOTFOUND',
             f'--window-size={width},1000', '--virtual-time-budget=8000', '--dump-dom', page.as_uri()]
    return subprocess.run(flags, capture_output=True, text=True, timeout=120).stdout


def _probe(page: Path, name: str, script: str) -> Path:
    "A copy of `page` beside it (same relative links) that runs `script` once the page's own scripts have."
    probe = page.with_name(name)
    probe.write_text(page.read_text().replace('</body>', f'<script>window.addEventListener("load", () => {{ {script} }});</script></body>'))
    return probe


@pytest.mark.skipif(_chromium() is None, reason='no Chromium (Debian: apt-get install chromium)')
def test_search_works_from_disk_in_chromium(repo_site, tmp_path):
    "Type in the search box of a page opened from file://: results come (a fetch of search.json would be refused)."
    root, _ = repo_site
    page = root / '_site' / 'nbs' / '03_serial.html'
    assert 'smalldocs-search' in page.read_text()
    probe = _probe(page, '_search_probe.html', 'const i = document.querySelector(".smalldocs-search input"); '
                   'i.value = "patchify"; i.dispatchEvent(new Event("input"));')
    dom = _dom(probe, tmp_path / 'profile')
    hits = re.findall(r'<a class="search-result" href="([^"]+)"', dom)
    assert hits and any('01_patches.html' in h for h in hits), f'no search results from disk: {dom[-1500:]}'
    assert 'No results' not in dom


@pytest.mark.skipif(_chromium() is None, reason='no Chromium (Debian: apt-get install chromium)')
def test_wide_table_scrolls_in_its_own_box_in_chromium(repo_site, tmp_path):
    "In a narrow window the results table is wider than its column: its box scrolls, the page does not."
    root, _ = repo_site
    page = root / '_site' / 'results.html'
    probe = _probe(page, '_table_probe.html', 'const w = document.querySelector(".table-wrap"); const d = document.createElement("pre"); '
                   'd.id = "probe"; d.textContent = JSON.stringify({page: document.scrollingElement.scrollWidth, view: innerWidth, '
                   'box: w.clientWidth, table: w.scrollWidth, overflow: getComputedStyle(w).overflowX}); document.body.append(d);')
    dom = _dom(probe, tmp_path / 'profile', width=560)
    m = json.loads(re.search(r'<pre id="probe">(.*?)</pre>', dom).group(1).replace('&quot;', '"'))
    assert m['overflow'] == 'auto' and m['table'] > m['box'], m     # the table is wider than its box, which scrolls
    assert m['page'] <= m['view'], m                                 # and the page itself keeps the window's width


def test_pages_show_every_figure(repo_site):
    "Each library page shows every figure its notebook saved, inline (a data: URI: nothing fetched), under its caption."
    import html
    root, _ = repo_site
    short = []
    for nb in sorted((REPO / 'nbs').glob('*.ipynb')):
        cells = json.loads(nb.read_text())['cells']
        saved = sum('image/png' in o.get('data', {}) for c in cells for o in c.get('outputs', []))
        page = (root / '_site' / 'nbs' / nb.with_suffix('.html').name).read_text()
        shown = len(re.findall(r'<img\b[^>]*\bsrc="data:image/png;base64,', page))
        if shown < saved: short.append(f'{nb.name}: {saved} figures saved, {shown} on its page')
        captions = [html.unescape(c) for c in re.findall(r'<figcaption>(.*?)</figcaption>', page, re.S)]
        for c in cells:
            cap = re.search(r'^#\|\s*fig-cap:\s*"?(.+?)"?\s*$', ''.join(c['source']), re.M)
            if cap and any('image/png' in o.get('data', {}) for o in c.get('outputs', [])):
                words = ' '.join(cap.group(1).split()[:6])
                if not any(words in ' '.join(f.split()) for f in captions): short.append(f'{nb.name}: no caption {words!r}...')
        assert not re.search(r'<img\b[^>]*\bsrc="https?:', page), f'{nb.name}: an image fetched from the network'
    assert not short, '\n'.join(short)
