# softvfio: the two set-up commands of the README.
#   make run    install what the build needs (Debian 12, as root), build, run the main job
#   make check  the same install step, build, run every test
# Extra: make asan (unit tests under ASan+UBSan), make tsan (the sanitizers run
# slower: their test timeouts are 3x and 4x the plain ones), make valgrind, make fuzz, make clang
# (the whole tree compiled by clang-14), make bench, make install, make clean.
#
# Side effect: every target that builds first runs `deps`, which may call
# apt-get update and apt-get install (as root) for the Debian packages in
# DEB_PKGS that are missing. Skip it with `make run DEPS=` or by setting
# SOFTVFIO_NO_DEPS=1 in the environment; then install DEB_PKGS yourself.

BUILD      ?= build
MESON      ?= meson
SOFTVFIO    = $(BUILD)/tools/softvfio/softvfio
ifeq ($(SOFTVFIO_NO_DEPS),1)
DEPS       ?=
else
DEPS       ?= deps
endif
# libtsan2: GCC's ThreadSanitizer runtime, for make tsan. groff-base: the man-page check.
# qemu-system-x86: Debian's QEMU 7.2, run unmodified under softvfio exec by the qemu suite.
# clang-14 + libclang-rt-14-dev: libFuzzer, for make fuzz. valgrind: make valgrind.
DEB_PKGS   := gcc make meson ninja-build pkg-config libcmocka-dev libbsd-dev linux-libc-dev python3 \
              libtsan2 groff-base qemu-system-x86 clang-14 libclang-rt-14-dev valgrind

.PHONY: all deps build run check asan tsan fuzz valgrind clang bench install clean

all: build

# dpdk-dev (dpdk-test) and librte-dma-ioat23 (its I/OAT driver): DPDK 22.11's dmadev_autotest,
# run unmodified under softvfio exec against the emulated I/OAT engine by the dpdk suite.
DEB_PKGS   += dpdk-dev librte-dma-ioat23

# Install only what is missing; apt-get update once, only when something is.
# This is the one place where the build calls apt-get (see the top of this file).
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make deps: apt-get install:$$missing (skip with DEPS= or SOFTVFIO_NO_DEPS=1)"; \
	  if [ "$$(id -u)" != 0 ]; then echo "need root to install:$$missing" >&2; exit 1; fi; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BUILD)/build.ninja:
	$(MESON) setup $(BUILD)

build: $(DEPS) $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: build
	./$(SOFTVFIO) run

check: build
	$(MESON) test -C $(BUILD) --print-errorlogs

asan: $(DEPS)
	[ -f $(BUILD)-asan/build.ninja ] || $(MESON) setup $(BUILD)-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
	ninja -C $(BUILD)-asan
	$(MESON) test -C $(BUILD)-asan --print-errorlogs --timeout-multiplier 3

tsan: $(DEPS)
	[ -f $(BUILD)-tsan/build.ninja ] || CC=gcc $(MESON) setup $(BUILD)-tsan -Db_sanitize=thread -Db_lundef=false -Dbuildtype=debugoptimized
	ninja -C $(BUILD)-tsan
	$(MESON) test -C $(BUILD)-tsan --print-errorlogs --timeout-multiplier 4

# libFuzzer targets (fuzz/) built with clang-14, ASan and UBSan, each run for
# FUZZ_SECONDS on a scratch copy of its seed corpus (fuzz/corpus/NAME); a
# finding is written to $(BUILD)-fuzz/findings/ and fails the target.
FUZZ_SECONDS ?= 60
FUZZERS      := fuzz_trace fuzz_container fuzz_device
fuzz: $(DEPS)
	[ -f $(BUILD)-fuzz/build.ninja ] || CC=clang-14 $(MESON) setup $(BUILD)-fuzz -Dfuzz=true -Dtests=false \
	  -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized
	ninja -C $(BUILD)-fuzz $(addprefix fuzz/,$(FUZZERS))
	@mkdir -p $(BUILD)-fuzz/findings
	@set -e; for f in $(FUZZERS); do \
	  work=$$(mktemp -d); cp fuzz/corpus/$$f/* $$work/; \
	  echo "== $$f for $(FUZZ_SECONDS) s"; \
	  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ./$(BUILD)-fuzz/fuzz/$$f -max_total_time=$(FUZZ_SECONDS) \
	    -timeout=30 -rss_limit_mb=3072 -print_final_stats=1 \
	    -artifact_prefix=$(BUILD)-fuzz/findings/$$f- $$work 2>$$work.log || { tail -60 $$work.log; exit 1; }; \
	  grep -E '^stat::(number_of_executed_units|average_exec_per_sec)' $$work.log; \
	  rm -rf $$work $$work.log; \
	done

# The unit tests under valgrind memcheck: zero errors and zero leaks.
# SOFTVFIO_TEST_SCALE=valgrind makes the few stress loops shorter (every
# assertion still runs).
VALGRIND := valgrind -q --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite,indirect \
            --show-leak-kinds=definite,indirect
valgrind: build
	SOFTVFIO_TEST_SCALE=valgrind $(MESON) test -C $(BUILD) --suite unit --print-errorlogs \
	  --timeout-multiplier 4 --wrapper '$(VALGRIND)'

# The whole tree (library, command, tests, examples) compiled by clang-14 with
# the same -Werror: clang warns where GCC does not, and the fuzzers' build,
# the only other clang build, compiles the library and the fuzz targets only.
clang: $(DEPS)
	[ -f $(BUILD)-clang/build.ninja ] || CC=clang-14 $(MESON) setup $(BUILD)-clang
	ninja -C $(BUILD)-clang

bench: build
	./$(SOFTVFIO) bench

# Headers, libraries (static and shared), softvfio.pc, the command and the man pages.
install: build
	$(MESON) install -C $(BUILD) --no-rebuild

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-tsan $(BUILD)-fuzz $(BUILD)-clang
