"""`--log tensorboard` (`TrainOptions.log`): the scalars of `metrics.jsonl` written through torch's
`SummaryWriter`, read back with tensorboard's own event reader, and purged past the checkpoint on resume.
Skipped where the `tensorboard` package is not installed (it is in the dev extra), except the test that a run
without it is refused in one line, which hides it."""
import json, os
import pytest, torch
from conftest import run_visgen
try: from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
except ImportError: EventAccumulator = None
needs_tensorboard = pytest.mark.skipif(EventAccumulator is None, reason='tensorboard is not installed (the dev extra has it)')
import visgen  # noqa: F401
from visgen.options import TrainOptions
from visgen.train import train, read_log
from visgen.darl import darl_mse


class Toy(torch.utils.data.Dataset):
    def __init__(self, n=48): self.x = torch.randn(n, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    def __len__(self): return len(self.x)
    def set_epoch(self, e): self.epoch = e
    def __getitem__(self, i): return self.x[i], 0


def _cfg():
    return TrainOptions(epochs=3, batch_size=8, log_every=2, warmup_epochs=0.5, log='tensorboard')   # --log tensorboard


def _tiny(): torch.manual_seed(0); return darl_mse(embed_dim=16, depth=1, num_heads=2)


def _scalars(run):
    ea = EventAccumulator(str(run / 'tensorboard')); ea.Reload()
    return {tag: [(e.step, e.value) for e in ea.Scalars(tag)] for tag in ea.Tags()['scalars']}


@needs_tensorboard
def test_tensorboard_has_the_jsonl_scalars(tmp_path):
    run = tmp_path / 'run'
    log = train(_tiny(), Toy(), _cfg(), run, progress=False, log=lambda *a: None)
    tb = _scalars(run)
    assert set(tb) == {'epoch', 'loss', 'lr', 'skipped', 'time'}
    for tag, pts in tb.items():
        assert [s for s, _ in pts] == [r['step'] for r in log]
        assert [v for _, v in pts] == pytest.approx([r[tag] for r in log], rel=1e-6)   # float32 in the event file


@needs_tensorboard
def test_resume_purges_the_killed_runs_events(tmp_path):
    run = tmp_path / 'run'
    train(_tiny(), Toy(), _cfg(), run, progress=False, stop_after=9, log=lambda *a: None)   # killed after step 9
    assert max(s for s, _ in _scalars(run)['loss']) == 8                                  # logged every 2 steps
    log = train(_tiny(), Toy(), _cfg(), run, resume=True, progress=False, log=lambda *a: None)  # from step 6
    steps = [s for s, _ in _scalars(run)['loss']]
    assert steps == [r['step'] for r in log] == sorted(set(steps)), steps


def test_without_tensorboard_one_line(tmp_path):
    "`--log tensorboard` where tensorboard cannot be imported: one line naming the package and --log jsonl, exit 2, no run left."
    fake = tmp_path / 'hide'; (fake / 'tensorboard').mkdir(parents=True)
    (fake / 'tensorboard' / '__init__.py').write_text("raise ImportError(\"No module named 'tensorboard'\")\n")
    env = {'PYTHONPATH': os.pathsep.join(filter(None, [str(fake), os.environ.get('PYTHONPATH')]))}
    p = run_visgen('pretrain', '--method', 'darl_mse', '--epochs', 1, '--log', 'tensorboard', '--device', 'cpu',
                   '--out', tmp_path / 'run', env=env, fresh=True)
    assert p.returncode == 2, p.stdout[-2000:] + p.stderr[-2000:]
    assert '--log tensorboard needs the tensorboard package' in p.stderr and '--log jsonl' in p.stderr, p.stderr
    assert 'Traceback' not in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert not (tmp_path / 'run').exists()
