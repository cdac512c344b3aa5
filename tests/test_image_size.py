"`--img-size` on an ImageNet-style tree (train/ and val/, JPEGs of mixed sizes), with DataLoader workers."
import json
from pathlib import Path
import numpy as np
import pytest
from PIL import Image
from conftest import run_visgen, same_weights as _same_weights

def _tree(root: Path, n: int = 24) -> Path:
    "Two classes of random-noise JPEGs of several sizes and aspect ratios under train/ and val/ (ImageNet's layout)."
    rng = np.random.default_rng(0)
    sizes = [(40, 30), (33, 47), (64, 64), (20, 28)]
    for split, m in (('train', n), ('val', n // 2)):
        for i in range(m):
            c = i % 2; w, h = sizes[i % len(sizes)]
            a = (rng.random((h, w, 3)) * 120 + 120 * c).astype(np.uint8)
            p = root / split / f'class{c}' / f'{i}.jpg'; p.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(a).save(p, quality=90)
    return root

@pytest.fixture(scope='module')
def tree(tmp_path_factory): return _tree(tmp_path_factory.mktemp('tree') / 'imagenet_like')

def _pretrain(tree, out, *extra):
    return run_visgen('pretrain', '--method', 'darl_mse', '--data', 'imagefolder', '--data-root', tree, '--img-size', 16,
                      '--epochs', 2, '--batch-size', 8, '--opts', 'embed_dim=32,depth=1,num_heads=2', '--device', 'cpu',
                      '--quiet', '--out', out, *extra, env={'VISGEN_CACHE': str(out.parent / 'cache'), 'OMP_NUM_THREADS': '1'})

def test_mixed_sizes_train_at_img_size_with_workers(tree, tmp_path):
    p = _pretrain(tree, tmp_path / 'w2', '--workers', 2)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    cfg = json.loads((tmp_path / 'w2' / 'config.json').read_text())
    assert cfg['data']['img_size'] == 16 and cfg['derived']['img_size'] == [16, 16] and cfg['train']['workers'] == 2 and cfg['derived']['n_test'] == 12
    assert 'val/' in p.stderr                                   # no test/: evaluated on val/, and said so
    # the per-sample seeded augmentation does not depend on the worker processes: the same losses without them
    p = _pretrain(tree, tmp_path / 'w0')
    assert p.returncode == 0, p.stderr[-2000:]
    a, b = ((tmp_path / d / 'metrics.jsonl').read_text() for d in ('w2', 'w0'))
    strip = lambda t: [{k: v for k, v in json.loads(l).items() if k != 'time'} for l in t.splitlines()]
    assert strip(a) == strip(b)

def test_mixed_sizes_without_img_size_say_how(tree, tmp_path):
    p = run_visgen('pretrain', '--data', 'imagefolder', '--data-root', tree, '--epochs', 1, '--out', tmp_path / 'r', '--quiet',
                   env={'VISGEN_CACHE': str(tmp_path / 'cache')})
    assert p.returncode == 2 and '--img-size' in p.stderr and 'Traceback' not in p.stderr, p.stderr
    assert not (tmp_path / 'r').exists()

def test_streamed_files_resume_exactly(tree, tmp_path):
    "--stream reads the files per sample (workers decode them); a run cut back to an earlier checkpoint resumes to the same weights."
    ref = tmp_path / 'ref'
    p = _pretrain(tree, ref, '--stream', '--workers', 2, '--probe-limit', 12, '--ckpt-every', 2, '--keep-last', 10)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert 'streamed from 24 files' in p.stdout + p.stderr
    cfg = json.loads((ref / 'config.json').read_text())
    assert cfg['data']['stream'] is True and cfg['derived']['n_train'] == 24 and cfg['derived']['img_size'] == [16, 16]
    cut = tmp_path / 'cut'
    p = _pretrain(tree, cut, '--stream', '--workers', 2, '--probe-limit', 12, '--ckpt-every', 2, '--keep-last', 10)
    assert p.returncode == 0, p.stderr[-2000:]
    import shutil
    for d in (cut / 'checkpoints').glob('step-*'):
        if int(d.name.split('-')[1]) > 2: shutil.rmtree(d)                          # as if killed after step 2
    for f in ('model.safetensors', 'metrics.json'): (cut / f).unlink()
    p = _pretrain(tree, cut, '--stream', '--workers', 2, '--probe-limit', 12, '--ckpt-every', 2, '--keep-last', 10, '--resume')
    assert p.returncode == 0, p.stderr[-2000:]
    _same_weights(ref, cut)

def test_stream_needs_img_size(tmp_path):
    p = run_visgen('pretrain', '--data', 'imagefolder', '--data-root', tmp_path, '--stream', '--out', tmp_path / 'r', '--quiet')
    assert p.returncode == 2 and '--img-size' in p.stderr and 'Traceback' not in p.stderr, p.stderr

def test_streamed_under_torchrun(tree, tmp_path):
    "Two gloo processes stream the same tree, each reading its shard of the sampler's order."
    import os, subprocess
    from conftest import BIN, ROOT
    out = tmp_path / 'run'
    p = subprocess.run([str(BIN / 'torchrun'), '--standalone', '--nproc_per_node', '2', str(BIN / 'visgen'), 'pretrain',
                        '--method', 'darl_mse', '--data', 'imagefolder', '--data-root', str(tree), '--img-size', '16', '--stream',
                        '--workers', '2', '--epochs', '2', '--batch-size', '4', '--probe-limit', '12', '--device', 'cpu',
                        '--quiet', '--out', str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env={**os.environ, 'OMP_NUM_THREADS': '1', 'VISGEN_CACHE': str(tmp_path / 'cache')})
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    cfg = json.loads((out / 'config.json').read_text())
    assert cfg['derived']['world_size'] == 2 and cfg['data']['stream'] is True and (out / 'metrics.json').exists()

def test_shards_train_the_same_model(tree, tmp_path):
    "`visgen shards` packs the tree; streaming the shards gives the tree's run, loss for loss and weight for weight."
    p = run_visgen('shards', '--data-root', tree, '--out', tmp_path / 'shards', '--shard-size', 10)
    assert p.returncode == 0, p.stderr
    assert sorted(f.name for f in (tmp_path / 'shards').glob('*.tar')) == [f'train-00000{i}.tar' for i in range(3)] + ['val-000000.tar', 'val-000001.tar']
    common = ('--stream', '--probe-limit', 12)
    a = _pretrain(tree, tmp_path / 'files', *common)
    b = run_visgen('pretrain', '--method', 'darl_mse', '--data', 'shards', '--data-root', tmp_path / 'shards', '--img-size', 16,
                   '--epochs', 2, '--batch-size', 8, '--opts', 'embed_dim=32,depth=1,num_heads=2', '--device', 'cpu',
                   '--quiet', '--out', tmp_path / 'shard_run', *common, env={'OMP_NUM_THREADS': '1'})
    assert a.returncode == 0 and b.returncode == 0, a.stderr[-1500:] + b.stderr[-1500:]
    strip = lambda d: [{k: v for k, v in json.loads(l).items() if k != 'time'} for l in (d / 'metrics.jsonl').read_text().splitlines()]
    assert strip(tmp_path / 'files') == strip(tmp_path / 'shard_run')
    _same_weights(tmp_path / 'files', tmp_path / 'shard_run')
    p = run_visgen('shards', '--data-root', tree, '--out', tmp_path / 'shards')
    assert p.returncode == 2 and 'already holds train shards' in p.stderr       # never overwritten
