# Turnpike: `make run` (install, build, start the demo) and `make test` (install, build, run every
# test). Everything else is a convenience.
BUILD_DIR ?= build
BUILD_TYPE ?= Release
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build run test unit integration bench peers pgo clean format

all: build

deps:
	@scripts/install-deps.sh test

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	scripts/run-demo.sh $(BUILD_DIR)

unit: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

integration: build
	TURNPIKE_BUILD_DIR=$(abspath $(BUILD_DIR)) /usr/bin/python3 -m pytest -q tests/integration

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)
	TURNPIKE_BUILD_DIR=$(abspath $(BUILD_DIR)) /usr/bin/python3 -m pytest -q tests/integration

bench: build
	scripts/install-deps.sh bench
	scripts/bench.sh $(BUILD_DIR)

# Profile-guided release build of the gateway (build-pgo/turnpike): instrument, train on
# bench/pgo_train.py's traffic mix, rebuild with the profile. `make bench BUILD_DIR=build-pgo`
# measures it.
pgo:
	scripts/build-pgo.sh build-pgo

clean:
	rm -rf $(BUILD_DIR)

format:
	clang-format -i $$(git ls-files 'src/*.h' 'src/*.cc' 'tests/*.h' 'tests/*.cc' 'bench/*.cc')
