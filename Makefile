# Two entry points for a fresh machine: `make run` and `make test`. Each sets itself up.
# VENV names a virtual environment to create or reuse (default .venv).
VENV ?= .venv
# PY: the Python that runs `gpu-check` and `gpu-repro`. Given on the command line (`make gpu-check PY=python3`), it is
# used as it is: no venv is made and nothing is installed (a GPU node's own torch, offline). Otherwise the venv's.
ifeq ($(origin PY),command line)
SETUP :=
else
PY := $(VENV)/bin/python
SETUP := setup
endif
VPY := $(VENV)/bin/python
# torch first, pinned: an unpinned torch would pull the newest CUDA build (several GB).
# On a GPU node with internet this same pin installs PyPI's CUDA build of torch 2.13. A torch that is already
# there (in the venv, or in python3 when the venv is made) and is at least TORCH_MIN stays: never replaced.
TORCH_SPEC ?= torch==2.13.0 torchvision==0.28.0
TORCH_MIN ?= 2.11
TORCH_OK = import sys, torch; v = torch.__version__.split('+')[0].split('.'); sys.exit((int(v[0]), int(v[1])) < tuple(map(int, '$(TORCH_MIN)'.split('.'))))
STAMP := $(VENV)/.visgen-installed
OUT ?= runs/main
comma := ,

.PHONY: setup run test test-oldest docs site export clean-nbs outputs lab hooks wheel wheelhouse gpu-check gpu-repro

setup: $(STAMP)

$(STAMP): setup.py settings.ini
	@if [ ! -x $(VPY) ]; then \
	    if python3 -c "$(TORCH_OK)" 2>/dev/null; then \
	        echo "python3 has torch $$(python3 -c 'import torch; print(torch.__version__)'): $(VENV) uses it (--system-site-packages)"; \
	        python3 -m venv --system-site-packages $(VENV); \
	    else python3 -m venv $(VENV); fi; fi
	$(VPY) -m pip install -q --upgrade pip setuptools wheel
	@if $(VPY) -c "$(TORCH_OK)" 2>/dev/null; then echo "keeping torch $$($(VPY) -c 'import torch; print(torch.__version__)')"; \
	    else $(VPY) -m pip install -q $(TORCH_SPEC); fi
	$(VPY) -m pip install -q -e ".[dev]" "torch==$$($(VPY) -c 'import torch; print(torch.__version__.split("+")[0])')"
	@touch $(STAMP)

# The main job: every registered method through experiments/pretrain.ipynb on the embedded
# default data set, then the site.
run: setup
	$(VENV)/bin/visgen main --out "$(OUT)"

# Every test: the notebooks' examples (nbdev) and the integration tests (pytest), on two workers.
# The gpu-check --dry rehearsal (~80 s on 2 cores, most of it a cold compile) runs in test-oldest, under the GPU image's torch,
# which CI runs after this (.ci/run); `make test GPU_CHECK_DRY=1` runs it here too.
test: setup
	$(PY) -m pytest -q -n 2 --dist loadgroup --durations=15 $(if $(GPU_CHECK_DRY),,--deselect tests/test_gpu_check.py::test_gpu_check_dry) tests

# The documentation and results site in _site/ (Quarto if installed, else smalldocs). Not nbdev_docs or
# nbdev_readme: without Quarto they try `sudo` to install it, then `pip install -e ".[dev]"` with whatever pip
# is first on PATH (a system Python included).
docs: setup
	$(VENV)/bin/visgen site

site: docs

export: setup
	$(VENV)/bin/nbdev_clean
	$(VENV)/bin/nbdev_export

clean-nbs: setup
	$(VENV)/bin/nbdev_clean

# Run the library notebooks in place and keep their outputs (figures for the site), then clean them.
outputs: setup
	$(PY) -c "import glob, visgen.site as s; s.execute_notebooks(sorted(glob.glob('nbs/*.ipynb')))"
	$(VENV)/bin/nbdev_clean

