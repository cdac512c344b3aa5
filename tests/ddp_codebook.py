"Two ranks, one cluster each, train one `EMACodebook`: `torchrun --nproc_per_node 2 ddp_codebook.py`; rank 0 prints both ranks' buffers as JSON."
import json
import torch, torch.distributed as dist
from visgen.vq import EMACodebook
dist.init_process_group('gloo'); r = dist.get_rank()
torch.manual_seed(r)                                        # per-rank seeds, as in training
cb = EMACodebook(4, 2, decay=0.5, restart_below=0.5)
pts = torch.randn(64, 2) * .1 + (5. if r == 0 else -5.)     # rank 0 sees the cluster at +5, rank 1 the one at -5
for _ in range(10): cb(pts)
out = {}
for name in ('embed', 'cluster_size'):
    t = getattr(cb, name); got = [torch.empty_like(t) for _ in range(2)]; dist.all_gather(got, t)
    out[name] = [g.tolist() for g in got]
if r == 0: print(json.dumps(out))
dist.destroy_process_group()
