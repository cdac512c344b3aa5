"Every registered method (and the variants that leave weights unused) for 3 steps under torchrun: `torchrun ... ddp_every_method.py OUT [TIMEOUT_S]`."
import sys, faulthandler
import torch.distributed as dist
from pathlib import Path
from visgen.registry import load_methods
from visgen.pipeline import pretrain
from visgen.options import RunOptions
PARTS = dict(vq_epochs=1, predictor_epochs=1)
VARIANTS = [('addp', dict(PARTS, dec_depth=1, token_input='none')), ('saim', dict(share=True))]
faulthandler.dump_traceback_later(float(sys.argv[2]) if len(sys.argv) > 2 else 600, exit=True)   # a hang fails, with stacks
dist.init_process_group('gloo')   # one group for all runs: each pretrain() leaves it to this caller
out = Path(sys.argv[1])
runs = [(m, PARTS if m == 'addp' else dict(vq_epochs=1) if m == 'token_predictor' else {}) for m in load_methods()] + VARIANTS
for i, (m, opts) in enumerate(runs):
    pretrain(out / f'{i}-{m}', RunOptions.of(method=m, epochs=1, batch_size=16, train_limit=96, test_limit=32, device='cpu',
                                         opts=opts, log_every=1), progress=False, log=lambda *a: None)
    if dist.get_rank() == 0: print('ok', m, opts, flush=True)   # one rank: lines of two processes can interleave
dist.destroy_process_group()
