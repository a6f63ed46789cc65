# The two commands of the README: `make test` and `make demo`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test demo install clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) setup.py
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[cpu,test,export]'
	touch $(STAMP)

install: $(STAMP)

# The parity and gradient tests run a second time with TensorFlow's oneDNN kernels switched the
# other way (off when unset, on when TF_ENABLE_ONEDNN_OPTS=0): their numerics differ by CPU.
PARITY_TESTS := tests/test_parity_ada.py tests/test_training_fixture.py tests/test_ops.py \
	tests/test_stylegan1.py tests/test_alae_networks.py tests/test_alae_training.py \
	tests/test_legacy.py tests/test_training_phases.py tests/test_augment.py \
	tests/test_precision.py
ONEDNN_OTHER := $(if $(filter 0,$(TF_ENABLE_ONEDNN_OPTS)),1,0)

# Tests run in TEST_WORKERS processes (pytest-xdist; most tests trace or import on one core).
TEST_WORKERS ?= 2

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist worksteal tests
	TF_ENABLE_ONEDNN_OPTS=$(ONEDNN_OTHER) $(PY) -m pytest -q -n $(TEST_WORKERS) $(PARITY_TESTS)

demo: $(STAMP)
	$(PY) demo.py --minutes $${TF_STYLEGAN2_DEMO_MINUTES:-10} --overwrite

clean:
	rm -rf $(VENV) *.egg-info
