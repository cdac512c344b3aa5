"""Faults: hard kills at random moments, unreadable or malicious checkpoints, mismatched weights,
and bad input through the CLI. Each must end in an exact resume or a clear error with nothing lost."""
import json, os, pickle, random, shutil, signal, subprocess, sys, time
from pathlib import Path
import pytest
import torch
from conftest import run_visgen, BIN, ROOT, same_weights as _same_weights

pytestmark = pytest.mark.xdist_group(name='faults')  # module fixtures: keep this file on one worker

ARGS = ('--method', 'darl_mse', '--data', 'digits', '--epochs', 2, '--batch-size', 32, '--ckpt-every', 3,
        '--opts', 'embed_dim=32,depth=2,num_heads=2', '--device', 'cpu', '--deterministic', '--quiet')
ENV = {'OMP_NUM_THREADS': '1'}

@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp('ref') / 'run'
    run_visgen('pretrain', *ARGS, '--out', out, env=ENV, check=True)
    return out

def _wait_for_training(out: Path, proc, timeout=120):
    t0 = time.time()
    while time.time() - t0 < timeout and proc.poll() is None:
        if (out / 'metrics.jsonl').exists(): return True
        time.sleep(0.05)
    return False

def test_resume_after_sigkill_is_bit_exact(reference, tmp_path):
    out, rng, kills = tmp_path / 'run', random.Random(0), 0
    for i in range(4):
        args = ARGS + (('--resume',) if i else ())
        proc = subprocess.Popen([str(BIN / 'visgen'), 'pretrain', *map(str, args), '--out', str(out)],
                                env={**os.environ, **ENV}, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if _wait_for_training(out, proc): time.sleep(rng.uniform(0, 1.5))
        if proc.poll() is None: proc.send_signal(signal.SIGKILL); kills += 1
        proc.wait()
    assert kills >= 2, "the run finished before it could be killed: make it longer"
    p = run_visgen('pretrain', *ARGS, '--out', out, '--resume', env=ENV)
    assert p.returncode == 0, p.stderr
    _same_weights(reference, out)
    steps = [json.loads(l)['step'] for l in (out / 'metrics.jsonl').read_text().splitlines()]
    assert steps == sorted(set(steps)), "the metrics log has duplicated or missing steps after resume"

class Evil:
    def __reduce__(self): return (os.system, (f"touch {Evil.marker}",))

def _poison(ckpt: Path, marker: Path):
    Evil.marker = marker
    (ckpt / 'optim.pt').write_bytes(pickle.dumps(Evil()))

def test_malicious_pickle_is_not_executed(reference, tmp_path):
    out, marker = tmp_path / 'run', tmp_path / 'pwned'
    shutil.copytree(reference, out)
    ck = sorted((out / 'checkpoints').glob('step-*'))
    for c in ck: _poison(c, marker)
    before = {p: p.read_bytes() for p in out.rglob('*') if p.is_file()}
    p = run_visgen('pretrain', *ARGS, '--out', out, '--resume', env=ENV)
    assert not marker.exists(), "a pickle in a checkpoint executed code"
    assert p.returncode == 2 and 'nothing in it was run' in p.stderr and 'Traceback' not in p.stderr, p.stderr
    assert {p: p.read_bytes() for p in out.rglob('*') if p.is_file()} == before, "files changed after the error"

def test_truncated_checkpoint_falls_back(reference, tmp_path):
    out = tmp_path / 'run'
    shutil.copytree(reference, out)
    ck = out / 'checkpoints'
    latest = ck / (ck / 'latest').read_text()
    data = (latest / 'model.safetensors').read_bytes()
    (latest / 'model.safetensors').write_bytes(data[:len(data) // 2])
    p = run_visgen('pretrain', *ARGS, '--out', out, '--resume', env=ENV)
    assert p.returncode == 0 and 'Skipping unreadable checkpoint' in p.stdout + p.stderr, p.stderr
    _same_weights(reference, out)   # resumed from the previous checkpoint, same result

def test_mismatched_weights_name_the_keys(reference, tmp_path):
    out = tmp_path / 'run'
    shutil.copytree(reference, out)
    cfg = json.loads((out / 'config.json').read_text()); cfg['model']['opts'] = {'embed_dim': 32, 'depth': 3, 'num_heads': 2}
    (out / 'config.json').write_text(json.dumps(cfg))
    p = run_visgen('probe', '--run', out, '--device', 'cpu')
    assert p.returncode == 2 and 'do not fit this model' in p.stderr and 'blocks.2' in p.stderr, p.stderr

def test_existing_run_needs_resume_or_overwrite(reference, tmp_path):
    out = tmp_path / 'run'; shutil.copytree(reference, out)
    before = (out / 'model.safetensors').read_bytes()
    p = run_visgen('pretrain', *ARGS, '--out', out, env=ENV)
    assert p.returncode == 2 and '--resume' in p.stderr and '--overwrite' in p.stderr
    assert (out / 'model.safetensors').read_bytes() == before

def _tree(root: Path, channels: int, corrupt: bool = False):
    from PIL import Image
    import numpy as np
    g = np.random.default_rng(0)
    for split in ('train', 'test'):
        for c in ('a', 'b'):
            d = root / split / c; d.mkdir(parents=True)
            for i in range(20 if split == 'train' else 6):
                arr = g.integers(0, 255, (8, 8, channels) if channels == 3 else (8, 8), dtype=np.uint8)
                Image.fromarray(arr).save(d / f'{i}.png')
    if corrupt: (root / 'train' / 'a' / 'broken.png').write_bytes(b'\x89PNG not really')

def test_corrupt_image_fail_or_skip(tmp_path):
    _tree(tmp_path / 'data', 1, corrupt=True)
    base = ('--method', 'darl_mse', '--data', 'imagefolder', '--data-root', tmp_path / 'data', '--epochs', 1,
            '--batch-size', 8, '--opts', 'embed_dim=32,depth=1,num_heads=2', '--quiet')
    p = run_visgen('pretrain', *base, '--out', tmp_path / 'r1', env=ENV)
    assert p.returncode == 2 and 'broken.png' in p.stderr and 'Traceback' not in p.stderr, p.stderr
    p = run_visgen('pretrain', *base, '--out', tmp_path / 'r2', '--on-corrupt', 'skip', env=ENV)
    assert p.returncode == 0, p.stderr
    assert 'Skipped 1' in p.stdout + p.stderr

def test_wrong_channel_count(reference, tmp_path):
    _tree(tmp_path / 'rgb', 3)
    p = run_visgen('probe', '--run', reference, '--data', 'imagefolder', '--data-root', tmp_path / 'rgb', '--device', 'cpu')
    assert p.returncode == 2 and 'in_chans=1' in p.stderr and 'Traceback' not in p.stderr, p.stderr

@pytest.mark.parametrize('params,msg', [('epoch=3', "Unknown parameter(s) ['epoch']"), ('epochs=three', 'PretrainTemplate.epochs must be int')])
def test_experiment_parameters(tmp_path, params, msg):
    p = run_visgen('experiment', '--template', ROOT / 'experiments/pretrain.ipynb', '--output', tmp_path / 'o.ipynb',
                   '--params', params)
    assert p.returncode == 2 and msg in p.stderr and not (tmp_path / 'o.ipynb').exists(), p.stderr

@pytest.mark.parametrize('args,msg', [(('--batch-size', 32, '--global-batch', 100), 'not a multiple'), (('--keep-last', 0), 'keep_last'),
                                      (('--on-corrupt', 'ignore'), 'on_corrupt')])
def test_invalid_hyperparameters(tmp_path, args, msg):
    p = run_visgen('pretrain', '--out', tmp_path / 'r', '--epochs', 1, '--quiet', *args, env=ENV)
    assert p.returncode == 2 and msg in p.stderr, p.stderr

def test_torchrun_two_processes_match_one(tmp_path):
    "Two gloo CPU processes with per-rank batch 16 follow the single-process loss curve at batch 32."
    common = ('--method', 'darl_mse', '--data', 'digits', '--epochs', 1, '--opts', 'embed_dim=32,depth=2,num_heads=2',
              '--device', 'cpu', '--quiet')
    one = tmp_path / 'one'; run_visgen('pretrain', *common, '--batch-size', 32, '--out', one, env=ENV, check=True)
    two = tmp_path / 'two'
    p = subprocess.run([str(BIN / 'torchrun'), '--standalone', '--nproc_per_node', '2', str(BIN / 'visgen'), 'pretrain',
                        *map(str, common), '--batch-size', '16', '--out', str(two)], env={**os.environ, **ENV},
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    a = [json.loads(l) for l in (one / 'metrics.jsonl').read_text().splitlines()]
    b = [json.loads(l) for l in (two / 'metrics.jsonl').read_text().splitlines()]
    assert [r['step'] for r in a] == [r['step'] for r in b]
    for ra, rb in zip(a, b): assert abs(ra['loss'] - rb['loss']) <= 1e-4 * max(1, abs(ra['loss'])), (ra, rb)
    assert json.loads((two / 'config.json').read_text())['derived']['world_size'] == 2
    # and the 2-process run resumes on 1 process
    p = run_visgen('pretrain', *common, '--batch-size', 16, '--global-batch', 32, '--epochs', 2, '--out', two, '--resume', '--extend', env=ENV)
    assert p.returncode == 0, p.stderr

def test_torchrun_addp_trains_its_parts(tmp_path):
    "Under torchrun, ADDP's nested tokenizer and predictor runs train on both ranks and leave the process group open."
    out = tmp_path / 'addp'
    p = subprocess.run([str(BIN / 'torchrun'), '--standalone', '--nproc_per_node', '2', str(BIN / 'visgen'), 'pretrain',
                        '--method', 'addp', '--epochs', '1', '--batch-size', '16', '--device', 'cpu', '--quiet',
                        '--opts', 'vq_epochs=1,predictor_epochs=1,dec_depth=1', '--out', str(out)],
                       env={**os.environ, **ENV}, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    for d in (out / 'vq', out / 'predictor', out):
        assert (d / 'model.safetensors').exists() and (d / 'metrics.json').exists(), d
        assert json.loads((d / 'config.json').read_text())['derived']['world_size'] == 2

def test_torchrun_every_method(tmp_path):
    "Every registered method trains 3 steps on 2 gloo ranks (DDP's reducer is NCCL's): none leaves a weight without a gradient undeclared."
    p = subprocess.run([str(BIN / 'torchrun'), '--standalone', '--nproc_per_node', '2', str(ROOT / 'tests/ddp_every_method.py'),
                        str(tmp_path), '300'], env={**os.environ, **ENV}, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    from visgen.registry import load_methods
    done = sorted({l.split()[1] for l in p.stdout.splitlines() if l.startswith('ok ')})
    assert done == load_methods(), done
    for d in tmp_path.iterdir():
        assert json.loads((d / 'config.json').read_text())['derived']['world_size'] == 2 and json.loads((d / 'metrics.json').read_text())['steps'] == 3, d

def test_torchrun_codebook_uses_every_shard(tmp_path):
    "Two ranks holding different data end with one identical codebook that has codes on both ranks' clusters."
    p = subprocess.run([str(BIN / 'torchrun'), '--standalone', '--nproc_per_node', '2', str(ROOT / 'tests/ddp_codebook.py')],
                       env={**os.environ, **ENV}, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    res = json.loads(p.stdout.strip().splitlines()[-1])
    for name in ('embed', 'cluster_size'): assert res[name][0] == res[name][1], (name, res[name])   # identical on both ranks
    means = [sum(c) / 2 for c in res['embed'][0]]
    assert any(m > 3 for m in means) and any(m < -3 for m in means), res['embed'][0]   # codes from both shards

def test_torchrun_error_on_rank0_reaches_every_rank(tmp_path):
    "An unexpected error in work done on rank 0 only (`on_rank0`) is raised on every rank, named (rank 1 does not wait in the broadcast)."
    script = tmp_path / 'boom.py'
    script.write_text("import torch.distributed as dist\nfrom visgen.rundir import on_rank0\n"
                      "dist.init_process_group('gloo')\n"
                      "on_rank0(int, 'not a number')\n")
    p = subprocess.run([str(BIN / 'torchrun'), '--standalone', '--nproc_per_node', '2', str(script)],
                       env={**os.environ, **ENV}, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode != 0
    assert 'On rank 0: ValueError' in p.stderr and 'invalid literal' in p.stderr, p.stderr[-3000:]
