# A thin wrapper around meson. The two commands README promises:
#   make run    install what is missing, build, start on conf/snigate.yaml
#   make test   the same set-up, then every test, plain and under ASan+UBSan
.POSIX:
BUILD      ?= build
BUILD_ASAN ?= build-asan
CONFIG     ?= conf/snigate.yaml
MESON_TEST  = meson test --print-errorlogs --num-processes 2

# Debian 12 packages: build tools, the four libraries, and the real peers
# the integration tests start (unbound, openssl, curl, python3, and haproxy as the
# PROXY protocol v2 sender in front of the gateway).
DEBS = gcc pkg-config meson ninja-build liburing-dev libcyaml-dev libyaml-dev \
       libunbound-dev libcriterion-dev libssl-dev unbound openssl curl clang-format \
       ca-certificates python3 publicsuffix haproxy
# promtool lints /metrics in the tests. It ships in Debian's prometheus package,
# whose install would also start a Prometheus server, so only the tool is
# unpacked, into .cache/ (the test is skipped where apt cannot fetch it).
PROMTOOL_DIR = .cache/prometheus

.PHONY: all deps promtool build run demo test check-format clean

all: build

deps:
	@missing=$$(for p in $(DEBS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
		grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		if [ "$$(id -u)" -ne 0 ]; then echo "run as root to install packages" >&2; exit 1; fi; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BUILD)/build.ninja:
	meson setup $(BUILD)

$(BUILD_ASAN)/build.ninja:
	meson setup $(BUILD_ASAN) -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

# snigate refuses to run as root (SECURITY.md); the quick start is run as root
# on a fresh machine, so `make run` says so and passes --allow-root there.
run: build
	@if [ "$$(id -u)" -eq 0 ]; then \
		echo "make run: as root, with --allow-root (deploy as a non-root user: SECURITY.md)"; \
		exec ./$(BUILD)/core/snigate --allow-root -c $(CONFIG); \
	else exec ./$(BUILD)/core/snigate -c $(CONFIG); fi

# Offline: snigate in front of a local openssl s_server, one allowed and one
# denied request, the access log (test/demo/demo.sh, conf/demo.yaml).
demo: build
	test/demo/demo.sh ./$(BUILD)/core/snigate

check-format:
	@if command -v clang-format >/dev/null; then \
		git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror && echo "format: ok"; \
	else echo "format: clang-format not installed, skipped"; fi

promtool:
	@command -v promtool >/dev/null || [ -x $(PROMTOOL_DIR)/usr/bin/promtool ] || \
	( mkdir -p $(PROMTOOL_DIR) && cd $(PROMTOOL_DIR) && \
	  { apt-get download prometheus >/dev/null 2>&1 || \
	    { apt-get update -qq && apt-get download prometheus >/dev/null 2>&1; }; } && \
	  dpkg-deb -x prometheus_*.deb . && rm -f prometheus_*.deb ) || \
	echo "promtool: not available; its test will be skipped"

test: deps promtool $(BUILD)/build.ninja $(BUILD_ASAN)/build.ninja
	ninja -C $(BUILD)
	ninja -C $(BUILD_ASAN)
	$(MAKE) check-format
	PATH="$$PATH:$(CURDIR)/$(PROMTOOL_DIR)/usr/bin" $(MESON_TEST) -C $(BUILD)
	PATH="$$PATH:$(CURDIR)/$(PROMTOOL_DIR)/usr/bin" \
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		$(MESON_TEST) -C $(BUILD_ASAN)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN)

# ---- soak (not part of `make test`, which runs the same script for 60 s)
#   make soak                 600 s of load with faults after 150 s without;
#                             fails if the allowed p99 under faults passes
#                             SOAK_P99_FACTOR times the no-fault one
#   make soak SOAK_SECS=3600
SOAK_SECS       ?= 600
SOAK_P99_FACTOR ?= 10
.PHONY: soak
soak: build
	SOAK_P99_FACTOR=$(SOAK_P99_FACTOR) test/soak/soak.sh $(BUILD) $(SOAK_SECS)

# ---- faults on purpose (not part of `make test`, which runs seeds 1..3)
#   make faults                     FAULTS_RUNS (50) seeds of every schedule, about 8 min
#   make faults FAULTS_SEED=51 FAULTS_SCHEDULES=fin
# test/faults/faults.sh says what each schedule does and what must hold;
# faultshim.c which faults it makes, from which seed.
FAULTS_RUNS      ?= 50
FAULTS_SEED      ?= 1
FAULTS_SCHEDULES ?= mix exact fin
.PHONY: faults
faults: build
	FAULTS_SEED=$(FAULTS_SEED) FAULTS_SCHEDULES="$(FAULTS_SCHEDULES)" \
		test/faults/faults.sh $(BUILD) $(FAULTS_RUNS)

