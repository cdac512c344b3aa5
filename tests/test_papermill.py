"The experiment template runs under papermill, and bad parameters are refused before any work."
import json
import pytest
from conftest import ROOT, TINY
from visgen.cli import execute_template, check_template_parameters
from visgen.core import UserError

TEMPLATE = ROOT / 'experiments' / 'pretrain.ipynb'

def test_pretrain_template_runs(tmp_path):
    out = tmp_path / 'run'
    nb = execute_template(TEMPLATE, tmp_path / 'pretrain.ipynb', dict(
        method='darl_mse', data='digits', epochs=1, out_dir=str(out), device='cpu',
        opts=dict(embed_dim=32, depth=2, num_heads=2), protocol='paper', finetune=True, eval_epochs=1), cwd=ROOT)
    m = json.loads((out / 'metrics.json').read_text())
    assert {'knn_acc', 'random_knn_acc', 'pixel_knn_acc'} <= set(m)
    text = nb.read_text()
    assert 'image/png' in text and 'kNN acc' in text   # the figures and the table were produced
    pr, ft = (json.loads((out / f).read_text()) for f in ('probe.json', 'finetune.json'))   # the paper's protocol, by name
    assert pr['protocol'] == 'paper' and pr['paper_recipe']['recipe'] == 'darl' and ft['recipe']['name'] == 'darl', (pr, ft)
    assert pr['paper_recipe']['epochs'] == ft['recipe']['epochs'] == 1, (pr, ft)                  # eval_epochs reached both
    shown = ''.join(''.join(o.get('text', '')) for c in json.loads(text)['cells'] for o in c.get('outputs', []))
    assert '"paper probe"' in shown and '"fine-tune"' in shown, shown[-800:]

@pytest.mark.parametrize('params,msg', [(dict(epoch=3), "Unknown parameter(s) ['epoch']"),
                                        (dict(epochs='three'), "PretrainTemplate.epochs must be int"),
                                        (dict(lr='fast'), "PretrainTemplate.lr must be float")])
def test_bad_parameters(params, msg):
    with pytest.raises(UserError, match=msg.replace('(', r'\(').replace(')', r'\)').replace('[', r'\[').replace(']', r'\]')):
        check_template_parameters(TEMPLATE, params)
