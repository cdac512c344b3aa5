"""Table-driven: every user mistake exits non-zero with a message naming the problem and the fix, prints no traceback,
and leaves every file as it was (issue 13). One row per fault: setup, command, exit code, a phrase of the message."""
import hashlib, json, os, shutil, signal, subprocess, time
from pathlib import Path
import pytest
from conftest import run_visgen, run_python, BIN, ROOT, TINY

ENV = {'OMP_NUM_THREADS': '1'}
BASE = ('--method', 'darl_mse', '--epochs', 1, '--batch-size', 64, '--device', 'cpu', '--quiet', '--opts', TINY)

@pytest.fixture(scope='module')
def finished(tmp_path_factory):
    "A finished tiny run, copied by the rows that need one."
    out = tmp_path_factory.mktemp('fin') / 'run'
    run_visgen('pretrain', *BASE, '--out', out, env=ENV, check=True)
    return out

def _snapshot(d:Path) -> dict:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.rglob('*')) if p.is_file()}

def _user_dir(t): (t / 'd').mkdir(); (t / 'd' / 'thesis.txt').write_text('years of work')
def _site_and_user_dir(t): _user_dir(t); (t / 'p').mkdir(); (t / 'p' / '_quarto.yml').write_text('project:\n  type: website\n')
def _a_file(t): (t / 'f').write_text('not a folder')
def _bad_template(t): (t / 'notes.ipynb').write_text('these are notes, not JSON')
def _nan_run(t):
    from safetensors.torch import load_file, save_file
    f = t / 'run' / 'model.safetensors'; save_file({k: v * float('nan') for k, v in load_file(str(f)).items()}, f)
def _bad_config(t): (t / 'run' / 'config.json').write_text('{"method": "darl_mse", "epo')

# issue 32 (the writers' rule, --overwrite, records, one error path): setups
def _user_pages(t): (t / 'd').mkdir(); (t / 'd' / 'summary.md').write_text('my notes'); (t / 'd' / 'index.qmd').write_text('my page')
def _visgen_folder_user_page(t):
    (t / 'v').mkdir(); (t / 'v' / '.visgen-files').write_text('{"files": {}}'); (t / 'v' / 'index.qmd').write_text('my page')
def _runs_folder_user_pages(t):
    _user_pages(t); (t / 'd' / 'x').mkdir(); (t / 'd' / 'x' / 'metrics.json').write_text('{"knn_acc": 0.5}')
def _tree(t):
    from PIL import Image
    for split, c, i in [(s, c, i) for s in ('train', 'test') for c in ('a', 'b') for i in range(2)]:
        (t / 'tree' / split / c).mkdir(parents=True, exist_ok=True)
        Image.new('L', (8, 8), 200 * (c == 'b') + i).save(t / 'tree' / split / c / f'{i}.png')
def _shards_user_classes(t): _tree(t); (t / 's').mkdir(); (t / 's' / 'classes.json').write_text('["my", "labels"]')
def _shards_with_test(t):   # a shards folder visgen wrote, holding the test split: refused before the train split is written
    _tree(t); (t / 's').mkdir(); (t / 's' / 'test-000000.tar').write_bytes(b'x')
    rec = {'test-000000.tar': {'size': 1, 'sha256': hashlib.sha256(b'x').hexdigest()}}
    (t / 's' / '.visgen-files').write_text(json.dumps({'files': rec}))
def _tree_and_file(t): _tree(t); _a_file(t)
def _run_user_files(t): (t / 'run' / 'NOTES.md').write_text('mine'); (t / 'run' / 'figs').mkdir(); (t / 'run' / 'figs' / 'plot.svg').write_text('<svg/>')
def _edit_config(fn):
    def setup(t):
        f = t / 'run' / 'config.json'; rec = json.loads(f.read_text()); fn(rec); f.write_text(json.dumps(rec))
    return setup
def _user_png(t): _user_dir(t); (t / 'd' / 'p.png').write_bytes(b'\x89PNG mine')
def _user_json(t): _user_dir(t); (t / 'd' / 'b.json').write_text('{"mine": 1}')
LONG = 'x' * 300

# issue 32, h-rel32c: numbers only from data that is what it claims: setups
def _tree_extra_test_class(t): _tree(t); _img(t / 'tree' / 'test' / 'z' / '0.png')
def _img(p, a=None, **kw):
    import numpy as np
    from PIL import Image
    p.parent.mkdir(parents=True, exist_ok=True); Image.fromarray(np.full((8, 8), 9, np.uint8) if a is None else a).save(p, **kw)
def _tree_int32(t):
    import numpy as np
    _tree(t); _img(t / 'tree' / 'train' / 'a' / 'deep.tif', np.full((8, 8), 70000, np.int32))
def _tree_float255(t):
    import numpy as np
    _tree(t); _img(t / 'tree' / 'train' / 'a' / 'float.tif', np.full((8, 8), 200., np.float32))
def _tiny_fmnist(t, cut:bool=True):
    import gzip, numpy as np
    (t / 'fm').mkdir()
    for pre, n in (('train', 6), ('t10k', 4)):
        for kind, shape in (('images-idx3', (n, 28, 28)), ('labels-idx1', (n,))):
            a = np.arange(np.prod(shape), dtype=np.uint8).reshape(shape)
            raw = bytes([0, 0, 8, a.ndim]) + b''.join(int(d).to_bytes(4, 'big') for d in shape) + a.tobytes()
            (t / 'fm' / f'{pre}-{kind}-ubyte.gz').write_bytes(gzip.compress(raw[:-50] if cut and kind.startswith('images') else raw))
def _i32_weights(t):
    f = t / 'run' / 'model.safetensors'; b = f.read_bytes(); n = int.from_bytes(b[:8], 'little')
    f.write_bytes(b[:8] + b[8:8 + n].replace(b'"dtype":"F32"', b'"dtype":"I32"', 1) + b[8 + n:])   # the header's first F32 -> I32
def _one_class_tree(t):
    for split in ('train', 'test'):
        for i in range(3): _img(t / 'tree' / split / 'a' / f'{i}.png')
    (t / 'tree' / 'train' / '.ipynb_checkpoints').mkdir()   # a hidden folder is no class
def _dangling_link(t): (t / 'ln').symlink_to(t / 'nowhere')
def _no_checkpoints(t): shutil.rmtree(t / 'run' / 'checkpoints')   # a finished run whose checkpoints were deleted to save space
def _shards_zero_byte(t):
    _tree(t); (t / 'tree' / 'train' / 'a' / 'empty.png').write_bytes(b'')

# issue 32, pass 2 (templates, site, bench): setups
def _nb(path, params:str|None, body:str):
    "A notebook as a script or another tool writes it: no kernelspec, no language_info."
    import nbformat
    nb = nbformat.v4.new_notebook(); cells = [nbformat.v4.new_code_cell(body)]
    if params is not None:
        c = nbformat.v4.new_code_cell(params); c.metadata['tags'] = ['parameters']; cells.insert(0, c)
    nb.cells = cells; nbformat.write(nb, str(path))
def _user_template(t): _nb(t / 'mine.ipynb', 'n = 2', 'print(n)')
def _runs_corrupt_metrics(t):
    for r, text in (('a', '{"knn_acc": 0.5}'), ('b', '{"knn_acc": 0.5, "line')):
        (t / 'd' / r).mkdir(parents=True); (t / 'd' / r / 'metrics.json').write_text(text)
# issue 32, pass 2 (data, shards): setups
def _pack(tree, out):
    "Both splits of `tree` packed into `out` as `visgen shards` packs them (one class index, the manifest of what it wrote)."
    from visgen.data import write_shards, shard_classes
    from visgen.rundir import claim
    classes = shard_classes(tree, ['train', 'test'])
    for s in ('train', 'test'): write_shards(tree, out, s, classes=classes)
    claim(out, 'classes.json', *(p.name for p in out.glob('*.tar')))
