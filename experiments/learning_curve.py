"""Probe accuracy against pre-training epochs for one finished run (issue 17's learning curve).

Each checkpoint a run kept (`visgen pretrain --keep-last` at least its number of epochs keeps one per
epoch) is probed exactly as the run's final model was (`visgen.pipeline.evaluate_run`, for the one
network): epoch 0 is the same network at random init, and the last epoch must reproduce the run's
`metrics.json` (asserted). Raw pixels do not move with epochs: their accuracies come from
`metrics.json`. Nothing is trained. The learning-rate schedule is the full run's (warm-up, then
cosine to its last epoch), so epoch 3 is a point on this run, not a 3-epoch run. `--every k` probes
only the checkpoints of every k-th epoch (and always the last): each probe is a full one.

    python experiments/learning_curve.py runs/cifar/darl_diffusion_s2 [--out experiments/results/cifar10/darl_diffusion_s2] [--every 2]

writes `curve.json` (one row per epoch: `epoch`, `step`, `knn_acc`, `linear_acc`) into `--out` (default: the run).
"""
import argparse, json
from pathlib import Path
from visgen.pipeline import load_run, eval_data, evaluate_run

def checkpoints(run):
    "`[(step, weights path relative to the run)]` of every kept checkpoint, oldest first."
    ck = sorted((Path(run) / 'checkpoints').glob('step-*/model.safetensors'))
    return [(int(p.parent.name.split('-')[1]), str(p.relative_to(run))) for p in ck]

def probe(run, weights, data):
    "kNN and linear-probe accuracy of the run's network with `weights` on `data` (`eval_data`'s `RunData`), the run's own recipe."
    model, cfg, _ = load_run(run, weights)
    res = evaluate_run(model, None, data.probe, data.test, data.mean, data.std, pool=cfg.eval.pool, pixels=False)
    return {k: res[k] for k in ('knn_acc', 'linear_acc')}

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('run'); p.add_argument('--out')
    p.add_argument('--every', type=int, default=1, help='probe the checkpoints of every k-th epoch only (and the last)')
    a = p.parse_args()
    if a.every < 1: p.error(f'--every must be at least 1 (1 probes every epoch), got {a.every}.')
    m = json.loads((Path(a.run) / 'metrics.json').read_text())
    spe = m['steps'] // m['epochs']                                     # steps per epoch
    rows = [dict(epoch=0, step=0, knn_acc=m['random_knn_acc'], linear_acc=m['random_linear_acc'])]
    _, cfg, info = load_run(a.run)
    data = eval_data(cfg, info)                                         # read once, not once per checkpoint
    ck = checkpoints(a.run)
    for step, w in ck:
        if (step // spe) % a.every and step != ck[-1][0]: continue     # --every: skipped, not probed
        rows.append(dict(epoch=step / spe, step=step, **probe(a.run, w, data)))
        print(f"epoch {rows[-1]['epoch']:.2f}: kNN {rows[-1]['knn_acc']:.4f} linear {rows[-1]['linear_acc']:.4f}", flush=True)
    assert len(rows) > 1, f'{a.run} kept no checkpoints: pre-train with --keep-last at least its epochs'
    last = rows[-1]
    assert last['step'] == m['steps'], f"the last checkpoint is step {last['step']}, the run ended at {m['steps']}"
    for k in ('knn_acc', 'linear_acc'):
        assert abs(last[k] - m[k]) < 1e-6, f'{k}: {last[k]} at the last checkpoint, {m[k]} in metrics.json'
    dest = Path(a.out or a.run); dest.mkdir(parents=True, exist_ok=True)
    (dest / 'curve.json').write_text(json.dumps(dict(rows=rows, pixel_knn_acc=m['pixel_knn_acc'],
                                                     pixel_linear_acc=m['pixel_linear_acc']), indent=1))

if __name__ == '__main__': main()
