# Thin wrapper over CMake. Every target installs the Debian packages it needs first (idempotent).
BUILD        ?= build
BUILD_ASAN   ?= build-asan
BUILD_FUZZ   ?= build-fuzz
BUILD_TSAN   ?= build-tsan
JOBS         ?= $(shell nproc)
FUZZ_SECONDS ?= 30
CMAKE_FLAGS  ?=

.PHONY: all deps build demo test test-sanitize test-tsan tidy fuzz format clean models

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# The main job: export a real CNN with PyTorch, inspect it and run it with edgeco, compare with PyTorch.
demo: build
	@scripts/demo.sh $(BUILD)

test: build
	@ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

# Trains and compresses the shipped Fashion-MNIST models (models/fmnist; about 2 hours 30 minutes on 2 cores)
# and trains the runtime controllers on the simulator (models/governors; about 12 minutes).
models: build
	@scripts/make-models.sh $(BUILD)/edgeco models/fmnist
	@scripts/make-governors.sh $(BUILD)/edgeco models/governors

# Parsers and kernels under AddressSanitizer + UndefinedBehaviorSanitizer (slow model tests excluded).
test-sanitize: deps
	@cmake -S . -B $(BUILD_ASAN) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGECO_SANITIZE=ON >/dev/null
	@cmake --build $(BUILD_ASAN) -j $(JOBS)
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(BUILD_ASAN) --output-on-failure -j $(JOBS) -LE slow

# The runtime and kernel tests under ThreadSanitizer: the row-band executor's spin barrier, the
# OpenMP regions (clang's libomp reports its synchronisation to TSan through libarcher) and the
# kernels' threads. oneDNN is not instrumented: its own accesses are not checked, ours around it are.
test-tsan: deps
	@CXX=clang++ cmake -S . -B $(BUILD_TSAN) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGECO_TSAN=ON >/dev/null
	@cmake --build $(BUILD_TSAN) -j $(JOBS) --target runtime_test kernels_test compiler_test
	@OMP_TOOL_LIBRARIES=$$(scripts/find-archer.sh) TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	  ctest --test-dir $(BUILD_TSAN) --output-on-failure -j $(JOBS) -R '^(runtime_test|kernels_test|compiler_test)$$'

# clang-tidy (.clang-tidy's checks) on every source file of the library and the CLI, warnings as
# errors; uses the Release build's compile_commands.json. Not src/train: clang 14 cannot parse
# libtorch 1.13's headers with GCC 12's standard library (c10::IValue is incomplete to it).
tidy: build
	@run-clang-tidy -p $(BUILD) -quiet -j $(JOBS) '^(?!.*/src/train/).*/(src|tools)/' > $(BUILD)/tidy.log 2>&1 \
	  || { tail -n 40 $(BUILD)/tidy.log; exit 1; }
	@! grep -E "(warning|error): " -A3 $(BUILD)/tidy.log || { echo "clang-tidy found the above"; exit 1; }
	@echo "clang-tidy: no warnings in src/ and tools/"

# libFuzzer targets for the ONNX loader, the .npy, IDX, CIFAR-100/UCI HAR, platform YAML, plan,
# sysfs and scenario/trace readers and the fog server's request decoders, each run for FUZZ_SECONDS.
fuzz: deps
	@CXX=clang++ cmake -S . -B $(BUILD_FUZZ) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEDGECO_FUZZ=ON -DEDGECO_TESTS=OFF >/dev/null
	@cmake --build $(BUILD_FUZZ) -j $(JOBS) --target fuzz_onnx_loader fuzz_npy_reader fuzz_idx_reader fuzz_platform_yaml fuzz_plan fuzz_dataset_reader \
	  fuzz_sysfs fuzz_scenario fuzz_infer_request
	@scripts/run-fuzzers.sh $(BUILD_FUZZ) $(FUZZ_SECONDS)

format:
	@clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ) $(BUILD_TSAN)
