"""Integration tests for `visgen.data` on the shared data sets (skipped where absent) and on crafted broken trees.

The shared-data tests use the default cache (`$VISGEN_CACHE` or `~/.cache/visgen`) so that only the first run
pays for decompression/extraction; every other test works in a temporary cache.
"""
import pickle, time, warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from visgen.core import UserError
from visgen.data import (DATASETS, ImageSet, PretrainDataset, ResumableSampler, channel_stats, load_images,
                         make_loader, pretrain_transform)

pytestmark = pytest.mark.xdist_group(name='data')  # module fixtures: keep this file on one worker

SHARED = Path(__file__).resolve().parents[1] / '..' / 'shared' / 'data'
FMNIST, CIFAR_TGZ = SHARED / 'fashion-mnist', SHARED / 'cifar10-jpeg' / 'cifar10-jpeg.tar.gz'


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    "A private cache and an empty data folder, so nothing here touches ~/.cache or the shared data."
    monkeypatch.setenv('VISGEN_CACHE', str(tmp_path / 'cache'))
    monkeypatch.setenv('VISGEN_DATA', str(tmp_path / 'nodata'))
    return tmp_path


def _jpeg(p: Path, color=(10, 200, 30), size=(32, 32)) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    Image.new('RGB', size, color).save(p, quality=90)
    return p


# ---------------------------------------------------------------- shared data sets
@pytest.mark.skipif(not FMNIST.is_dir(), reason=f'no shared Fashion-MNIST at {FMNIST}')
def test_fashion_mnist_shared():
    t = time.perf_counter()
    tr, te = load_images('fashion_mnist', FMNIST), load_images('fashion_mnist', FMNIST, split='test')
    print(f'\nfashion_mnist train+test: {time.perf_counter() - t:.2f}s')
    assert tr.images.shape == (60000, 1, 28, 28) and tr.images.dtype == torch.uint8
    assert te.images.shape == (10000, 1, 28, 28) and len(te.labels) == 10000
    assert len(tr.classes) == 10 and tr.classes[0] == 'T-shirt/top'
    assert torch.bincount(tr.labels).tolist() == [6000] * 10
    assert not list(FMNIST.glob('*-ubyte')), 'nothing may be written into the data folder'
    mean, std = channel_stats(tr)
    assert abs(mean.item() - 0.2860) < 1e-3 and abs(std.item() - 0.3530) < 1e-3


@pytest.mark.skipif(not SHARED.is_dir(), reason=f'no shared data at {SHARED}')
def test_default_root_finds_shared(monkeypatch):
    "Without root or VISGEN_DATA the loaders find ../shared/data next to the repository."
    monkeypatch.delenv('VISGEN_DATA', raising=False)
    if FMNIST.is_dir(): assert len(load_images('fashion_mnist', split='test')) == 10000


@pytest.mark.skipif(not CIFAR_TGZ.is_file(), reason=f'no shared CIFAR-10 JPEG tarball at {CIFAR_TGZ}')
def test_cifar10_jpeg_shared():
    t = time.perf_counter()
    tr = load_images('cifar10_jpeg', CIFAR_TGZ)
    t1 = time.perf_counter()
    te = load_images('cifar10_jpeg', CIFAR_TGZ.parent, split='test')
    t2 = time.perf_counter()
    again = load_images('cifar10_jpeg', split='train', root=SHARED)
    t3 = time.perf_counter()
    print(f'\ncifar10_jpeg train {t1 - t:.1f}s, test {t2 - t1:.1f}s, train again {t3 - t2:.2f}s '
          '(cold cache: extraction + decode; warm: the cached .pt)')
    assert tr.images.shape == (50000, 3, 32, 32) and te.images.shape == (10000, 3, 32, 32)
    assert tr.classes == ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']
    assert torch.bincount(tr.labels).tolist() == [5000] * 10 and torch.bincount(te.labels).tolist() == [1000] * 10
    assert torch.equal(again.images, tr.images) and torch.equal(again.labels, tr.labels)
    mean, _ = channel_stats(te)
    assert torch.allclose(mean, torch.tensor([0.494, 0.485, 0.450]), atol=0.02)  # CIFAR-10's usual means


