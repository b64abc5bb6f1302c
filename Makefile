# Two commands do everything on a fresh Debian 12 machine:
#   make run   install missing packages, build, run the demo
#   make test  install missing packages, build with -Werror and ASan+UBSan, run every test
# Other targets: make build (release build), make bench, make fuzz, make clean.

# Debian packages the build, the tests and the demo need.
DEB_PACKAGES := build-essential cmake pkg-config clang libjansson-dev libpcre2-dev libxxhash-dev \
                libzstd-dev libcmocka-dev libcurl4-openssl-dev libexpat1-dev libyaml-dev libmicrohttpd-dev \
                libssl-dev libsnappy-dev libs3-dev libgrpc-dev protobuf-c-compiler libprotobuf-c-dev \
                prometheus curl python3 jq
# s3rver (the S3 server of the tests) runs on Node.js; any installed node/npm will do.
NODE_PACKAGES := $(if $(shell command -v npm 2>/dev/null),,nodejs npm)

JOBS ?= $(shell nproc 2>/dev/null || echo 2)
RELEASE_DIR := build/release
TEST_DIR := build/test
FUZZ_DIR := build/fuzz

.PHONY: all deps build test run bench fuzz clean

all: build

deps:
	@missing=""; for p in $(DEB_PACKAGES) $(NODE_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "missing Debian packages:$$missing"; echo "run as root, or: sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi

build: deps
	cmake -S . -B $(RELEASE_DIR) -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(RELEASE_DIR) -j$(JOBS)

test: deps
	cmake -S . -B $(TEST_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DST_WERROR=ON \
	  -DST_SANITIZE=address,undefined >/dev/null
	cmake --build $(TEST_DIR) -j$(JOBS)
	@# the optimised build make run uses warns differently (-O2 flow analysis): it must compile too
	cmake -S . -B $(RELEASE_DIR) -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(RELEASE_DIR) -j$(JOBS) --target strata
	cd $(TEST_DIR) && ctest --output-on-failure -j$(JOBS)

run: build
	@bash scripts/demo.sh $(RELEASE_DIR)

bench: build
	@bash bench/codec/run.sh $(RELEASE_DIR)
	@bash bench/upload/run.sh $(RELEASE_DIR)
	@bash bench/ingest/run.sh $(RELEASE_DIR)
	@bash bench/store/run.sh $(RELEASE_DIR)
	@bash bench/query/run.sh $(RELEASE_DIR)
	@bash bench/compact/run.sh $(RELEASE_DIR)

fuzz: deps
	CC=clang cmake -S . -B $(FUZZ_DIR) -DST_FUZZ=ON -DST_SANITIZE=address,undefined >/dev/null
	cmake --build $(FUZZ_DIR) -j$(JOBS)
	@echo "libFuzzer binaries: $(FUZZ_DIR)/tests/fuzz/fuzz_*_libfuzzer CORPUS_DIR"

clean:
	rm -rf build
