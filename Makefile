# helios: `make demo` runs the examples, `make test` runs every test suite.
# See README.md for what a fresh Debian machine needs (or run `bash .ci/run`).

SHELL       := bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO       ?= cargo
PYTHON      ?= python3
CC          ?= cc
CXX         ?= c++

VENV    := .venv
VPY     := $(CURDIR)/$(VENV)/bin/python
LIBDIR  := $(CURDIR)/target/release
SO      := $(LIBDIR)/libhelios.so
STATIC  := $(LIBDIR)/libhelios.a
BUILD   := $(CURDIR)/build
# What `cargo rustc -- --print native-static-libs` lists for the static library.
NATIVE_LIBS := -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
CFLAGS_C    := -std=c11 -Wall -Wextra -Werror -O2 -g -Iinclude
CFLAGS_CXX  := -std=c++17 -Wall -Wextra -Werror -O2 -g -Iinclude
VALGRIND    := valgrind --error-exitcode=1 --leak-check=full --suppressions=tests/c/valgrind.supp -q
SKIP        := tools/skip.sh

.PHONY: all lib header test test-rust test-c test-python test-csharp lint \
        demo demo-c demo-cpp demo-rust demo-python demo-csharp \
        bench python csharp venv clean distclean

all: lib

## Build ---------------------------------------------------------------------

# The shared and static libraries in target/release.
lib:
	$(CARGO) build --release

# Regenerate include/helios.h from src/ffi/ (commit the result).
header:
	HELIOS_WRITE_HEADER=1 $(CARGO) build --release

# The Python virtual environment with the pinned test and bench packages.
venv: $(VENV)/.installed
$(VENV)/.installed: requirements-dev.txt
	@if ! $(PYTHON) -m venv --help >/dev/null 2>&1; then \
	    $(SKIP) "python venv" "apt-get install -y python3 python3-venv"; exit 0; fi; \
	$(PYTHON) -m venv $(VENV) && \
	$(VPY) -m pip install -q --upgrade pip && \
	$(VPY) -m pip install -q -r requirements-dev.txt && touch $@

# Install the Python package (with the library inside it) into the venv.
python: lib venv
	@if [ ! -x $(VPY) ]; then $(SKIP) "python package" "apt-get install -y python3 python3-venv"; exit 0; fi; \
	cp $(SO) bindings/python/helios/libhelios.so && \
	$(VPY) -m pip install -q --no-build-isolation --no-deps --force-reinstall ./bindings/python

# Build the C# library and test program with Mono's mcs.
csharp: lib
	@if ! command -v mcs >/dev/null || ! command -v mono >/dev/null; then \
	    $(SKIP) "C# (Mono)" "apt-get install -y mono-mcs mono-runtime"; exit 0; fi; \
	$(MAKE) -C bindings/csharp build LIBDIR=$(LIBDIR)

## Tests ---------------------------------------------------------------------

test: lint test-rust test-c test-python test-csharp
	@echo "make test: all suites finished"

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --all-targets --features cuda -- -D warnings

# The CUDA build too: without a driver or device its GPU tests say so
# (HELIOS_ERR_DEVICE) and skip the checks that need one.
test-rust:
	$(CARGO) test
	$(CARGO) test --features cuda --lib gpu:: -- --nocapture
	$(CARGO) test --features cuda --test gpu -- --nocapture
	$(CARGO) test --features cuda --test nystrom device_calls

$(BUILD)/tests/%_shared: tests/c/%.c tests/c/check.h tests/c/data.h include/helios.h lib
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_C) $< -o $@ -L$(LIBDIR) -Wl,-rpath,$(LIBDIR) -lhelios -lpthread -lm

$(BUILD)/tests/%_static: tests/c/%.c tests/c/check.h tests/c/data.h include/helios.h lib
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_C) $< -o $@ $(STATIC) $(NATIVE_LIBS)

C_TESTS := $(patsubst tests/c/%.c,%,$(wildcard tests/c/test_*.c))