# ---------------------------------------------------------------- broken input
def test_corrupt_jpeg_fail_and_skip(tmp_cache):
    root = tmp_cache / 'tree'
    for c in ('cat', 'dog'):
        for i in range(3): _jpeg(root / 'train' / c / f'{i}.jpg')
    good = (root / 'train' / 'dog' / '0.jpg').read_bytes()
    bad = root / 'train' / 'dog' / 'corrupt.jpg'
    bad.write_bytes(good[:len(good) // 2])                       # header fine, scan data cut off
    with pytest.raises(UserError, match=r"dog/corrupt\.jpg") as e:
        load_images('imagefolder', root)
    assert "on_corrupt='skip'" in str(e.value)
    (root / 'train' / 'cat' / 'noise.jpg').write_bytes(b'\xff\xd8\xff\xe0' + bytes(range(256)) * 4)
    with pytest.raises(UserError, match=r"cat/noise\.jpg"):        # the first bad file in sorted order
        load_images('imagefolder', root)
    with pytest.warns(UserWarning, match='Skipped 2 unreadable'):
        s = load_images('imagefolder', root, on_corrupt='skip')
    assert s.images.shape == (6, 3, 32, 32) and s.labels.tolist() == [0, 0, 0, 1, 1, 1]
    with pytest.raises(UserError, match="'fail' or 'skip'"):
        load_images('imagefolder', root, on_corrupt='ignore')


def test_decode_on_every_core_gives_the_same(tmp_cache):
    "Many files decode on a pool of processes (chunks of 500): the tensor, the kept indices and the errors of one process."
    from visgen.data import decode_images
    root = tmp_cache / 'many'; root.mkdir()
    paths = [root / f'{i:04d}.png' for i in range(1001)]
    for i, p in enumerate(paths): Image.fromarray(np.full((4, 4, 3), i % 256, np.uint8)).save(p)
    paths[500].write_bytes(b'not an image')
    with pytest.warns(UserWarning, match='Skipped 1 unreadable'): one = decode_images(paths, 'skip', workers=0)
    with pytest.warns(UserWarning, match='Skipped 1 unreadable'): pool = decode_images(paths, 'skip', workers=2)
    assert torch.equal(one[0], pool[0]) and one[1] == pool[1] and 500 not in pool[1] and len(pool[1]) == 1000
    with pytest.raises(UserError, match='0500.png'): decode_images(paths, workers=2)


def test_missing_and_empty(tmp_cache):
    nowhere, empty = tmp_cache / 'nowhere', tmp_cache / 'empty'
    empty.mkdir()
    cases = [(('imagefolder', nowhere), 'does not exist'), (('imagefolder', empty), 'No class folders'),
             (('fashion_mnist', empty), 'train-images-idx3-ubyte'), (('fashion_mnist', None), '--data-root'),
             (('cifar10_jpeg', empty), 'cifar10-jpeg.tar.gz'), (('cifar10', nowhere), 'cifar-10-batches-py'),
             (('mnist', None), 'Known data sets: cifar10, cifar10_jpeg, digits')]
    for (name, root), msg in cases:
        with pytest.raises(UserError, match=msg):
            load_images(name, root)
    (empty / 'cls').mkdir()
    with pytest.raises(UserError, match='hold no image files'):
        load_images('imagefolder', empty)
    bad_tgz = tmp_cache / 'cifar10-jpeg.tar.gz'
    bad_tgz.write_bytes(b'not a tarball')
    with pytest.raises(UserError, match='Could not extract'):
        load_images('cifar10_jpeg', bad_tgz)
    assert set(DATASETS) >= {'digits', 'fashion_mnist', 'cifar10', 'imagefolder', 'cifar10_jpeg'}


def test_digits_needs_no_data(tmp_cache):
    tr, te = load_images('digits'), load_images('digits', split='test')
    assert (len(tr), len(te)) == (1437, 360) and tr.img_size == (8, 8) and tr.channels == 1
    assert sorted(set(tr.labels.tolist())) == list(range(10)) and tr.classes == [str(i) for i in range(10)]


def test_cifar10_python_batches(tmp_cache, monkeypatch):
    "A small crafted cifar-10-batches-py (md5 checks bypassed) goes through the torchvision reader."
    import torchvision.datasets.cifar as tvc
    monkeypatch.setattr(tvc, 'check_integrity', lambda *a, **k: True)
    monkeypatch.setattr(tvc.CIFAR10, '_check_integrity', lambda self: True)
    d = tmp_cache / 'c10' / 'cifar-10-batches-py'; d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    batches = {f'data_batch_{i}': 2 for i in range(1, 6)} | {'test_batch': 3}
    for f, n in batches.items():
        pickle.dump({'data': rng.integers(0, 256, (n, 3072), dtype=np.uint8), 'labels': list(range(n))}, open(d / f, 'wb'))
    pickle.dump({'label_names': [f'c{i}' for i in range(10)]}, open(d / 'batches.meta', 'wb'))
    (tmp_cache / 'cifar10').symlink_to(tmp_cache / 'c10')      # a data folder holding cifar10/ works too
    tr, te = load_images('cifar10', tmp_cache / 'c10'), load_images('cifar10', tmp_cache, 'test')
    assert tr.images.shape == (10, 3, 32, 32) and te.images.shape == (3, 3, 32, 32)
    first = pickle.load(open(d / 'data_batch_1', 'rb'))['data'][0]
    assert torch.equal(tr.images[0], torch.from_numpy(first.reshape(3, 32, 32)))
    assert tr.classes[:2] == ['c0', 'c1']


# ---------------------------------------------------------------- determinism
def test_augmentation_independent_of_workers():
    "Batches are the same with 0 and 2 workers, and after resuming mid-epoch."
    ims = load_images('digits').subset(slice(0, 64))
    ds = PretrainDataset(ims, transform=pretrain_transform(8, scale=(0.3, 1.0)), seed=7)
    def epoch(workers, start=0):
        ds.set_epoch(3); smp = ResumableSampler(ds, seed=7); smp.set_epoch(3, start)
        return torch.cat([x for x, _ in make_loader(ds, 16, sampler=smp, num_workers=workers)])
    ref = epoch(0)
    assert ref.shape == (64, 1, 8, 8)
    assert torch.equal(epoch(2), ref)
    assert torch.equal(epoch(2, start=32), ref[32:])


def test_sampler_shards_cover_everything():
    for n, world in ((10, 3), (7, 4), (2, 5)):
        shards = [list(ResumableSampler(n, seed=0, rank=r, world_size=world)) for r in range(world)]
        assert len({len(s) for s in shards}) == 1 and len(shards[0]) == -(-n // world)
        assert set(sum(shards, [])) == set(range(n))
