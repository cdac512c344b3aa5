"""A pre-trained backbone in timm's own models (`visgen.export`): for every registered method whose backbone is a
visgen ViT, the exported state dict loads through the printed `timm.create_model(...)` line (run as it is printed)
and gives visgen's features; a trained run exports through `export_timm`. The methods without a ViT backbone
(`vq`: a convolutional autoencoder; `token_predictor`: it reads VQ tokens, not pixels) have nothing to map."""
import pytest, torch
import visgen  # noqa: F401  (makes torchvision importable before timm)
from conftest import run_visgen
from visgen.core import UserError
from visgen.registry import load_methods, create_method
from visgen.export import export_backbone, export_timm

H, W = 8, 12                                  # non-square: rows and columns must not be confused
NO_BACKBONE = {'vq': 'convolutional', 'token_predictor': 'VQ tokens'}
pytestmark = pytest.mark.xdist_group(name='export_timm')


def _timm_model(line:str):
    "Run the printed lines (timm and torch only) and return the model they build."
    env = {}; exec(line, env)
    return env['model'].eval()


def _agree(tm, bb, x):
    "timm's tokens and pooled features equal visgen's backbone's, to float tolerance."
    with torch.no_grad():
        ref = bb.eval().forward_features(x)                                   # (B, N, D)
        torch.testing.assert_close(tm.forward_features(x), ref, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(tm(x), ref.mean(1), rtol=1e-5, atol=1e-5)   # num_classes=0: the pooled feature


@pytest.mark.parametrize('name', load_methods())
def test_every_method_backbone_in_timm(name, tmp_path):
    torch.manual_seed(0)
    m = create_method(name, img_size=(H, W)).eval()
    if name in NO_BACKBONE:
        with pytest.raises(UserError, match=NO_BACKBONE[name]): m.backbone
        return
    bb = m.backbone                                                           # a method not listed above must map
    with torch.no_grad():
        for p in bb.parameters(): p.add_(0.1 * torch.randn_like(p))          # biases and norms off their initial values
    path, line = export_backbone(bb, tmp_path / 'backbone.safetensors')
    assert f"file='{path.resolve()}'" in line and 'import timm' in line and 'visgen' not in line.replace(str(tmp_path), '')
    _agree(_timm_model(line), bb, torch.randn(3, 1, H, W))


@pytest.mark.parametrize('name', load_methods())
def test_timm_arguments_on_every_method(name, tmp_path):
    "timm's standard arguments on every registered method: num_classes, global_pool, drop_path_rate, pretrained_cfg with a local file."
    import timm
    from safetensors.torch import save_file
    x = torch.randn(2, 1, H, W)
    if name in NO_BACKBONE:                                                    # refused with the reason, never a TypeError
        for kw in (dict(num_classes=10), dict(drop_path_rate=0.1)):
            with pytest.raises(UserError, match='no ViT backbone'): timm.create_model(name, img_size=(H, W), **kw)
        return
    torch.manual_seed(0)
    m = create_method(name, img_size=(H, W)).eval()
    D = m.backbone.embed_dim
    clf = timm.create_model(name, img_size=(H, W), num_classes=10).eval()
    assert clf(x).shape == (2, 10) and clf.num_classes == 10
    for pool in ('avg', 'last'):
        feat = timm.create_model(name, img_size=(H, W), num_classes=0, global_pool=pool, drop_path_rate=0.1)
        assert feat.eval()(x).shape == (2, D) and feat.global_pool == pool
        drops = [b.drop_path for b in feat.backbone.blocks]
        assert type(drops[0]).__name__ == 'Identity' and drops[-1].drop_prob == pytest.approx(0.1), 'stochastic depth rising to 0.1'
    with pytest.raises(UserError, match='no class token'): timm.create_model(name, img_size=(H, W), num_classes=2, global_pool='token')
    with torch.no_grad():
        for p in m.parameters(): p.add_(0.1 * torch.randn_like(p))
    f = tmp_path / 'model.safetensors'
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(f))
    for cfg in (dict(pretrained_cfg=dict(file=str(f))), dict(pretrained_cfg_overlay=dict(file=str(tmp_path)))):   # a file, or the run's folder
        loaded = timm.create_model(name, img_size=(H, W), pretrained=True, num_classes=0, **cfg).eval()
        with torch.no_grad():                                                  # the pre-trained backbone, under a fresh norm
            torch.testing.assert_close(loaded.backbone.forward_features(x), m.backbone.forward_features(x))
            assert loaded(x).shape == (2, D)
        assert loaded.pretrained_cfg['file'] in (str(f), str(tmp_path))


def test_trained_run_exports_for_timm(tmp_path):
    "The issue's check: a run trained by `visgen pretrain`, exported, loads into timm's model with matching features."
    run = tmp_path / 'quick'
    p = run_visgen('pretrain', '--method', 'darl_mse', '--epochs', 1, '--train-limit', 200, '--test-limit', 100,
                   '--batch-size', 50, '--device', 'cpu', '--out', run, '--quiet')
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    said = []
    path = export_timm(run, log=said.append)
    assert path == run / 'timm' / 'model.safetensors' and path.is_file()
    line = said[0].split('\n', 1)[1]
    tm = _timm_model(line)
    from visgen.pipeline import load_run
    model, cfg, info = load_run(run)
    assert model.backbone.blocks[0].attn.qkv.bias.abs().max() > 0, 'trained: the key bias is no longer zero'
    _agree(tm, model.backbone, torch.randn(4, info['in_chans'], *info['img_size']))
    import timm
    data = timm.data.resolve_model_data_config(tm)
    assert data['input_size'] == (info['in_chans'], *info['img_size']) and data['mean'] == pytest.approx(info['mean'])
    assert export_timm(run, log=said.append) == path                         # its own file is replaced
    (run / 'notes.safetensors').write_text('mine')
    with pytest.raises(UserError, match='not a visgen export'): export_timm(run, run / 'notes.safetensors')
    assert (run / 'notes.safetensors').read_text() == 'mine'