# JupyterLab at the repository root (nbs/ and experiments/ both reachable). nbdev's pre-save hook
# (settings.ini: jupyter_hooks = True) cleans each notebook as it is saved, so a save leaves `git diff` empty.
lab: setup
	$(PY) -m pip install -q jupyterlab
	$(VENV)/bin/jupyter lab --ServerApp.root_dir=. --FileContentsManager.pre_save_hook=nbdev.clean.clean_jupyter

# nbdev's hooks for every Jupyter you start (~/.jupyter) and git's merge driver for notebooks.
hooks: setup
	$(VENV)/bin/nbdev_install_hooks

# A wheel in dist/ (the experiment templates inside, as visgen/templates/).
wheel: setup
	$(PY) -m pip wheel --no-deps --no-build-isolation -w dist .

# On a GPU node: cuda cells, compiled benchmark with MFU, FlexAttention, a streamed ViT-B 224 px run and
# torchrun, in one table, sized to fit its budget (5 minutes on one H100 by default). ARGS: more flags, e.g.
# `make gpu-check PY=python3 ARGS=--dry` (toy sizes on the CPU) or ARGS="--budget 240".
gpu-check: $(SETUP)
	$(PY) -m visgen gpu-check --out gpu-check.json $(ARGS)

# RandSAC orders on CIFAR-10 in one GPU slot (experiments/gpu_repro.ipynb): DATA is the CIFAR-10 JPEG tarball or tree
# (default: $$VISGEN_DATA). The executed notebook and the runs go to REPRO_OUT (never overwritten).
DATA ?= $(VISGEN_DATA)
REPRO_OUT ?= runs/gpu_repro-$(shell date +%Y%m%d-%H%M%S)
gpu-repro: $(SETUP)
	$(PY) -m visgen experiment --template gpu_repro --output "$(REPRO_OUT)/gpu_repro.ipynb" \
	    --params "$(if $(DATA),data_root=$(DATA),)$(if $(DATA),$(comma),)out_dir=$(REPRO_OUT)$(if $(PARAMS),$(comma)$(PARAMS),)"

# Wheels of every non-torch dependency (the library and the `experiments` extra) for a GPU node without internet,
# resolved against the node's torch (NODE_TORCH) and left without it: copy the folder, then
# `python -m pip install --no-index --find-links wheelhouse -r wheelhouse/requirements.txt` there (README).
PYVER ?= 3.12
PLATFORM ?= manylinux_2_28_x86_64
WHEELHOUSE ?= wheelhouse
NODE_TORCH ?= torch==2.11.0 torchvision==0.26.0
wheelhouse:
	python3 tools/wheelhouse.py --out $(WHEELHOUSE) --python-version $(PYVER) --platform $(PLATFORM) --torch "$(NODE_TORCH)"

# The model, compile, FlexAttention and gpu-check --dry tests under the oldest torch the README promises (the GPU
# image's), in a venv of its own. PyPI serves torch 2.11 as its CUDA build: ~530 MB to download, ~4.7 GB installed.
OLDEST_VENV ?= .venv-oldest
OLDEST_TORCH ?= torch==2.11.0 torchvision==0.26.0
OLDEST_TESTS ?= tests/test_every_method.py tests/test_compile_shapes.py tests/test_flex.py tests/test_gpu_check.py \
    tests/test_orders.py::test_flex_path_matches_reference
test-oldest: $(OLDEST_VENV)/.visgen-installed
	$(OLDEST_VENV)/bin/python -m pytest -q -n 2 --dist loadgroup --durations=10 $(OLDEST_TESTS)

$(OLDEST_VENV)/.visgen-installed: setup.py settings.ini
	@test -x $(OLDEST_VENV)/bin/python || python3 -m venv $(OLDEST_VENV)
	$(OLDEST_VENV)/bin/python -m pip install -q $(OLDEST_TORCH)
	$(OLDEST_VENV)/bin/python -m pip install -q -e ".[experiments]" pytest pytest-xdist $(OLDEST_TORCH)
	@touch $@