# Each C test, linked to the shared and to the static library, under valgrind.
test-c: $(foreach t,$(C_TESTS),$(BUILD)/tests/$(t)_shared $(BUILD)/tests/$(t)_static)
	@if command -v valgrind >/dev/null; then run="$(VALGRIND)"; else \
	    $(SKIP) "valgrind (C tests run without it)" "apt-get install -y valgrind"; run=""; fi; \
	for t in $^; do echo "--- $$t"; $$run $$t; done

test-python: python
	@if [ ! -x $(VPY) ]; then $(SKIP) "Python tests" "apt-get install -y python3 python3-venv"; exit 0; fi; \
	cd bindings/python/tests && $(VPY) -m pytest -q

test-csharp: lib
	@if ! command -v mcs >/dev/null || ! command -v mono >/dev/null; then \
	    $(SKIP) "C# tests (Mono)" "apt-get install -y mono-mcs mono-runtime"; exit 0; fi; \
	$(MAKE) -C bindings/csharp test LIBDIR=$(LIBDIR)

## Demo ----------------------------------------------------------------------

demo: demo-c demo-cpp demo-rust demo-python demo-csharp
	@echo "make demo: every example ran"

demo-c: lib
	@mkdir -p $(BUILD)/examples
	for example in stencil nystrom vector_search tokenizer generate device; do \
	    $(CC) $(CFLAGS_C) examples/c/$$example.c -o $(BUILD)/examples/$${example}_c \
	        -L$(LIBDIR) -Wl,-rpath,$(LIBDIR) -lhelios -lm; \
	    (cd $(BUILD)/examples && ./$${example}_c); \
	done

# The C++ examples link the static library: no libhelios.so needed at run time.
demo-cpp: lib
	@mkdir -p $(BUILD)/examples
	for example in stencil nystrom vector_search tokenizer generate device; do \
	    $(CXX) $(CFLAGS_CXX) examples/cpp/$$example.cpp -o $(BUILD)/examples/$${example}_cpp $(STATIC) $(NATIVE_LIBS); \
	    $(BUILD)/examples/$${example}_cpp; \
	done

demo-rust:
	$(CARGO) run --release --quiet --example stencil

demo-python: python
	@if [ ! -x $(VPY) ]; then $(SKIP) "Python example" "apt-get install -y python3 python3-venv"; exit 0; fi; \
	$(VPY) examples/python/stencil.py
	$(VPY) examples/python/embed.py
	$(VPY) examples/python/nystrom_classifier.py
	$(VPY) examples/python/vector_search.py
	$(VPY) examples/python/tokenizer.py
	$(VPY) examples/python/generate.py
	$(VPY) examples/python/device.py

demo-csharp: lib
	@if ! command -v mcs >/dev/null || ! command -v mono >/dev/null; then \
	    $(SKIP) "C# example (Mono)" "apt-get install -y mono-mcs mono-runtime"; exit 0; fi; \
	$(MAKE) -C bindings/csharp demo LIBDIR=$(LIBDIR)

## Bench ---------------------------------------------------------------------

# The runner sweep (helios against a plain C loop and numpy) and the RBF map
# (against numpy and scikit-learn), the vector index (faiss), the tokenizer
# (Hugging Face tokenizers) and GPT-2 (PyTorch when installed), each in one
# process.
bench: python
	@mkdir -p $(BUILD)/bench
	$(CC) -O3 -march=native -shared -fPIC -Iinclude benches/kernels.c -o $(BUILD)/bench/libbench_kernels.so
	$(VPY) benches/bench_runner.py --kernels $(BUILD)/bench/libbench_kernels.so
	$(VPY) benches/bench_embed.py
	$(VPY) benches/bench_index.py
	$(VPY) benches/bench_tokenizer.py
	$(VPY) benches/bench_model.py
	$(CARGO) bench --bench nystrom_update
	$(CARGO) bench --bench tokenizer_cache
	$(CARGO) bench --bench gpt_decode

## Clean ---------------------------------------------------------------------

clean:
	$(CARGO) clean
	rm -rf $(BUILD) bindings/python/helios/libhelios.so bindings/python/build bindings/python/*.egg-info
	-$(MAKE) -C bindings/csharp clean

distclean: clean
	rm -rf $(VENV)
