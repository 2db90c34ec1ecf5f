#!/bin/sh
# keepalived notify hook: $1 = GROUP|INSTANCE, $2 = name, $3 = MASTER|BACKUP|FAULT|STOP.
# Writes the state atomically where carp_exec's `state_file` points.
set -eu
dir=/run/keepalived
mkdir -p "$dir"
tmp=$(mktemp "$dir/.state.XXXXXX")
printf '%s\n' "$3" > "$tmp"
mv -f "$tmp" "$dir/$2.state"
