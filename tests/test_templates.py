"Every experiment template's parameters come from the options tree, and a template refuses bad parameters before any work."
import json, subprocess, sys
from pathlib import Path
import pytest
from visgen.params import TEMPLATES, template_parameters

ROOT = Path(__file__).resolve().parents[1]
NBS = sorted((ROOT / 'experiments').glob('*.ipynb'))

def _cells(p):
    return [(c.get('metadata', {}).get('tags', []), ''.join(c['source'])) for c in json.loads(p.read_text())['cells']]

def test_every_template_is_declared():
    assert sorted(p.stem for p in NBS) == sorted(TEMPLATES), "declare each template's parameters in nbs/00c_params.ipynb"

@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.stem)
def test_parameters_cell_is_generated(nb):
    "The `parameters` cell is `template_parameters(name)`: no option the tree lacks, no other default, no other help."
    cells = _cells(nb)
    i = next(i for i, (tags, _) in enumerate(cells) if 'parameters' in tags)
    assert cells[i][1] == template_parameters(nb.stem), (f"{nb.name}'s parameters cell differs from the options tree: "
        "regenerate it (see CONTRIBUTING.md, 'Adding an option')")
    assert cells[i + 1][1].startswith(f"from visgen.params import check_parameters\ncheck_parameters({nb.stem!r}, globals())")

@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.stem)
def test_papermill_refuses_a_misspelt_parameter(nb, tmp_path):
    "`papermill T.ipynb o.ipynb -p epoch 1` stops in the check cell, naming `epoch` and the known parameters."
    out = tmp_path / 'o.ipynb'
    p = subprocess.run([sys.executable, '-m', 'papermill', str(nb), str(out), '-p', 'epoch', '1', '--cwd', str(tmp_path)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode != 0
    assert f"Unknown parameter(s) ['epoch'] for template '{nb.stem}'" in p.stdout + p.stderr
    executed = [c for c in json.loads(out.read_text())['cells'] if c['cell_type'] == 'code' and c.get('execution_count')]
    assert len(executed) <= 3, "cells ran after the check"            # parameters, injected parameters, the check

@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.stem)
def test_papermill_reads_every_parameter(nb):
    "papermill's own reading (`papermill --help-notebook`) finds every declared parameter with its help."
    import papermill as pm
    from dataclasses import fields
    spec = pm.inspect_notebook(str(nb))
    assert sorted(spec) == sorted(f.name for f in fields(TEMPLATES[nb.stem]))
    assert all(p['help'] for p in spec.values()), [k for k, p in spec.items() if not p['help']]