def _shards(t): _tree(t); _pack(t / 'tree', t / 's')
def _other_packing(t):
    "Shards of another tree (classes c, d, images of the same size): `t/o`."
    import numpy as np
    for split, c, i in [(s, c, i) for s in ('train', 'test') for c in ('c', 'd') for i in range(2)]:
        _img(t / 'other' / split / c / f'{i}.png', np.full((8, 8), 100 + 50 * (c == 'd') + i, np.uint8))
    _pack(t / 'other', t / 'o')
def _shards_cut(t):
    import tarfile
    _shards(t); f = t / 's' / 'train-000000.tar'
    with tarfile.open(f) as tf: cut = tf.getmembers()[4].offset          # at a member's boundary: tar reads it without an error
    f.write_bytes(f.read_bytes()[:cut])
def _shards_mixed(t): _shards(t); _other_packing(t); shutil.copy(t / 'o' / 'train-000000.tar', t / 's' / 'train-000001.tar')
def _shards_replaced(t): _shards(t); _other_packing(t); shutil.copy(t / 'o' / 'train-000000.tar', t / 's' / 'train-000000.tar')
def _shards_classes_edited(t): _shards(t); (t / 's' / 'classes.json').write_text('["b", "a"]')
def _shards_no_classes(t): _shards(t); (t / 's' / 'classes.json').unlink()
def _shards_classes_cut(t): _shards(t); (t / 's' / 'classes.json').write_text('["a", "b"')
def _shards_foreign(t): _shards(t); (t / 's' / '.visgen-files').unlink()       # shards of another tool: no manifest to check
def _shards_not_tar(t): _shards_foreign(t); (t / 's' / 'train-000001.tar').write_text('not a tar archive')
def _shards_bad_label(t):
    import io, tarfile
    _shards_foreign(t)
    with tarfile.open(t / 's' / 'train-000000.tar', 'a') as tf:
        for name, b in (('000000099.png', (t / 'tree' / 'train' / 'a' / '0.png').read_bytes()), ('000000099.cls', b'cat')):
            ti = tarfile.TarInfo(name); ti.size = len(b); tf.addfile(ti, io.BytesIO(b))
def _tree_not_image(t): _tree(t); (t / 'tree' / 'train' / 'a' / 'notes.png').write_text('not an image')
def _tree_and_elsewhere(t): _tree(t); _img(t / 'x' / 'c' / '0.png')
SHARDS_RUN = ('pretrain', *BASE, '--data', 'shards', '--data-root', 's', '--out', 'r')

