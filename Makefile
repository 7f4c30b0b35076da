# PoolScope: `make demo` runs the analysis on a bundled capture; `make test` runs the tests.
# Both install what they need when it is missing (libpcap-dev, with apt).

SHELL := /bin/bash
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
SWIFT ?= swift
DEMO_CAPTURE ?= Fixtures/go-default-pool.pcap

.PHONY: all deps browser build release demo test bench bench-memory bench-micro record-fixtures clean

all: build

# libpcap's headers and pkg-config file. A fresh machine has no package lists,
# so update them first, and only when something has to be installed.
deps:
	@if ! pkg-config --exists libpcap 2>/dev/null; then \
	  echo "make: installing libpcap-dev (apt)"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q libpcap-dev pkg-config; \
	fi

build: deps
	$(SWIFT) build

# The binary to install or copy to another machine: release, with the Swift runtime linked
# in (it needs only libpcap and the system's C and C++ libraries there; it starts in 4 ms
# rather than 9, and on two threads runs about 5% quicker: BENCHMARKS.md, "Session 16").
# Its path is the last line printed; make bench builds and measures it through this target.
RELEASE_FLAGS := -c release --static-swift-stdlib
release: deps
	$(SWIFT) build $(RELEASE_FLAGS)
	@echo "$$($(SWIFT) build $(RELEASE_FLAGS) --show-bin-path)/poolscope"

demo: build
	@echo "== poolscope analyze $(DEMO_CAPTURE)"
	@echo "   (Go's default Transport: 3 concurrent GETs, a pause, 3 more, then 5 sequential)"
	@$$($(SWIFT) build --show-bin-path)/poolscope analyze $(DEMO_CAPTURE)

# The HTML report is checked in a real browser: Debian's headless chromium.
# Best effort: without it that one test says it skipped.
browser:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  echo "make: installing chromium (apt) for the HTML report's browser test"; \
	  ( $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	    $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium ) >/dev/null 2>&1 \
	  || echo "make: chromium could not be installed; the browser test will skip"; \
	fi

test: deps browser
	$(SWIFT) test

# PoolScope, the libpcap floor, tcptrace and tshark on the same generated captures (see bench/run.sh).
bench: deps
	bench/run.sh

# Peak memory on a 1 GB capture against a 100 MB one with the same concurrency (see bench/memory.sh).
bench-memory: deps
	bench/memory.sh

# Micro-benchmarks of the per-packet paths with ordo-one/benchmark: time and
# allocations per 1,000 packets (Benchmarks/HotPaths; a separate package).
bench-micro: deps
	swift package --package-path Benchmarks/HotPaths benchmark --no-progress

# Re-records Fixtures/ from real clients on loopback (root; needs tcpdump,
# golang-go, curl, tshark's dumpcap). Not part of the build or the tests.
record-fixtures:
	$(SUDO) Fixtures/recorder/record.sh

clean:
	rm -rf .build
