"The package is generated: `visgen/` must be exactly what `nbdev_export` makes of `nbs/`."
import filecmp, shutil, subprocess, sys
from pathlib import Path
import papermill as pm

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

def _files(d: Path):
    return {p.relative_to(d) for p in d.rglob('*') if p.is_file() and '__pycache__' not in p.parts}

def test_package_matches_notebooks(tmp_path):
    for name in ('settings.ini', 'nbs', 'visgen'):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    subprocess.run([str(BIN / 'nbdev_export')], cwd=tmp_path, check=True, capture_output=True)
    ours, fresh = _files(ROOT / 'visgen'), _files(tmp_path / 'visgen')
    assert ours == fresh, f"files differ: only in repo {ours - fresh}, only in export {fresh - ours}"
    changed = [str(f) for f in sorted(ours) if not filecmp.cmp(ROOT / 'visgen' / f, tmp_path / 'visgen' / f, shallow=False)]
    assert not changed, f"visgen/ differs from nbdev_export output in {changed}: edit the notebooks, run nbdev_export, commit both"

def test_templates_have_parameters():
    templates = sorted((ROOT / 'experiments').glob('*.ipynb'))
    assert templates
    for t in templates:
        assert pm.inspect_notebook(str(t)), f"{t.name} has no cell tagged 'parameters'"

def test_parameters_tag_survives_nbdev_clean(tmp_path):
    shutil.copy(ROOT / 'settings.ini', tmp_path)
    (tmp_path / 'nbs').mkdir()
    for t in (ROOT / 'experiments').glob('*.ipynb'): shutil.copy(t, tmp_path / 'nbs' / t.name)
    subprocess.run([str(BIN / 'nbdev_clean')], cwd=tmp_path, check=True, capture_output=True)
    for t in (tmp_path / 'nbs').glob('*.ipynb'):
        assert pm.inspect_notebook(str(t)), f"nbdev_clean dropped the parameters tag of {t.name}"