FAULTS = [  # id, setup(tmp), needs a finished run copied to tmp/run, command, exit code, phrase, folder that must not change
    ('overwrite-user-folder', _user_dir, False, ('pretrain', *BASE, '--out', 'd', '--overwrite'), 2, 'not a visgen run directory', 'd'),
    ('overwrite-then-bad-batch', None, True, ('pretrain', *BASE, '--out', 'run', '--overwrite', '--batch-size', 5000), 2,
     'fewer than one global batch', 'run'),
    ('resume-other-lr', None, True, ('pretrain', *BASE, '--out', 'run', '--resume', '--lr', 0.01), 2, 'lr: 0.001 -> 0.01', 'run'),
    ('resume-other-epochs', None, True, ('pretrain', *BASE, '--out', 'run', '--resume', '--epochs', 3), 2, '--extend', 'run'),
    ('resume-other-batch', None, True, ('pretrain', *BASE, '--out', 'run', '--resume', '--batch-size', 32), 2, 'batch_size', 'run'),
    ('extend-without-resume', None, True, ('pretrain', *BASE, '--out', 'run', '--extend'), 2, 'together with --resume', 'run'),
    ('unknown-opt', None, False, ('pretrain', '--out', 'r', '--opts', 'bogus=1'), 2, "Unknown option(s) ['bogus']", None),
    ('opt-wrong-type', None, False, ('pretrain', '--out', 'r', '--opts', 'embed_dim=abc'), 2, 'expects int', None),
    ('opt-garbage', None, False, ('pretrain', '--out', 'r', '--opts', 'pos=,=='), 2, '--opts', None),
    ('out-is-a-file', _a_file, False, ('pretrain', *BASE, '--out', 'f'), 2, 'is a file', None),
    ('patch-size-0', None, False, ('pretrain', '--out', 'r', '--patch-size', 0), 2, 'patch_size (--patch-size) must be at least 1', None),
    ('lr-inf', None, False, ('pretrain', '--out', 'r', '--lr', 'inf'), 2, 'finite', None),
    ('epochs-0', None, False, ('pretrain', '--out', 'r', '--epochs', 0), 2, 'epochs (--epochs) must be at least 1', None),
    ('on-corrupt-bogus', None, False, ('pretrain', '--out', 'r', '--on-corrupt', 'ignore'), 2, '--on-corrupt', None),
    ('probe-not-a-run', _user_dir, False, ('probe', '--run', 'd'), 2, 'not a visgen run', 'd'),
    ('probe-nan-weights', _nan_run, True, ('probe', '--run', 'run', '--device', 'cpu'), 2, 'NaN or infinite weights', 'run'),
    ('probe-corrupt-config', _bad_config, True, ('probe', '--run', 'run', '--device', 'cpu'), 2, 'config.json is corrupt', 'run'),
    ('finetune-epochs-0', None, True, ('finetune', '--run', 'run', '--epochs', 0, '--device', 'cpu'), 2, 'epochs (--epochs) must be at least 1', 'run'),
    ('finetune-lr-nan', None, True, ('finetune', '--run', 'run', '--lr', 'nan', '--device', 'cpu'), 2, 'lr (--lr) must be a finite number', 'run'),
    ('template-bool-for-int', None, False, ('experiment', '--template', 'pretrain', '--output', 'o.ipynb', '--params', 'epochs=True'),
     2, "PretrainTemplate.epochs must be int", None),
    ('template-not-a-notebook', _bad_template, False, ('experiment', '--template', 'notes.ipynb', '--output', 'o.ipynb'), 2,
     'not a readable notebook', None),
    ('template-unknown', None, False, ('experiment', '--template', 'nosuch', '--output', 'o.ipynb'), 2, 'not found', None),
    ('main-unknown-method', None, False, ('main', '--methods', 'nosuch', '--out', 'm', '--no-site'), 2, 'Unknown method', None),
    ('out-unwritable', None, False, ('pretrain', *BASE, '--out', '/proc/visgen-run'), 2, 'writable place', None),
    ('sample-not-a-run', _user_dir, False, ('sample', '--run', 'd'), 2, 'not a visgen run', 'd'),
    ('bench-unknown-shape', None, False, ('bench', '--shapes', 'bogus', '--device', 'cpu'), 2, "Unknown shape 'bogus'", None),
    ('site-no-project', _user_dir, False, ('site', '--root', 'd'), 2, 'has no _quarto.yml', 'd'),
    ('site-out-user-folder', _site_and_user_dir, False, ('site', '--root', 'p', '--out', 'd'), 2, 'pass --out another folder', 'd'),
    # issue 32, h-rel32b: one rule for every writer (checked before any work), --overwrite that keeps the old run,
    # the error path of every command; the rows of the other reliability helper (data that is what it claims) follow this group
    ('main-out-user-pages', _user_pages, False, ('main', '--methods', 'darl_mse', '--out', 'd', '--no-site', '--epochs', 1), 2,
     'a folder visgen did not create', 'd'),
    ('main-out-user-index', _visgen_folder_user_page, False, ('main', '--methods', 'darl_mse', '--out', 'v', '--epochs', 1), 2,
     'index.qmd exists and visgen did not write it', 'v'),
    ('site-root-user-pages', _runs_folder_user_pages, False, ('site', '--root', 'd'), 2,
     'holds index.qmd and summary.md, which visgen did not write', 'd'),
    ('shards-user-classes', _shards_user_classes, False, ('shards', '--data-root', 'tree', '--out', 's'), 2,
     'a folder visgen did not create', 's'),
    ('shards-existing-split', _shards_with_test, False, ('shards', '--data-root', 'tree', '--out', 's', '--splits', 'train,test'), 2,
     'already holds test shards', 's'),
    ('shards-out-file', _tree_and_file, False, ('shards', '--data-root', 'tree', '--out', 'f'), 2, 'is a file, not a folder', None),
    ('shards-shard-size-0', None, False, ('shards', '--data-root', 'tree', '--out', 's', '--shard-size', 0), 2,
     'shard_size (--shard-size) must be at least 1', None),
    ('overwrite-user-files', _run_user_files, True, ('pretrain', *BASE, '--out', 'run', '--overwrite'), 2,
     'files visgen did not write: NOTES.md, figs/plot.svg', 'run'),
    ('overwrite-then-nan', None, True, ('pretrain', *BASE, '--out', 'run', '--overwrite', '--lr', '1e6', '--clip-grad', 0), 2,
     'is back in run, as it was', 'run'),
    ('resume-other-data', None, True, ('pretrain', *BASE, '--out', 'run', '--resume', '--train-limit', 500), 2,
     'train_limit: 0 -> 500', 'run'),
    ('betas-one-number', None, False, ('pretrain', '--out', 'r', '--betas', '0.9'), 2, '--betas takes two numbers', None),
    ('betas-out-of-range', None, False, ('pretrain', '--out', 'r', '--betas', '1.5,2'), 2, 'betas (--betas) must be at least 0 and less than 1', None),
    ('seed-20-digits', None, False, ('pretrain', '--out', 'r', '--seed', '12345678901234567890'), 2, 'is too large', None),
    ('out-name-too-long', None, False, ('pretrain', *BASE, '--out', LONG), 2, 'more than a file system allows', None),
    ('config-missing-part', _edit_config(lambda r: r.pop('train')), True, ('probe', '--run', 'run', '--device', 'cpu'), 2,
     "lacks part(s) ['train']", 'run'),
    ('config-wrong-type', _edit_config(lambda r: r['train'].update(epochs='1')), True, ('probe', '--run', 'run', '--device', 'cpu'),
     2, 'does not hold valid run options', 'run'),
    ('config-missing-img-size', _edit_config(lambda r: r['derived'].pop('img_size')), True, ('probe', '--run', 'run', '--device', 'cpu'),
     2, "lacks ['img_size']", 'run'),
    ('finetune-drop-path-1.5', None, True, ('finetune', '--run', 'run', '--drop-path', 1.5), 2,
     'drop_path (--drop-path) must be at least 0 and less than 1', 'run'),
    ('sample-n-0', None, True, ('sample', '--run', 'run', '--n', 0), 2, 'n (--n) must be at least 1', 'run'),
    ('sample-n-negative', None, True, ('sample', '--run', 'run', '--n', -1), 2, 'n (--n) must be at least 1', 'run'),
    ('sample-out-txt', None, True, ('sample', '--run', 'run', '--out', 'x.txt', '--device', 'cpu'), 2, 'ending in .png', 'run'),
    ('sample-out-folder', _user_dir, True, ('sample', '--run', 'run', '--out', 'd', '--device', 'cpu'), 2,
     'is a folder: name the file to write', 'd'),
    ('sample-out-user-file', _user_png, True, ('sample', '--run', 'run', '--out', 'd/p.png', '--device', 'cpu'), 2,
     'exists and visgen did not write it', 'd'),
    ('sample-steps-0', None, True, ('sample', '--run', 'run', '--steps', 0), 2, 'steps (--steps) must be at least 1', 'run'),
    ('sample-steps-no-steps', None, True, ('sample', '--run', 'run', '--steps', 5, '--device', 'cpu'), 2,
     "'darl_mse' has no sampling steps", 'run'),
    ('bench-out-folder', _user_dir, False, ('bench', '--out', 'd', '--device', 'cpu'), 2, 'is a folder: name the file to write', 'd'),
    ('bench-out-user-file', _user_json, False, ('bench', '--out', 'd/b.json', '--device', 'cpu'), 2,
     'exists and visgen did not write it', 'd'),
    ('bench-batch-0', None, False, ('bench', '--batch', 0), 2, 'batch (--batch) must be at least 1', None),
    ('bench-repeats-0', None, False, ('bench', '--repeats', 0), 2, 'repeats (--repeats) must be at least 1', None),
    ('template-epochs-negative', None, False, ('experiment', '--template', 'pretrain', '--output', 'o.ipynb', '--params', 'epochs=-1'),
     2, 'epochs (--epochs) must be at least 1', None),
    ('template-error-inside', None, False, ('experiment', '--template', 'pretrain', '--output', 'o.ipynb', '--params',
     'data=imagefolder,data_root=nowhere,epochs=1,device=cpu'), 2, 'nowhere', None),
    ('main-epochs-0', None, False, ('main', '--epochs', 0, '--out', 'm'), 2, 'epochs (--epochs) must be at least 1', None),
    ('main-error-inside', None, False, ('main', '--methods', 'darl_mse', '--out', 'm', '--no-site', '--epochs', 1, '--device', 'cpu',
     '--data', 'imagefolder', '--data-root', 'nowhere'), 2, 'nowhere', None),
    # issue 32, h-rel32c: numbers only from data that is what it claims (before any training)
    ('shards-class-outside-train', _tree_extra_test_class, False, ('shards', '--data-root', 'tree', '--out', 's', '--splits', 'train,test'),
     2, "has class(es) ['z'] that the data set's class index lacks", 'tree'),
    ('shards-splits-empty', _tree, False, ('shards', '--data-root', 'tree', '--out', 's', '--splits', ''), 2, '--splits names no split', 'tree'),
    ('shards-zero-byte-image', _shards_zero_byte, False, ('shards', '--data-root', 'tree', '--out', 's'), 2,
     'empty image file(s) (0 bytes)', 'tree'),
    ('image-int32-tiff', _tree_int32, False, ('pretrain', *BASE, '--data', 'imagefolder', '--data-root', 'tree', '--out', 'r'), 2,
     'deep.tif: a 32-bit integer image (values 70000..70000)', 'tree'),
    ('image-float-tiff-0-255', _tree_float255, False, ('pretrain', *BASE, '--data', 'imagefolder', '--data-root', 'tree', '--out', 'r'),
     2, 'float.tif: a float image with values 200..200; visgen reads float images on the 0-1 scale only', 'tree'),
    ('fmnist-truncated-gz', _tiny_fmnist, False, ('pretrain', *BASE, '--data', 'fashion_mnist', '--data-root', 'fm', '--out', 'r'), 2,
     'train-images-idx3-ubyte.gz is truncated or corrupt', 'fm'),
    ('imagefolder-one-class', _one_class_tree, False, ('pretrain', *BASE, '--data', 'imagefolder', '--data-root', 'tree', '--out', 'r'),
     2, 'are all of one class (a): every probe would score 1.0', 'tree'),
    ('weights-f32-as-i32', _i32_weights, True, ('probe', '--run', 'run', '--device', 'cpu'), 2, "is int32, the model's is float32", 'run'),
    # issue 32, pass 2 (templates, site, bench)
    ('params-dict-with-commas', None, False, ('experiment', '--template', 'pretrain', '--output', 'o.ipynb', '--params',
     "opts={'norm_pix':True,'pos':'rope1d'},epochs=0"), 2, 'epochs (--epochs) must be at least 1', None),
    ('params-comma-value-unquoted', None, False, ('experiment', '--template', 'bench', '--output', 'o.ipynb', '--params',
     'methods=darl_mse,saim'), 2, "Bad --params item 'saim'", None),
    ('params-given-twice', None, False, ('experiment', '--template', 'pretrain', '--output', 'o.ipynb', '--params', 'epochs=1,epochs=0'),
     2, "--params gives 'epochs' twice", None),
    ('params-bracket-not-closed', None, False, ('experiment', '--template', 'pretrain', '--output', 'o.ipynb', '--params',
     "opts={'norm_pix':True"), 2, 'a quote or bracket is not closed', None),
    ('template-without-kernelspec', _user_template, False, ('experiment', '--template', 'mine.ipynb', '--output', 'o.ipynb', '--params',
     'n=abc'), 2, "Parameter 'n' of mine.ipynb expects int", None),
    ('bench-methods-empty', None, False, ('bench', '--methods', '', '--device', 'cpu'), 2, "--methods '' names none", None),
    ('bench-shapes-with-spaces', None, False, ('bench', '--shapes', 'micro_8, vit_x', '--device', 'cpu'), 2, "Unknown shape 'vit_x'", None),
    ('bench-loader-with-methods', None, False, ('bench', '--loader', '--methods', 'darl_mse', '--batch', 3), 2,
     '--loader times the data path only: --methods, --batch', None),
    ('gpu-check-out-user-file', _user_json, False, ('gpu-check', '--dry', '--out', 'd/b.json'), 2, 'exists and visgen did not write it', 'd'),
    ('gpu-check-out-folder', _user_dir, False, ('gpu-check', '--dry', '--out', 'd'), 2, 'is a folder: name the file to write', 'd'),
    ('gpu-check-steps-empty', None, False, ('gpu-check', '--dry', '--steps', ''), 2, "--steps '' names no step", None),
    ('site-root-missing', None, False, ('site', '--root', 'nowhere'), 2, 'nowhere does not exist', None),
    ('site-corrupt-metrics', _runs_corrupt_metrics, False, ('site', '--root', 'd'), 2, 'is not valid JSON', 'd'),
    ('site-port-without-serve', None, False, ('site', '--port', 9000), 2, '--port 9000 is the port of --serve', None),
    ('main-out-a-run', None, True, ('main', '--methods', 'darl_mse', '--out', 'run', '--no-site', '--epochs', 1), 2,
     'is a run directory', 'run'),
    ('experiment-output-not-ipynb', None, False, ('experiment', '--template', 'pretrain', '--output', 'o.txt', '--params', 'epochs=1'), 2,
     'ending in .ipynb', None),
    ('template-run-exists', None, True, ('experiment', '--template', 'pretrain', '--output', 'o.ipynb', '--params',
     "out_dir='run',epochs=1,device='cpu'"), 2, 'overwrite=True in --params', 'run'),
    # issue 32, pass 2 (data, shards)
    ('shards-split-a-path', _tree_and_elsewhere, False, ('shards', '--data-root', 'tree', '--out', 's', '--splits', '../x'), 2,
     "--splits takes the names of the tree's split folders (such as train,val), not paths: ../x", '.'),
    ('shards-out-inside-tree', _tree, False, ('shards', '--data-root', 'tree', '--out', 'tree/test/s', '--splits', 'train'), 2,
     'is inside --data-root tree', 'tree'),
    ('shards-not-an-image', _tree_not_image, False, ('shards', '--data-root', 'tree', '--out', 's'), 2,
     'not images visgen can open, e.g. tree/train/a/notes.png', 'tree'),
    ('shards-cut-at-a-member', _shards_cut, False, SHARDS_RUN, 2, 'train-000000.tar holds', 's'),
    ('shards-two-packings', _shards_mixed, False, SHARDS_RUN, 2, 'train-000001.tar is not one of them', 's'),
    ('shards-replaced-shard', _shards_replaced, False, SHARDS_RUN, 2, "does not hold the shards `visgen shards` wrote there", 's'),
    ('shards-classes-edited', _shards_classes_edited, False, SHARDS_RUN, 2, 'classes.json was changed since', 's'),
    ('shards-no-classes-json', _shards_no_classes, False, SHARDS_RUN, 2, 's has shards but no classes.json', 's'),
    ('shards-classes-not-json', _shards_classes_cut, False, SHARDS_RUN, 2, 'classes.json is not valid JSON', 's'),
    ('shards-not-a-tar', _shards_not_tar, False, SHARDS_RUN, 2, 'train-000001.tar is not a shard visgen can read', 's'),
    ('shards-label-not-a-number', _shards_bad_label, False, SHARDS_RUN, 2, "the label of sample '000000099' is b'cat'", 's'),
    ('test-split-a-path', _tree, False, ('pretrain', *BASE, '--data', 'imagefolder', '--data-root', 'tree', '--test-split', '../tree/train',
     '--out', 'r'), 2, "--test-split names a split of the data set", 'tree'),
    ('shards-out-a-run', _tree, True, ('shards', '--data-root', 'tree', '--out', 'run', '--splits', 'train'), 2,
     'is a run directory of `visgen pretrain`', 'run'),
    ('stream-in-memory-data', None, False, ('pretrain', *BASE, '--stream', '--img-size', 8, '--out', 'r'), 2,
     "'digits' is read into memory whole: leave out --stream", None),
    # issue 32, pass 2 (run commands)
    ('out-user-folder-no-flags', _user_dir, False, ('pretrain', *BASE, '--out', 'd'), 2, 'is a folder visgen did not create', 'd'),
    ('resume-without-checkpoints', _no_checkpoints, True, ('pretrain', *BASE, '--out', 'run', '--resume'), 2,
     'no checkpoint to continue from', 'run'),
    ('digits-data-root', None, False, ('pretrain', *BASE, '--out', 'r', '--data-root', 'nowhere'), 2,
     'digits is embedded in visgen: leave out --data-root', None),
    ('train-limit-below-classes', None, False, ('pretrain', *BASE, '--out', 'r', '--train-limit', 5, '--batch-size', 5), 2,
     '--train-limit 5 is fewer than the 10 classes', None),
    ('test-limit-below-classes', None, False, ('pretrain', *BASE, '--out', 'r', '--test-limit', 1), 2,
     '--test-limit 1 is fewer than the 10 classes', None),
    ('probe-positions-alone', None, True, ('probe', '--run', 'run', '--positions', 'interpolate', '--device', 'cpu'), 2,
     "--positions interpolate applies at a grid other than the run's", 'run'),
    ('probe-data-root-alone', None, True, ('probe', '--run', 'run', '--data-root', 'nowhere', '--device', 'cpu'), 2,
     '--data-root nowhere goes with --data', 'run'),
    ('finetune-randaug-bogus', None, True, ('finetune', '--run', 'run', '--randaug', 'bogus', '--device', 'cpu'), 2,
     "--randaug 'bogus' is not a timm RandAugment config", 'run'),
    ('out-dangling-symlink', _dangling_link, False, ('pretrain', *BASE, '--out', 'ln'), 2, 'is a symbolic link to', None),
]

