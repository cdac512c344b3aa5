"""The documentation and results site of the repository, rendered into a temporary copy.

The copy holds the real `_quarto.yml`, `results.qmd`, `nbs/` and `experiments/`, plus a fake main run
(`runs/main/darl_mse/` with a tiny executed notebook and its metrics). smalldocs renders it, as it does
wherever `quarto` is not installed; a fake `quarto` command checks the other branch.
"""
import json, os, shutil, stat
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


def test_site_of_the_repo(tmp_path, no_quarto):
    root = copy_site(tmp_path)
    index = build_site(root)
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
