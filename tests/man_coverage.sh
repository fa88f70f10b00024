#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The manual pages against the command as it is:
#   - every page in man/ formats without a groff warning;
#   - every command that `softvfio --help` lists has its own section (.SS) in
#     softvfio.1, and every option its `softvfio COMMAND --help` names appears
#     in that section (or, for -h/--help/-V/--version, in OPTIONS);
#   - every long option in the command's getopt tables (tools/softvfio) appears
#     somewhere in softvfio.1, so an option left out of --help is caught too;
#   - every function the library exports (src/libsoftvfio.map) is named in the
#     NAME line of a page, every name there is exported, every page is
#     installed and every name but the page's own is linked to it
#     (man/meson.build), so `man FUNCTION` finds it.
# Usage: man_coverage.sh SOFTVFIO MANDIR SRCDIR
set -u
bin=$1 mandir=$2 src=$3
fails=0
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

for page in "$mandir"/*.[0-9]; do
	warn=$(groff -man -ww -z "$page" 2>&1)
	[ -z "$warn" ] || bad "$(basename "$page"): groff: $warn"
done

page1="$mandir/softvfio.1"
# The page as plain words: fonts, \- and \e undone, quotes and macros kept.
text=$(sed -e 's/\\f[BIRP]//g' -e 's/\\f(..//g' -e 's/\\-/-/g' -e 's/\\e/\\/g' -e 's/\\&//g' \
	-e 's/"//g' "$page1")

# The part of the page in section .SS NAME (up to the next .SS or .SH).
section() {
	awk -v want="$1" '
		/^\.S[SH] / { name = $0; sub(/^\.S[SH] /, "", name); on = (name == want); next }
		on { print }' <<<"$text"
}

has_opt() { # OPT TEXT: the option as a word of its own
	grep -q -E -- "(^|[^A-Za-z0-9-])$1([^A-Za-z0-9-]|$)" <<<"$2"
}

main=$("$bin" --help) || bad "softvfio --help failed"
# Commands: the first word of each indented line of the "Commands:" block.
commands=$(awk '/^Commands:/ { on = 1; next } on && /^$/ { on = 0 }
	on && /^  [a-z]/ { print $1 }' <<<"$main")
[ -n "$commands" ] || bad "no commands found in softvfio --help"
options_sec=$(section OPTIONS)

for cmd in $commands; do
	sec=$(section "$cmd")
	if [ -z "$sec" ]; then
		bad "softvfio.1 has no section for command '$cmd'"
		continue
	fi
	[ "$cmd" = help ] && continue
	help=$("$bin" "$cmd" --help) || { bad "softvfio $cmd --help failed"; continue; }
	opts=$(grep -o -E -- '(^|[^A-Za-z0-9-])--?[A-Za-z][A-Za-z0-9-]*' <<<"$help" |
		sed -E 's/^[^-]*//' | sort -u)
	for o in $opts; do
		case $o in -h | --help | -V | --version)
			has_opt "$o" "$options_sec" || bad "softvfio.1 OPTIONS lacks $o"
			continue ;;
		esac
		has_opt "$o" "$sec" || bad "softvfio.1 section '$cmd' lacks $o (in 'softvfio $cmd --help')"
	done
done
for o in -h --help -V --version; do
	has_opt "$o" "$options_sec" || bad "softvfio.1 OPTIONS lacks $o"
done

# Long options the code accepts, whether or not --help names them.
longs=$(cat "$src"/tools/softvfio/*.c "$src"/tools/softvfio/*/*.c 2>/dev/null |
	grep -o -E '\{ *"[a-z][a-z0-9-]*", *(no|required|optional)_argument' |
	sed -E 's/\{ *"([^"]*)".*/--\1/' | sort -u)
[ -n "$longs" ] || bad "no getopt tables found under $src/tools/softvfio"
for o in $longs; do
	has_opt "$o" "$text" || bad "softvfio.1 never mentions $o (accepted by the command)"
done

# The library pages a user is pointed at, and every function a page names
# in its NAME line is exported (a page for a function that left the public
# API fails here).
for p in softvfio.3 softvfio_ioctl.3; do
	[ -f "$mandir/$p" ] || bad "missing $p"
done
map="$src/src/libsoftvfio.map"
build="$mandir/meson.build"
# The pages man/meson.build installs: its man_pages = files(...) list.
installed=$(awk '/^man_pages = files\(/ { on = 1 } on { print } on && /\)/ { exit }' "$build")
named=""
for page in "$mandir"/svf_*.3 "$mandir"/softvfio_ioctl.3; do
	base=$(basename "$page")
	names=$(awk '/^\.SH NAME/ { on = 1; next } /^\.SH/ { on = 0 } on' "$page" | tr '\n' ' ' |
		sed -e 's/\\-.*//' | tr ',' '\n' | tr -d ' ')
	[ -n "$names" ] || bad "$base has no NAME line"
	grep -q "'$base'" <<<"$installed" || bad "$base is not installed (man_pages in man/meson.build)"
	for n in $names; do
		named="$named $n"
		grep -q -E "(^|[[:space:];])$n;" "$map" ||
			bad "$base documents $n, which the library does not export"
		[ "$n.3" = "$base" ] && continue
		# The man_links entry of this page: from its key to the closing bracket.
		awk -v key="'$base'" 'index($0, key " :") { on = 1 } on { print } on && /\]/ { exit }' \
			"$build" | grep -q "'$n'" ||
			bad "$base names $n, but man/meson.build links no $n.3 to it"
	done
done
# The exported functions: the names of the map's global: block.
exported=$(sed -e 's|/\*.*\*/||' "$map" | awk '/global:/ { on = 1; next } /local:/ { on = 0 } on' |
	tr -s ' \t;' '\n' | grep -E '^[a-z_][a-z0-9_]*$')
[ -n "$exported" ] || bad "no exported functions found in $map"
for f in $exported; do
	grep -q -w -- "$f" <<<"$named" || bad "$f is exported but no page in man/ names it"
done

if [ "$fails" -ne 0 ]; then
	echo "$fails problem(s)"
	exit 1
fi
echo "man pages cover $(wc -w <<<"$commands") commands, $(wc -w <<<"$longs") long options and $(wc -w <<<"$exported") exported functions"