_ids = [f[0] for f in FAULTS]
ONE_LINE = set(_ids[_ids.index('main-out-user-pages'):])   # issue 32's groups: stderr is one line

@pytest.mark.parametrize('name,setup,run,cmd,code,phrase,keep', FAULTS, ids=[f[0] for f in FAULTS])
def test_user_error(tmp_path, finished, name, setup, run, cmd, code, phrase, keep):
    if run: shutil.copytree(finished, tmp_path / 'run')
    if setup: setup(tmp_path)
    before = _snapshot(tmp_path / keep) if keep else None
    p = run_visgen(*cmd, cwd=tmp_path, env=ENV)
    assert p.returncode == code, (p.returncode, p.stderr[-2000:])
    assert phrase in p.stderr, p.stderr[-2000:]
    assert 'Traceback' not in p.stderr, p.stderr[-3000:]
    if name in ONE_LINE: assert len(p.stderr.strip().splitlines()) == 1, p.stderr[-3000:]
    if keep: assert _snapshot(tmp_path / keep) == before, f"{keep} changed"
    for stub in ('r', 'o.ipynb', 'm'): assert not (tmp_path / stub).exists(), f"a failed start left {stub}"

def _wait_for(path:Path, proc, timeout=120):
    t0 = time.time()
    while not (path.exists() and path.stat().st_size) and time.time() - t0 < timeout and proc.poll() is None: time.sleep(0.2)
    assert path.exists(), "training did not start"