# ---- fuzzing (not part of `make test`, which replays the corpora instead)
#   make fuzz                       every target for FUZZ_SECONDS (60) each
#   make fuzz FUZZ_SECONDS=3600 FUZZ_TARGETS=clienthello
# Each target fuzzes a scratch copy of test/fuzz/corpus/<target> under
# $(BUILD_FUZZ)/corpus; crashes land in $(BUILD_FUZZ)/artifacts (test/fuzz/README.md).
BUILD_FUZZ   ?= $(CURDIR)/build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= clienthello connect allowlist conf

.PHONY: fuzz
$(BUILD_FUZZ)/build.ninja:
	CC=clang meson setup $(BUILD_FUZZ) -Dfuzzers=true -Db_sanitize=address,undefined \
		-Db_lundef=false -Dc_args=-fsanitize=fuzzer-no-link -Dfuzzers_link_args=-fsanitize=fuzzer

fuzz: deps $(BUILD_FUZZ)/build.ninja
	@command -v clang >/dev/null || { echo "make fuzz needs clang (apt-get install clang)" >&2; exit 1; }
	ninja -C $(BUILD_FUZZ) $(FUZZ_TARGETS:%=test/fuzz/fuzz_%)
	mkdir -p $(BUILD_FUZZ)/artifacts
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p $(BUILD_FUZZ)/corpus/$$t && cp test/fuzz/corpus/$$t/* $(BUILD_FUZZ)/corpus/$$t/ && \
		echo "fuzz_$$t: $(FUZZ_SECONDS) s" && \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 $(BUILD_FUZZ)/test/fuzz/fuzz_$$t \
			-max_total_time=$(FUZZ_SECONDS) -max_len=17000 -print_final_stats=1 \
			-artifact_prefix=$(BUILD_FUZZ)/artifacts/$$t- $(BUILD_FUZZ)/corpus/$$t \
			2>$(BUILD_FUZZ)/fuzz_$$t.log || { tail -40 $(BUILD_FUZZ)/fuzz_$$t.log; exit 1; }; \
		grep -E '^#[0-9]+.*DONE' $(BUILD_FUZZ)/fuzz_$$t.log; \
	done

# ---- container image and Kubernetes manifests (not part of `make test`)
#   make image        static snigate in a scratch image, tagged $(IMAGE), with buildah
#   make image-test   build it, then run it against loopback peers (test/image/run.sh)
#   make k8s-check    render k8s/ with kustomize and validate every object (test/k8s/, test/monitoring/)
#   make k8s-corefile regenerate the egress-dns Corefile from k8s/base's snigate config
IMAGE       ?= snigate:dev
IMAGE_DEBS   = buildah debootstrap unbound openssl curl
BUILDAH      = buildah --storage-driver vfs

.PHONY: image-deps image image-test k8s-check k8s-corefile

image-deps:
	@missing=$$(for p in $(IMAGE_DEBS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
		grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# The Dockerfile's build stage is debian:12; test/image/base-image.sh puts it in
# the store (pulled, or made with debootstrap where no registry is reachable).
image: image-deps
	test/image/base-image.sh vfs
	$(BUILDAH) bud --isolation chroot --pull=false -t $(IMAGE) .
	$(BUILDAH) images $(IMAGE)

image-test: image
	test/image/run.sh $(IMAGE)

k8s-check: build
	test/k8s/check.sh
	test/monitoring/check.sh

k8s-corefile: build
	test/k8s/corefile.sh

# ---- benchmarks (bench/RESULTS.md; not part of `make test`, whose bench suite
# runs the quick variant and skips when a peer is missing)
#   make bench         every workload against direct, snigate, HAProxy, nginx and
#                      sniproxy (and Envoy when an envoy binary is on PATH),
#                      interleaved, median of 5; writes bench/RESULTS.md,
#                      bench/results.json, bench/results.raw and the SVG plots
#                      beside them (~25 min)
#   make bench-quick   the same at toy sizes, one repetition (~30 s), no report
BENCH_DEBS = haproxy nginx-light libnginx-mod-stream sniproxy unbound gnuplot-nox iproute2

.PHONY: bench-deps bench bench-quick

bench-deps:
	@missing=$$(for p in $(BENCH_DEBS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
		grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		if [ "$$(id -u)" -ne 0 ]; then echo "run as root to install packages" >&2; exit 1; fi; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

bench: build bench-deps
	bench/run.sh --build $(BUILD) --raw bench/results.raw
	bench/report.sh bench/results.raw bench/RESULTS.md $(BUILD)

bench-quick: build bench-deps
	bench/run.sh --quick --build $(BUILD) --raw /tmp/snigate-bench-quick.raw
