# One command to set up and run, one to set up and test. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test eval-dev eval-test index bench clean chromium nginx llama-flags

setup: $(STAMP)

# llama.cpp is compiled here with the vector extensions this CPU lists in /proc/cpuinfo, but never with
# -march=native: that also turns on AMX, and a CPU that reports AMX inside a sandbox that does not let a
# process use it dies of SIGILL on the first answer (seen here, llama-cpp-python 0.3.36). --no-cache-dir:
# pip's wheel cache would hand back a build made for other flags. Override: make setup LLAMA_CMAKE_ARGS=...
# The version is the one measured (docs/benchmarks.md); pyproject.toml admits any 0.3.x.
CPU_FLAGS := $(shell grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
# $(call has,FLAGS,ARGS): ARGS when the CPU lists every one of FLAGS
has = $(if $(filter-out $(CPU_FLAGS),$(1)),,$(2))
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
	$(call has,avx512f avx512cd avx512vl avx512dq avx512bw,-DGGML_AVX512=ON \
	$(call has,avx512_vnni,-DGGML_AVX512_VNNI=ON) $(call has,avx512vbmi,-DGGML_AVX512_VBMI=ON) $(call has,avx512_bf16,-DGGML_AVX512_BF16=ON))

# torch==2.13.0 first: a CPU build; a plain `torch` requirement would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip "setuptools>=70.1"  # setuptools: tests/test_install.py builds the wheel
	$(BIN)/pip install --quiet torch==2.13.0
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet --no-cache-dir "llama-cpp-python[server]==0.3.36"
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# what llama.cpp is built with here
llama-flags:
	@echo $(LLAMA_CMAKE_ARGS)

# the web chat on http://127.0.0.1:7860 (python app.py --help: --host, --port, --auth)
run: setup
	$(BIN)/python app.py

index: setup
	$(BIN)/jmqa index

# every issue #6 benchmark (~25 min on 2 cores): out/bench/results.md (docs/benchmarks.md explains it)
bench: setup
	$(BIN)/python benchmarks/run_all.py

test: setup chromium nginx
	$(BIN)/python -m pytest -q --durations=15  # the slowest tests named: CI has 90 minutes

# the dev set's quality gate (~27 min on 2 cores; CI runs it)
eval-dev: setup
	$(BIN)/jmqa eval eval/dev.jsonl --mode auto --out out/eval-dev --gate eval/floors-dev.json

# A named run on the blind test set (~27 min; never tune on it, so CI does not run it): the summary is kept as
# eval/runs/test-<commit>.json, to be committed with the commit's name in the message. Exit 1 below a floor.
eval-test: setup
	rc=0; $(BIN)/jmqa eval eval/test.jsonl --mode auto --out out/eval-test --gate eval/floors-test.json || rc=$$?; \
	cp out/eval-test/summary.json eval/runs/test-$$(git rev-parse --short HEAD).json; exit $$rc

# The browser tests drive Debian's Chromium through playwright (never `playwright install`); a CJK font so
# that Chinese answers in its screenshots are characters, not empty boxes.
chromium:
	@test -x /usr/bin/chromium && dpkg -s fonts-wqy-microhei >/dev/null 2>&1 || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update && $$SUDO apt-get install -y chromium chromium-driver fonts-wqy-microhei; }

# tests/test_replicas.py puts two replicas behind Debian's nginx (deploy/nginx.conf)
nginx:
	@test -x /usr/sbin/nginx || command -v nginx >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update && $$SUDO apt-get install -y nginx; }

clean:
	rm -rf $(VENV) index/snapshot-* index/CURRENT
