#!/usr/bin/env bash
# Prints the mesh of the README's picture as France sees it, in Graphviz DOT: France, America,
# Britain and CCCP, linked in a full mesh and then cut twice (France–CCCP, America–CCCP), as in
# `cargo run --example four_nations`; Philby, an agent that speaks only the original protocol
# (v1), linked to CCCP; and Burgess, linked to Philby alone. Every agent is a `secretagent`
# process driven through its stdin, as a script would drive it.
#
#   cargo build --bin secretagent
#   docs/mesh.sh target/debug/secretagent > docs/mesh.dot
#   dot -Tsvg docs/mesh.dot -o docs/mesh.svg
#
# Needs jq. Loopback only; every agent listens on a port the system picks.
set -euo pipefail

bin=${1:-target/debug/secretagent}
dir=$(mktemp -d)
names=()
agents=()
# Every agent quits as a script would make it (end of stdin does not stop an agent), then the
# feeders of their stdin go.
cleanup() {
    for name in "${names[@]}"; do
        say "$name" '{"cmd":"quit"}'
    done
    wait "${agents[@]}" 2>/dev/null || true
    kill $(jobs -p) 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

# start NAME [OPTIONS]: an agent listening on a free loopback port; commands are appended to
# $dir/NAME.in, events land in $dir/NAME.out.
start() {
    local name=$1
    shift
    : >"$dir/$name.in"
    tail -f "$dir/$name.in" | "$bin" "$name" --listen 127.0.0.1:0 "$@" >"$dir/$name.out" &
    names+=("$name")
    agents+=($!)
}

# say NAME JSON: one command to NAME.
say() { echo "$2" >>"$dir/$1.in"; }

# await NAME JQ-FILTER: waits (up to 10 s) for an event line of NAME that the filter accepts,
# and prints it.
await() {
    local line
    for _ in $(seq 100); do
        line=$(jq -c "select($2)" "$dir/$1.out" 2>/dev/null | tail -n 1)
        if [ -n "$line" ]; then
            echo "$line"
            return
        fi
        sleep 0.1
    done
    echo "$1: no event matching $2" >&2
    cat "$dir/$1.out" >&2
    exit 1
}

addr() { await "$1" '.event == "listening"' | jq -r .addr; }

for nation in France America Britain CCCP; do
    start "$nation"
done
start Philby --protocol-version 1
start Burgess --protocol-version 1

link() { say "$1" "{\"cmd\":\"connect\",\"addr\":\"$(addr "$2")\"}"; }
link France America
link France Britain
link France CCCP
link America Britain
link America CCCP
link Britain CCCP
link Philby CCCP
link Burgess Philby
for name in America Britain CCCP Philby Burgess; do
    await France ".event == \"meet\" and .name == \"$name\"" >/dev/null
done

# The two cuts; France then reaches CCCP through Britain.
say France '{"cmd":"disconnect","who":"CCCP"}'
say America '{"cmd":"disconnect","who":"CCCP"}'
for i in $(seq 100); do
    say France "{\"cmd\":\"members\",\"id\":$i}"
    via=$(await France ".event == \"members\" and .cmd_id == $i" | jq -r .routes.CCCP.via)
    [ "$via" = Britain ] && break
    sleep 0.1
done

say France '{"cmd":"graph","id":"g"}'
await France '.event == "graph"' | jq -r .dot