def test_second_writer_is_refused_and_ctrl_c_exits_130(tmp_path):
    "While a run trains, a second `--resume` on its folder exits 2 naming the holder's PID; Ctrl-C ends the first with 130."
    out = tmp_path / 'run'
    # far more epochs than any machine trains before the signal: the test must not depend on the machine's speed
    args = [str(BIN / 'visgen'), 'pretrain', *map(str, BASE), '--epochs', '100000', '--out', str(out)]
    # a shell that started the tests in the background ignores SIGINT, and children inherit that: restore the default
    a = subprocess.Popen(args, env={**os.environ, **ENV}, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        _wait_for(out / 'metrics.jsonl', a)
        b = run_visgen('pretrain', *BASE, '--epochs', 100000, '--out', out, '--resume', env=ENV)
        assert b.returncode == 2 and f'PID {a.pid}' in b.stderr, b.stderr[-2000:]
        c = run_visgen('probe', '--run', out, '--device', 'cpu', env=ENV)     # a reader: told to wait, not to --resume
        assert c.returncode == 2 and f'PID {a.pid}' in c.stderr and 'run this command again' in c.stderr, c.stderr[-2000:]
        assert '--resume' not in c.stderr, c.stderr[-2000:]
        a.send_signal(signal.SIGINT)
        _, err = a.communicate(timeout=120)
        assert a.returncode == 130 and 'interrupted' in err and '--resume' in err and 'Traceback' not in err, err[-2000:]
    finally:
        if a.poll() is None: a.kill()

def test_every_fault_is_on_the_site_page():
    page = (ROOT / 'faults.qmd').read_text()
    missing = [f[0] for f in FAULTS if f'| {f[0]} |' not in page]
    assert not missing, f"faults.qmd lacks rows for {missing}"


# issue 32, h-rel32b: records that stay true, --overwrite killed at any step, a full disk, a read-only run, signals, a closed pipe
def _files(d:Path) -> dict:
    "Every file under `d`: its inode and bytes (a file rewritten with the same bytes is a change too)."
    return {str(p.relative_to(d)): (p.stat().st_ino, p.read_bytes()) for p in sorted(d.rglob('*')) if p.is_file()}

def test_resume_of_a_finished_run_changes_nothing(tmp_path, finished):
    shutil.copytree(finished, tmp_path / 'run'); before = _files(tmp_path / 'run')
    p = run_visgen('pretrain', *BASE, '--out', tmp_path / 'run', '--resume', env=ENV)
    assert p.returncode == 0 and 'nothing to do' in p.stdout, p.stderr[-2000:]
    assert _files(tmp_path / 'run') == before    # metrics.json (its training time), config.json, the log: not rewritten

_API_RESUME = """import sys
from pathlib import Path
from visgen.pipeline import pretrain
from visgen.rundir import read_config, run_options
out = Path(sys.argv[1]); pretrain(out, run_options(read_config(out), out / 'config.json'), resume=True, progress=False)
"""

def test_resume_through_the_api_with_the_runs_own_options_changes_nothing(tmp_path, finished):
    "The Python API, given the options read back from config.json (every paper default now set by the caller): nothing rewritten."
    shutil.copytree(finished, tmp_path / 'run'); before = _files(tmp_path / 'run')
    p = run_python('-c', _API_RESUME, tmp_path / 'run', env=ENV)
    assert p.returncode == 0 and 'nothing to do' in p.stdout, p.stderr[-2000:]
    assert _files(tmp_path / 'run') == before     # config.json's record of where each default came from: kept

_KILL_AT_LOG = '''import os, signal, sys
import visgen.train as T
last = int(sys.argv[1]); write = T._log_line
def log_line(path, rec):
    if rec['step'] == last: os.kill(os.getpid(), signal.SIGKILL)   # killed in the last logging window, after a checkpoint
    write(path, rec)
T._log_line = log_line
from visgen.cli import main
main(sys.argv[2:])
'''

def test_kill_in_the_last_logging_window_keeps_final_loss(tmp_path, finished):
    "A checkpoint inside the last logging window, a kill -9 before its line: the resumed run reports the uninterrupted final_loss."
    m = json.loads((finished / 'metrics.json').read_text()); steps = m['steps']
    assert steps % 10 > 1, steps                                  # the last window (log every 10) holds more than one step
    args = ['pretrain', *map(str, BASE), '--out', str(tmp_path / 'run'), '--ckpt-every', str(steps - 1)]
    k = run_python('-c', _KILL_AT_LOG, steps, *args, env=ENV)
    assert k.returncode == -signal.SIGKILL, k.stderr[-2000:]
    assert (tmp_path / 'run' / 'checkpoints' / f'step-{steps - 1:08d}').is_dir()
    r = run_visgen(*args, '--resume', env=ENV)
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads((tmp_path / 'run' / 'metrics.json').read_text())
    assert (got['steps'], got['final_loss']) == (steps, m['final_loss'])
    assert got['pretrain_s'] >= json.loads((tmp_path / 'run' / 'checkpoints' / f'step-{steps - 1:08d}' / 'state.json')
                                           .read_text())['train_s']             # the time before the kill is counted

_KILL_IN_OVERWRITE = '''import os, signal, sys
import visgen.rundir as R
where, n = sys.argv[1], {'exchange': 0, 'rename': 0}
die = lambda: os.kill(os.getpid(), signal.SIGKILL)
write, exchange, done, rename = R.atomic_write_text, R.exchange, R.Replacement.done, os.rename
def atomic_write_text(path, text):
    write(path, text)
    if where == 'tagged' and str(path).endswith(R.OLD_TAG): die()
def exchange_(a, b):
    n['exchange'] += 1
    if where == 'staged': die()
    exchange(a, b)
    if where == 'swapped' or (where == 'swapped-back' and n['exchange'] == 2): die()
def done_(self):
    if where == 'checkpoint': die()
    done(self)
def rename_(a, b):
    rename(a, b); n['rename'] += 1
    if where == 'half-renamed' and n['rename'] == 1: die()
R.atomic_write_text, R.exchange, R.Replacement.done = atomic_write_text, exchange_, done_
if where == 'half-renamed':
    import ctypes; R.ctypes = type('NoRenameat2', (), {'CDLL': staticmethod(lambda *a, **k: (_ for _ in ()).throw(OSError('no renameat2')))})
    os.rename = rename_
from visgen.cli import main
main(sys.argv[2:])
'''

@pytest.mark.parametrize('where,kept', [('tagged', 'old'), ('staged', 'old'), ('swapped', 'old'), ('half-renamed', 'old'),
                                        ('swapped-back', 'old'), ('checkpoint', 'new')])
def test_overwrite_killed_at_any_step_leaves_a_run(tmp_path, finished, where, kept):
    "--overwrite killed between any two of its steps: the next command finds the old run as it was, or the new one with its checkpoint."
    shutil.copytree(finished, tmp_path / 'run'); before = _files(tmp_path / 'run')
    bad = ('--lr', '1e6', '--clip-grad', '0') if where == 'swapped-back' else ('--seed', '1')   # diverges: the old run goes back
    k = run_python('-c', _KILL_IN_OVERWRITE, where, 'pretrain', *BASE, *bad, '--out', 'run', '--overwrite', env=ENV, cwd=tmp_path)
    assert k.returncode == -signal.SIGKILL, (k.returncode, k.stderr[-2000:])
    p = run_visgen('probe', '--run', 'run', '--device', 'cpu', '--no-pixels', cwd=tmp_path, env=ENV)   # the next command
    assert sorted(q.name for q in tmp_path.iterdir()) == ['run'], sorted(q.name for q in tmp_path.iterdir())
    if kept == 'old':
        assert p.returncode == 0 and 'an --overwrite was interrupted' in p.stderr, p.stderr[-2000:]
        after = _files(tmp_path / 'run')
        assert {k: v[1] for k, v in after.items() if not k.startswith('probe')} == {k: v[1] for k, v in before.items()}
    else:   # the new run has its first checkpoint: it is the run now (not finished: probe says how to continue it)
        assert p.returncode == 2 and '--resume' in p.stderr and (tmp_path / 'run' / 'checkpoints' / 'latest').is_file(), p.stderr
        assert json.loads((tmp_path / 'run' / 'config.json').read_text())['train']['seed'] == 1
        r = run_visgen('pretrain', *BASE, '--seed', 1, '--out', 'run', '--resume', cwd=tmp_path, env=ENV)
        assert r.returncode == 0, r.stderr[-2000:]

_FILE_LIMIT = 150_000   # bytes: the tiny model's weights (about 100 kB) fit, its optimiser state (about 200 kB) does not

def _limit_files():
    import resource
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)       # a write past the limit fails with EFBIG instead of killing the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (_FILE_LIMIT, _FILE_LIMIT))

