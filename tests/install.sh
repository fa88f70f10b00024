#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What a user does: install softvfio into a fresh prefix, then build and run
# examples/dma.c with nothing but what pkg-config says, shared and --static;
# the man pages and the command are where man and PATH look.
# Usage: install.sh BUILDDIR SRCDIR CC [SANITIZE]
# (SANITIZE: the build's b_sanitize value; a sanitized library needs its
# programs built with the same -fsanitize, as any user's would.)
set -u
build=$1 src=$2 cc=$3 sanitize=${4:-none}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

if ! meson install -C "$build" --no-rebuild --quiet --destdir "$tmp/root" >"$tmp/install.log" 2>&1; then
	cat "$tmp/install.log"
	echo "FAIL: meson install"
	exit 1
fi
prefix=$(meson introspect "$build" --buildoptions |
	python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"))')
root="$tmp/root$prefix"
pc=$(find "$root" -name softvfio.pc | head -n 1)
[ -n "$pc" ] || { echo "FAIL: softvfio.pc not installed"; exit 1; }
libdir=$(dirname "$(dirname "$pc")")

for f in include/softvfio/softvfio.h include/softvfio/device.h bin/softvfio \
	share/man/man1/softvfio.1 share/man/man3/softvfio.3 share/man/man3/softvfio_ioctl.3 \
	share/man/man3/svf_device_dma.3; do
	[ -e "$root/$f" ] || bad "not installed: $f"
done
[ -e "$libdir/libsoftvfio.a" ] || bad "not installed: static library"
ls "$libdir"/libsoftvfio.so.* >/dev/null 2>&1 || bad "not installed: shared library"
MANPATH="$root/share/man" man -w softvfio_ioctl >/dev/null 2>&1 || bad "man -w softvfio_ioctl"

# pkg-config as a user runs it: the installed .pc, paths under the destdir.
export PKG_CONFIG_PATH="$libdir/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$tmp/root"
export PKG_CONFIG_LIBDIR=/nonexistent # nothing but softvfio.pc
pkg-config --exists --print-errors softvfio || bad "pkg-config softvfio"
ver=$(pkg-config --modversion softvfio)
grep -q "SOFTVFIO_VERSION \"$ver\"" "$root/include/softvfio/softvfio.h" ||
	bad "pkg-config version $ver is not the header's SOFTVFIO_VERSION"

san=()
[ "$sanitize" != none ] && san=(-fsanitize="$sanitize")
example="$src/examples/dma.c"

# Shared: the run must load the installed library, not the build tree's.
# shellcheck disable=SC2046
if "$cc" "${san[@]}" -Wall -Werror -o "$tmp/dma-shared" "$example" \
	$(pkg-config --cflags --libs softvfio) 2>"$tmp/cc.log"; then
	LD_LIBRARY_PATH="$libdir" "$tmp/dma-shared" >"$tmp/out" 2>&1 || { cat "$tmp/out"; bad "dma (shared) failed"; }
	LD_LIBRARY_PATH="$libdir" ldd "$tmp/dma-shared" | grep -q "$libdir/libsoftvfio.so" ||
		bad "dma (shared) does not load the installed libsoftvfio.so"
else
	cat "$tmp/cc.log"; bad "cc dma.c \$(pkg-config --cflags --libs softvfio)"
fi

# Static: with the shared library gone, --static's flags must be enough.
rm -f "$libdir"/libsoftvfio.so*
# shellcheck disable=SC2046
if "$cc" "${san[@]}" -Wall -Werror -o "$tmp/dma-static" "$example" \
	$(pkg-config --static --cflags --libs softvfio) 2>"$tmp/cc.log"; then
	"$tmp/dma-static" >"$tmp/out" 2>&1 || { cat "$tmp/out"; bad "dma (static) failed"; }
	if ldd "$tmp/dma-static" 2>/dev/null | grep -q softvfio; then bad "dma (static) needs libsoftvfio.so"; fi
else
	cat "$tmp/cc.log"; bad "cc dma.c \$(pkg-config --static --cflags --libs softvfio)"
fi

"$root/bin/softvfio" --version >/dev/null || bad "installed softvfio --version"
# The preload library of softvfio exec, when this tree has one.
if [ -d "$src/src/preload" ]; then
	pre="$libdir/libsoftvfio-preload.so"
	[ -e "$pre" ] || bad "not installed: libsoftvfio-preload.so"
	if [ "$sanitize" = none ] && [ -e "$pre" ]; then
		SOFTVFIO_PRELOAD="$pre" "$root/bin/softvfio" exec -- true ||
			bad "installed softvfio exec -- true"
	fi
fi

[ "$fails" -eq 0 ] || { echo "$fails problem(s)"; exit 1; }
echo "installed into $prefix (destdir), built and ran examples/dma.c shared and static"
