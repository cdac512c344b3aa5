# Two entry points for a fresh machine: `make run` and `make test`. Each sets itself up.
# VENV names a virtual environment to create or reuse (default .venv).
VENV ?= .venv
PY := $(VENV)/bin/python
# torch first, pinned: an unpinned torch would pull the newest CUDA build (several GB).
# On a GPU node with internet this same pin installs PyPI's CUDA build of torch 2.13.
TORCH_SPEC ?= torch==2.13.0 torchvision==0.28.0
STAMP := $(VENV)/.visgen-installed
OUT ?= runs/main

.PHONY: setup run test docs site export clean-nbs outputs lab hooks wheel gpu-check

setup: $(STAMP)

$(STAMP): setup.py settings.ini
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e ".[dev]"
	@touch $(STAMP)

# The main job: every registered method through experiments/pretrain.ipynb on the embedded
# default data set, then the site.
run: setup
	$(VENV)/bin/visgen main --out $(OUT)

# Every test: the notebooks' examples (nbdev) and the integration tests (pytest), on two workers.
test: setup
	$(PY) -m pytest -q -n 2 --dist loadgroup --durations=15 tests

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
# torchrun, in one table (a few minutes on one GPU). `visgen gpu-check --dry` runs it at toy sizes on the CPU.
gpu-check: setup
	$(VENV)/bin/visgen gpu-check --out gpu-check.json