_SAVE_PAST_LIMIT = '''import json, sys, torch
from pathlib import Path
from visgen.train import save_checkpoint
run = Path(sys.argv[1]); m = torch.nn.Linear(256, 256); opt = torch.optim.AdamW(m.parameters()); m(torch.ones(1, 256)).sum().backward(); opt.step()
save_checkpoint(run, torch.nn.Linear(2, 2), torch.optim.AdamW(torch.nn.Linear(2, 2).parameters()), None, dict(step=1))   # fits
try: save_checkpoint(run, m, opt, None, dict(step=2))
except OSError as e: print(json.dumps([e.errno, e.strerror, e.filename]))
'''

def test_disk_full(tmp_path):
    "Writes past a file-size limit (a full disk, as the process sees it): one line naming the file and the cause, no partial checkpoint."
    import errno
    k = subprocess.run([str(BIN / 'python'), '-c', _SAVE_PAST_LIMIT, str(tmp_path / 'ck')], env={**os.environ, **ENV}, cwd=ROOT,
                       capture_output=True, text=True, timeout=600, preexec_fn=_limit_files)
    assert k.returncode == 0, k.stderr[-2000:]
    no, why, name = json.loads(k.stdout.strip().splitlines()[-1])
    assert (no, why) == (errno.EFBIG, 'File too large') and '.tmp-step-00000002' in name, (no, why, name)
    assert sorted(p.name for p in (tmp_path / 'ck' / 'checkpoints').iterdir()) == ['latest', 'step-00000001']   # nothing partial
    args = [str(BIN / 'visgen'), 'pretrain', *map(str, BASE), '--out', str(tmp_path / 'run')]
    p = subprocess.run(args, env={**os.environ, **ENV}, cwd=ROOT, capture_output=True, text=True, timeout=600, preexec_fn=_limit_files)
    assert p.returncode == 2 and 'Traceback' not in p.stderr, p.stderr[-2000:]
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and 'File too large' in lines[0] and 'ulimit -f' in lines[0] and 'checkpoints' in lines[0], lines
    assert not (tmp_path / 'run').exists()              # the start failed before a checkpoint: nothing left, no partial file

