# softvfio: the two set-up commands of the README.
#   make run    install what the build needs (Debian 12, as root), build, run the main job
#   make check  the same install step, build, run every test
# Extra: make asan (unit tests under ASan+UBSan), make tsan, make bench, make clean.

BUILD      ?= build
MESON      ?= meson
# libtsan2: GCC's ThreadSanitizer runtime, for make tsan.
DEB_PKGS   := gcc make meson ninja-build pkg-config libcmocka-dev libbsd-dev linux-libc-dev python3 \
              libtsan2

.PHONY: all deps build run check asan tsan bench clean

all: build

# Install only what is missing; apt-get update once, only when something is.
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "need root to install:$$missing" >&2; exit 1; fi; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(BUILD)/build.ninja:
	$(MESON) setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: build
	./$(BUILD)/softvfio run

check: build
	$(MESON) test -C $(BUILD) --print-errorlogs

asan: deps
	[ -f $(BUILD)-asan/build.ninja ] || $(MESON) setup $(BUILD)-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
	ninja -C $(BUILD)-asan
	$(MESON) test -C $(BUILD)-asan --print-errorlogs

tsan: deps
	[ -f $(BUILD)-tsan/build.ninja ] || CC=gcc $(MESON) setup $(BUILD)-tsan -Db_sanitize=thread -Db_lundef=false -Dbuildtype=debugoptimized
	ninja -C $(BUILD)-tsan
	$(MESON) test -C $(BUILD)-tsan --print-errorlogs

bench: build
	./$(BUILD)/softvfio bench

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-tsan
