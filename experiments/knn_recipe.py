"""Is the kNN probe, not the features, why raw pixels win kNN on CIFAR-10? (issue 17's investigation)

For one finished run, the final features of the pre-trained network, of the same network at random
init and of raw pixels are probed by kNN under several recipes; nothing is trained. The recipe of
every committed result is the first row (DINO's weighted kNN: k=20, T=0.07, cosine on centred
features). The others change one thing each: more or fewer neighbours, a flat vote, no centring,
and each dimension standardised by its training mean and deviation (the linear probe's BatchNorm
does the same, so it alone sees features on equal scales).

Pooling is the other suspect: the network's descriptor is the mean of its 64 token vectors, which
keeps nothing of where in the image a token was, while the pixel row keeps the whole layout. Two
controls (under the first three recipes only): the last block's tokens concatenated in image order
(for every model whose `features` pass visits the patches in image order: all but DARL trained over
another order than raster), and raw pixels pooled like the network, the mean of their patches.

    python experiments/knn_recipe.py runs/cifar/darl_mse_s1 [--out experiments/results/cifar10/darl_mse_s1]

writes `knn_recipes.json` (one row per features x recipe, with per-image correctness) into `--out` (default: the run).
"""
import argparse, json
from pathlib import Path
import torch
from visgen.pipeline import load_run, eval_data
from visgen.data import normalise
from visgen.evaluate import pixel_features, knn_predict, apply_batched
from visgen.compare import pack_correct
from visgen.patches import patchify

RECIPES = {  # name -> (k, T, transform of the features)
    'k20 T.07 centred (the runs\' recipe)': (20, .07, 'center'),
    'k20 T.07 raw': (20, .07, 'none'),
    'k20 T.07 standardised': (20, .07, 'standardise'),
    'k200 T.07 centred': (200, .07, 'center'),
    'k200 T.07 standardised': (200, .07, 'standardise'),
    'k1 centred': (1, .07, 'center'),
    'k20 flat vote centred': (20, 100., 'center'),
}

BASIC = ('model', 'random init', 'raw pixels')   # every recipe; the pooling controls get the first three

def transform(kind, ftr, fte):
    "Features `(N, D)`, `(M, D)` after `kind`, with statistics from the training features only."
    if kind == 'none': return ftr, fte
    mu = ftr.mean(0)
    if kind == 'center': return ftr - mu, fte - mu
    sd = ftr.std(0).clamp_min(1e-6)
    return (ftr - mu) / sd, (fte - mu) / sd

def features(run):
    "`{name: (train (N, D), test (M, D))}` for the run's model, the same network at random init, and raw pixels; and the labels."
    from visgen.pipeline import build_model
    model, cfg, info = load_run(run)
    rd = eval_data(cfg, info); tr, te, mean, std = rd.probe, rd.test, rd.mean, rd.std
    xtr, xte = normalise(tr.images, mean, std), normalise(te.images, mean, std)
    rand = build_model(cfg, info['img_size'], info['in_chans'])
    layout = image_order(model)                                         # its last block's tokens are in image order
    out = {}
    for n, m in (('model', model), ('random init', rand)):                  # one pass per model and split
        (ptr, ttr), (pte, tte) = (pooled_and_tokens(m, x, cfg.eval.pool) for x in (xtr, xte))
        out[n] = (ptr, pte)
        if layout: out[f'{n}, tokens in image order'] = (ttr, tte)
    out['raw pixels'] = (pixel_features(xtr), pixel_features(xte))
    out['raw pixels, mean of patches'] = tuple(patchify(x, info['patch_size']).mean(1) for x in (xtr, xte))
    return out, tr.labels, te.labels

def image_order(model):
    "Whether `model.features` runs the patches in image order: DARL's runs its own order; the others (RandSAC, SAIM, ADDP) the unmasked encoder."
    from visgen.darl import DARL
    return not isinstance(model, DARL) or model.order == 'raster'

def pooled_and_tokens(model, x, pool):
    "`model.features` `(N, D)` and the last block's patch tokens concatenated `(N, n*D)` (in the order the model visits them), in one pass."
    n = patchify(x[:1], model.backbone.patch_embed.patch_size[0]).shape[1]
    keep = []
    h = model.backbone.blocks[-1].register_forward_hook(lambda mod, a, o: keep.append(o[:, -n:].flatten(1).float()))
    def run(m, xb): keep.clear(); f = m.features(xb, pool=pool).float(); return torch.cat([f, keep[0]], 1)
    try: both = apply_batched(model, x, run, batch_size=256)
    finally: h.remove()
    D = model.backbone.embed_dim
    return both[:, :D], both[:, D:]

def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('run'); p.add_argument('--out')
    a = p.parse_args()
    feats, ytr, yte = features(a.run)
    rows = []
    for name, (ftr, fte) in feats.items():
        for recipe, (k, T, kind) in list(RECIPES.items())[:len(RECIPES) if name in BASIC else 3]:
            gtr, gte = transform(kind, ftr.float(), fte.float())
            pred = knn_predict(gtr, ytr, gte, k=k, T=T)
            rows.append(dict(features=name, recipe=recipe, knn_acc=(pred == yte).float().mean().item(),
                             correct=pack_correct((pred == yte).numpy())))   # per test image, for visgen.compare
            print(f"{name:12s} {recipe:34s} {rows[-1]['knn_acc']:.4f}", flush=True)
    m = json.loads((Path(a.run) / 'metrics.json').read_text())          # the first recipe is the run's own: same numbers
    for name, key in (('model', 'knn_acc'), ('random init', 'random_knn_acc'), ('raw pixels', 'pixel_knn_acc')):
        mine = next(r['knn_acc'] for r in rows if r['features'] == name)
        assert abs(mine - m[key]) < 1e-6, f'{name}: {mine} here, {m[key]} in metrics.json: not the run\'s probe set'
    dest = Path(a.out or a.run); dest.mkdir(parents=True, exist_ok=True)
    (dest / 'knn_recipes.json').write_text(json.dumps(rows, indent=1))

if __name__ == '__main__': main()