def _read_only(run:Path, args:list) -> list:
    "`args` run with the folder `run` read-only: a read-only bind mount in a user namespace (root writes anywhere), else after chmod."
    if shutil.which('unshare') and subprocess.run(['unshare', '-rm', 'true'], capture_output=True).returncode == 0:
        return ['unshare', '-rm', 'sh', '-c', 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"', str(run), *args]
    if os.geteuid() == 0: pytest.skip("root writes anywhere and `unshare -rm` is not available: no read-only folder to test")
    os.chmod(run, 0o555); return args

def test_read_only_run_is_refused_before_the_work(tmp_path, finished):
    "probe of a run on a read-only file system: refused at once, naming the folder (it used to fail after all the work)."
    shutil.copytree(finished, tmp_path / 'run')
    try:
        p = subprocess.run(_read_only(tmp_path / 'run', [str(BIN / 'visgen'), 'probe', '--run', str(tmp_path / 'run'), '--device', 'cpu']),
                           env={**os.environ, **ENV}, cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert p.returncode == 2 and 'is not writable' in p.stderr and 'Traceback' not in p.stderr, p.stderr[-2000:]
        assert not (tmp_path / 'run' / 'probe.json').exists()
    finally: os.chmod(tmp_path / 'run', 0o755)

def test_closed_pipe_is_quiet():
    "`visgen main --list | head -0`: the reader is gone before visgen writes; no traceback, no 'Exception ignored'."
    p = subprocess.Popen([str(BIN / 'visgen'), 'main', '--list'], env={**os.environ, **ENV}, cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    p.stdout.close(); err = p.stderr.read(); p.wait(timeout=120)
    assert err == '' and p.returncode == 0, (p.returncode, err[-2000:])

def _started(proc, path:Path, timeout=300):
    t0 = time.time()
    while not path.exists() and proc.poll() is None and time.time() - t0 < timeout: time.sleep(0.2)
    assert path.exists(), proc.communicate(timeout=60)

def test_sigterm_is_ctrl_c(tmp_path):
    "SIGTERM during training: one line, status 130, the resume advice (pretrain has --resume); it used to exit 143 silently."
    out = tmp_path / 'run'
    a = subprocess.Popen([str(BIN / 'visgen'), 'pretrain', *map(str, BASE), '--epochs', '100000', '--out', str(out)],
                         env={**os.environ, **ENV}, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _started(a, out / 'metrics.jsonl'); a.send_signal(signal.SIGTERM); _, err = a.communicate(timeout=120)
        assert a.returncode == 130 and err.strip().splitlines() == [err.strip()] and 'stopped by SIGTERM' in err and '--resume' in err, err
    finally:
        if a.poll() is None: a.kill()

def test_ctrl_c_in_main_is_one_line(tmp_path):
    "Ctrl-C (SIGINT to the whole process group, as a terminal sends it) while `visgen main` trains in its kernel: one line, 130, no --resume."
    a = subprocess.Popen([str(BIN / 'visgen'), 'main', '--methods', 'darl_mse', '--epochs', '100000', '--device', 'cpu', '--no-site',
                          '--out', str(tmp_path / 'm')], env={**os.environ, **ENV}, cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True,
                         )
    try:
        _started(a, tmp_path / 'm' / 'darl_mse' / 'metrics.jsonl')
        os.killpg(a.pid, signal.SIGINT); _, err = a.communicate(timeout=180)
        assert a.returncode == 130 and 'Traceback' not in err and '--resume' not in err, err[-3000:]
        assert [l for l in err.strip().splitlines() if l.startswith('visgen')] == ['visgen main: interrupted; what was being '
                                                                                'written was left whole or removed.'], err[-3000:]
    finally:
        if a.poll() is None: os.killpg(a.pid, signal.SIGKILL)


# issue 32, h-rel32c: numbers only from data that is what it claims
def _three_class_tree(root:Path, test_classes='abc'):
    "train/{a,b,c} and test/<test_classes>, 8x8 grey PNGs whose brightness tells the class."
    import numpy as np
    for split, cls in (('train', 'abc'), ('test', test_classes)):
        for ci, c in enumerate('abc'):
            for i in range(4 if c in cls else 0): _img(root / split / c / f'{i}.png', np.full((8, 8), 30 + 90 * ci + i, np.uint8))
    return root

def test_shards_share_one_class_index(tmp_path):
    "A test/ split lacking a class keeps the train split's indices; classes.json is the train split's (it used to hold the last split's)."
    from visgen.data import stream_shards, load_images
    tree = _three_class_tree(tmp_path / 'tree', test_classes='ac')
    p = run_visgen('shards', '--data-root', tree, '--out', tmp_path / 's', '--splits', 'train,test', env=ENV)
    assert p.returncode == 0, p.stderr[-2000:]
    assert json.loads((tmp_path / 's' / 'classes.json').read_text()) == ['a', 'b', 'c']
    for split in ('train', 'test'):
        got, want = stream_shards(tmp_path / 's', split), load_images('imagefolder', tree, split)
        assert [got.classes[i] for i in got.labels] == [want.classes[i] for i in want.labels], split   # every label names its class

def test_deep_images_by_their_range(tmp_path):
    "16-bit PNGs are read by their range (it used to clip them to 255: raw pixels at chance on a set told apart by brightness)."
    import numpy as np
    from visgen.data import load_images
    for c, v in (('dark', 10000), ('bright', 50000)):
        for i in range(2): _img(tmp_path / 't' / c / f'{i}.png', np.full((8, 8), v + i, np.uint16))
    s = load_images('imagefolder', tmp_path / 't')
    assert s.classes == ['bright', 'dark'] and s.images[:, 0, 0, 0].tolist() == [195, 195, 39, 39]

def test_symlink_loop_is_left_out(tmp_path):
    "`ln -s .. train/a/loop` in a tree: left out with a warning (it used to list the split again, every class as `a`); a link elsewhere counts."
    from visgen.data import stream_shards
    tree = _three_class_tree(tmp_path / 'tree')
    (tree / 'train' / 'a' / 'loop').symlink_to('..')
    _img(tmp_path / 'more' / 'x.png'); (tree / 'train' / 'b' / 'more').symlink_to(tmp_path / 'more')
    p = run_visgen('shards', '--data-root', tree, '--out', tmp_path / 's', '--splits', 'train', env=ENV)
    assert p.returncode == 0 and 'a loop' in p.stderr and 'loop' in p.stderr, p.stderr[-2000:]
    assert stream_shards(tmp_path / 's').labels.bincount().tolist() == [4, 5, 4]

def test_archives_are_checked_before_they_are_kept(tmp_path):
    "A CIFAR-10 archive short of images is refused and nothing of it is cached; a truncated Fashion-MNIST .gz leaves nothing in the cache."
    import tarfile
    tree = _three_class_tree(tmp_path / 'cj')
    with tarfile.open(tmp_path / 'cifar10-jpeg.tar.gz', 'w:gz') as tf: tf.add(tree / 'train', 'train'); tf.add(tree / 'test', 'test')
    env = {**ENV, 'VISGEN_CACHE': str(tmp_path / 'cache')}
    p = run_visgen('pretrain', *BASE, '--data', 'cifar10_jpeg', '--data-root', tmp_path / 'cifar10-jpeg.tar.gz', '--out', tmp_path / 'r', env=env)
    assert p.returncode == 2 and 'is not the whole CIFAR-10: its train/ holds 12 images in 3 classes' in p.stderr, p.stderr[-2000:]
    assert not [q for q in (tmp_path / 'cache').rglob('*') if q.is_file()], "a refused archive left files in the cache"
    _tiny_fmnist(tmp_path)
    p = run_visgen('pretrain', *BASE, '--data', 'fashion_mnist', '--data-root', tmp_path / 'fm', '--out', tmp_path / 'r', env=env)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1 and 'is truncated or corrupt' in p.stderr, p.stderr[-2000:]
    assert not [q for q in (tmp_path / 'cache').rglob('*') if q.is_file()] and not (tmp_path / 'r').exists()

def test_cache_not_a_writable_folder(tmp_path):
    "VISGEN_CACHE naming a file, or a read-only folder: one line naming it (it used to be a traceback)."
    import tarfile
    tree = _three_class_tree(tmp_path / 'cj')
    with tarfile.open(tmp_path / 'c.tar.gz', 'w:gz') as tf: tf.add(tree / 'train', 'train')
    (tmp_path / 'f').write_text('a file'); (tmp_path / 'ro').mkdir()
    args = [str(BIN / 'visgen'), 'pretrain', *map(str, BASE), '--data', 'cifar10_jpeg', '--data-root', str(tmp_path / 'c.tar.gz'),
            '--out', str(tmp_path / 'r')]
    for cache, phrase, cmd in ((tmp_path / 'f', 'is not a folder', args), (Path('/dev/null'), 'is not a folder', args),   # a device: no StopIteration
                               (tmp_path / 'ro', 'is not writable', _read_only(tmp_path / 'ro', args))):
        p = subprocess.run(cmd, env={**os.environ, **ENV, 'VISGEN_CACHE': str(cache)}, cwd=ROOT, capture_output=True, text=True, timeout=600)
        lines = p.stderr.strip().splitlines()
        assert p.returncode == 2 and len(lines) == 1 and f'VISGEN_CACHE ({cache}) {phrase}' in lines[0], p.stderr[-2000:]
    os.chmod(tmp_path / 'ro', 0o755)
    assert (tmp_path / 'f').read_text() == 'a file' and not list((tmp_path / 'ro').iterdir()) and not (tmp_path / 'r').exists()

def test_huge_weights_are_said(tmp_path, finished):
    "Weights x1e18 (finite): the probe says WARNING (weights, chance) in its output and probe.json (it used to write chance silently)."
    from safetensors.torch import load_file, save_file
    shutil.copytree(finished, tmp_path / 'run'); f = tmp_path / 'run' / 'model.safetensors'
    save_file({k: v * 1e18 if v.is_floating_point() else v for k, v in load_file(str(f)).items()}, f)
    p = run_visgen('probe', '--run', tmp_path / 'run', '--device', 'cpu', '--no-pixels', env=ENV)
    assert p.returncode == 0 and "WARNING: the run's weights reach a magnitude of " in p.stderr and 'e+18 (' in p.stderr, p.stderr[-2000:]
    assert "WARNING: the run's probes are at chance" in p.stderr, p.stderr[-2000:]
    res = json.loads((tmp_path / 'run' / 'probe.json').read_text())
    assert len(res['warnings']) == 2 and 'magnitude' in res['warnings'][0], res

def test_test_split_train_is_said(tmp_path):
    "--test-split train: a field in metrics.json and a WARNING line before and after the work (it used to say nothing)."
    p = run_visgen('pretrain', *BASE, '--test-split', 'train', '--train-limit', 200, '--out', tmp_path / 'r', env=ENV)
    assert p.returncode == 0 and p.stderr.count('WARNING: --test-split train') == 2, p.stderr[-2000:]
    m = json.loads((tmp_path / 'r' / 'metrics.json').read_text())
    assert m['evaluated_on_training_images'] is True and any('training images' in w for w in m['warnings'])

def test_probe_on_other_data_is_said(tmp_path, finished):
    "probe --data on a run of other data: a NOTE naming both data sets before the work, and `data` in probe.json (it used to be silent)."
    import numpy as np
    for split in ('train', 'test'):
        for c in range(2):
            for i in range(6): _img(tmp_path / 'o' / split / f'c{c}' / f'{i}.png', np.full((8, 8), 60 + 120 * c + i, np.uint8))
    shutil.copytree(finished, tmp_path / 'run')
    p = run_visgen('probe', '--run', tmp_path / 'run', '--data', 'imagefolder', '--data-root', tmp_path / 'o', '--device', 'cpu', env=ENV)
    assert p.returncode == 0 and "NOTE:" in p.stderr and "pre-trained on 'digits'" in p.stderr and "on 'imagefolder'" in p.stderr, p.stderr
    assert json.loads((tmp_path / 'run' / 'probe.json').read_text())['data'] == 'imagefolder'


# issue 32, pass 2 (templates, site, bench)
def test_template_without_parameters_cell_runs(tmp_path):
    "A user's notebook with no parameters cell and no kernelspec runs when no --params are given (it used to be refused, or a traceback)."
    _nb(tmp_path / 'plain.ipynb', None, 'x = 6 * 7')
    p = run_visgen('experiment', '--template', 'plain.ipynb', '--output', 'o.ipynb', cwd=tmp_path, env=ENV)
    assert p.returncode == 0 and (tmp_path / 'o.ipynb').is_file(), p.stderr[-2000:]

def test_python_m_visgen_cli():
    "`python -m visgen.cli` is the console script (it used to exit 0 doing nothing)."
    p = subprocess.run([str(BIN / 'python'), '-m', 'visgen.cli', 'main', '--list'], capture_output=True, text=True, env={**os.environ, **ENV},
                       cwd=ROOT, timeout=120)
    assert p.returncode == 0 and 'darl_mse' in p.stdout, p.stderr[-2000:]

def test_json_out_replaces_only_its_own(tmp_path):
    "`bench`/`gpu-check --out F` again replaces the F it wrote (its `written_by`; `make gpu-check` writes gpu-check.json each time), never a user's."
    from visgen.cli import _json_out
    from visgen.errors import UserError
    (tmp_path / 'g.json').write_text('{"written_by": "visgen gpu-check", "rows": []}'); (tmp_path / 'u.json').write_text('{"mine": 1}')
    assert _json_out(tmp_path / 'g.json', 'gpu-check') == tmp_path / 'g.json'
    for f, kind in (('u.json', 'gpu-check'), ('g.json', 'bench')):
        with pytest.raises(UserError, match='exists and visgen did not write it'): _json_out(tmp_path / f, kind)

def test_template_figures_are_a_runs_files(tmp_path, finished):
    "The pretrain template's figures are a run's files: `visgen main` again on its --out replaces the run (it was refused: 'holds files visgen did not write: loss.png, predictions.png')."
    from visgen.rundir import foreign_files
    shutil.copytree(finished, tmp_path / 'run')
    for n in ('loss.png', 'predictions.png'): (tmp_path / 'run' / n).write_bytes(b'\x89PNG')
    assert foreign_files(tmp_path / 'run') == []

def test_tilde_in_a_templates_out_dir(tmp_path, finished, monkeypatch):
    "A template's out_dir='~/run' (no shell expands it) is the run under $HOME: it was checked there and written in ./~/run."
    from visgen.pipeline import pretrain
    from visgen.rundir import read_config, run_options
    monkeypatch.setenv('HOME', str(tmp_path / 'home')); monkeypatch.chdir(tmp_path)
    shutil.copytree(finished, tmp_path / 'home' / 'run'); before = _files(tmp_path / 'home' / 'run')
    pretrain('~/run', run_options(read_config(tmp_path / 'home' / 'run')), resume=True, progress=False)   # finished: nothing to do
    after = _files(tmp_path / 'home' / 'run')
    assert all(after[k] == before[k] for k in ('metrics.json', 'model.safetensors')) and not (tmp_path / '~').exists()

@pytest.mark.skipif(__import__('torch').cuda.is_available(), reason='a GPU machine runs the check')
def test_gpu_check_without_a_gpu_says_dry():
    "gpu-check without a GPU: pass --dry (it advised --device cpu, which gpu-check lacks)."
    p = run_visgen('gpu-check', '--budget', 10, env=ENV)
    assert p.returncode == 2 and 'pass --dry' in p.stderr and '--device' not in p.stderr, p.stderr[-2000:]

def test_second_main_on_one_out_is_refused(tmp_path):
    "`visgen main` twice at once on one --out: the second is refused naming the first's PID (it said the first's notebook was not visgen's)."
    from visgen.rundir import RunLock, claim
    out = tmp_path / 'm'; out.mkdir(); claim(out)
    with RunLock(out):                        # what the first main holds while it writes --out
        p = run_visgen('main', '--methods', 'darl_mse', '--out', out, '--no-site', '--epochs', 1, '--device', 'cpu', env=ENV)
    assert p.returncode == 2 and f'PID {os.getpid()}' in p.stderr and 'a `visgen main`' in p.stderr, p.stderr[-2000:]
    assert sorted(q.name for q in out.iterdir()) == ['.visgen-files']
# issue 32, pass 2 (data, shards)
def test_relative_data_root_is_recorded_as_read(tmp_path):
    "A relative --data-root is recorded as the folder read (absolute): a probe started elsewhere reads that data, not a namesake in its own folder."
    _three_class_tree(tmp_path / 'a' / 'tree')
    p = run_visgen('pretrain', *BASE, '--batch-size', 4, '--data', 'imagefolder', '--data-root', 'tree', '--out', 'r', cwd=tmp_path / 'a', env=ENV)
    assert p.returncode == 0, p.stderr[-2000:]
    assert json.loads((tmp_path / 'a' / 'r' / 'config.json').read_text())['data']['data_root'] == str(tmp_path / 'a' / 'tree')
    _three_class_tree(tmp_path / 'b' / 'tree', test_classes='a')     # another folder with a tree of the same name, other test images
    p = run_visgen('probe', '--run', tmp_path / 'a' / 'r', '--device', 'cpu', '--no-pixels', cwd=tmp_path / 'b', env=ENV)
    assert p.returncode == 0, p.stderr[-2000:]
    got = json.loads((tmp_path / 'a' / 'r' / 'probe_correct.json').read_text())['knn_correct']
    assert got.startswith('12:'), got                                  # the run's own 12 test images, not b's 4 (it used to read b's)
# issue 32, pass 2 (run commands)
def test_tilde_is_the_home_folder(tmp_path, finished):
    "`--out=~/x` (no shell expands a ~ after =): written under $HOME, where it was checked (it used to write ./~/x and print ~/x)."
    shutil.copytree(finished, tmp_path / 'run'); (tmp_path / 'home').mkdir()
    p = run_visgen('export', '--run', 'run', '--out=~/e.safetensors', cwd=tmp_path, env={**ENV, 'HOME': str(tmp_path / 'home')})
    assert p.returncode == 0 and str(tmp_path / 'home' / 'e.safetensors') in p.stdout, p.stderr[-2000:]
    assert (tmp_path / 'home' / 'e.safetensors').is_file()
    _user_json(tmp_path / 'home')                                                  # and refusals name the home folder's paths
    p = run_visgen('bench', '--out', '~/d/b.json', '--device', 'cpu', cwd=tmp_path, env={**ENV, 'HOME': str(tmp_path / 'home')})
    assert p.returncode == 2 and 'exists and visgen did not write it' in p.stderr, p.stderr[-2000:]
    p = run_visgen('site', '--root', '~/nowhere', cwd=tmp_path, env={**ENV, 'HOME': str(tmp_path / 'home')})
    assert p.returncode == 2 and f"{tmp_path / 'home'}/nowhere does not exist" in p.stderr, p.stderr[-2000:]
    assert not (tmp_path / '~').exists()

def _limit_memory():
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (6 * 2**30, 6 * 2**30))   # an allocation past 6 GiB fails, whatever the machine holds

def test_out_of_memory_is_one_line(tmp_path):
    "--img-size 9999 on digits (a 175 GiB resize): one line naming memory and what to lower (it used to be a 35-line traceback, exit 1)."
    p = subprocess.run([str(BIN / 'visgen'), 'pretrain', *map(str, BASE), '--img-size', '9999', '--out', str(tmp_path / 'r')],
                       env={**os.environ, **ENV}, cwd=ROOT, capture_output=True, text=True, timeout=600, preexec_fn=_limit_memory)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1 and 'out of memory (one allocation of' in lines[0], p.stderr[-2000:]
    assert not (tmp_path / 'r').exists()
