#!/bin/sh
# cmake --install of the build tree into a temporary prefix: the plugin lands in the plugin
# dir (executable, answering `version`), the man page in man8.
set -eu
cmake="$1" build="$2" plugin_dir="$3" man_dir="$4"
prefix="$(mktemp -d "${TMPDIR:-/tmp}/carp_exec_install.XXXXXX")"
trap 'rm -rf "$prefix"' EXIT
"$cmake" --install "$build" --prefix "$prefix" >/dev/null
plugin="$prefix/$plugin_dir/carp_exec"
page="$prefix/$man_dir/man8/carp_exec.8"
[ -x "$plugin" ] || { echo "install_test: $plugin is missing or not executable"; exit 1; }
[ -f "$page" ] || { echo "install_test: $page is missing"; exit 1; }
"$plugin" version | grep -q '^carp_exec ' || { echo "install_test: $plugin version failed"; exit 1; }
echo "install_test: $plugin_dir/carp_exec and $man_dir/man8/carp_exec.8 installed"
