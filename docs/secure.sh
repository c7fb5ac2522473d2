#!/usr/bin/env bash
# Runs the README's "Secure links: a how-to" as written, and checks what each step prints:
# keys for Ames, Wolf and Rosenberg and their trust file, a PSK, then Wolf and Rosenberg in
# "terminal 1" and Ames in "terminal 2", and Ames's message to Rosenberg through Wolf.
#
#   cargo build --features secure --bin secretagent
#   docs/secure.sh target/debug/secretagent
#
# What a terminal would show goes to a file per terminal; a line typed into an agent goes
# into a pipe that is its stdin. The how-to's port is 8124; PORT=N uses N instead
# (`cargo test --features secure` runs this script on a free port). Prints "ok" at the end, or
# what was missing and what each terminal showed, with exit status 1. Needs only bash and
# coreutils; loopback only.
set -euo pipefail

bin=$(realpath "${1:-target/debug/secretagent}")
port=${PORT:-8124}
dir=$(mktemp -d)
cleanup() {
    exec 4>&- 5>&-
    kill $(jobs -p) 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
# `secretagent` is the binary given, as if installed.
mkdir "$dir/bin"
ln -s "$bin" "$dir/bin/secretagent"
PATH="$dir/bin:$PATH"
mkdir "$dir/spies"
cd "$dir/spies"

fail() {
    echo "docs/secure.sh: $*" >&2
    for t in terminal1 terminal2; do
        echo "--- $t:" >&2
        cat "$dir/$t.out" >&2 2>/dev/null || true
    done
    exit 1
}

# expect TERMINAL LINE: waits (up to 10 s) until TERMINAL has shown LINE, in which the text
# $port stands for the port.
expect() {
    local line=${2//\$port/$port}
    for _ in $(seq 100); do
        grep -qxF "$line" "$dir/$1.out" 2>/dev/null && return
        sleep 0.1
    done
    fail "$1 never showed $line"
}

# --- Keys, the trust file and the PSK.
secretagent keygen Ames >> mesh.trust
secretagent keygen Wolf >> mesh.trust
secretagent keygen Rosenberg >> mesh.trust
secretagent keygen --psk mesh.psk

[ "$(cut -d' ' -f1 mesh.trust | tr '\n' ' ')" = "Ames Wolf Rosenberg " ] ||
    fail "mesh.trust is not one line per agent: $(cat mesh.trust)"
for f in Ames.key Wolf.key Rosenberg.key mesh.psk; do
    [ "$(stat -c %a "$f")" = 600 ] || fail "$f has mode $(stat -c %a "$f"), not 600"
done
if secretagent keygen Ames >> mesh.trust 2>/dev/null; then
    fail "a second keygen Ames overwrote Ames.key"
fi
[ "$(wc -l < mesh.trust)" = 3 ] || fail "a refused keygen added to mesh.trust"

# --- Terminal 1: Wolf in the background (its stdin is not the terminal), Rosenberg in front.
mkfifo "$dir/rosenberg.in" "$dir/ames.in"
exec 3>&1 > "$dir/terminal1.out"
secretagent Wolf --key Wolf.key --trust mesh.trust --psk mesh.psk --listen 127.0.0.1:$port --trace-relays < /dev/null &
expect terminal1 '{"event":"listening","addr":"127.0.0.1:$port"}'
secretagent Rosenberg --key Rosenberg.key --trust mesh.trust --psk mesh.psk --connect 127.0.0.1:$port < "$dir/rosenberg.in" &
exec >&3 4> "$dir/rosenberg.in"
expect terminal1 '{"event":"meet","name":"Wolf"}'

# --- Terminal 2: Ames, who then types a message for Rosenberg.
secretagent Ames --key Ames.key --trust mesh.trust --psk mesh.psk --connect 127.0.0.1:$port < "$dir/ames.in" > "$dir/terminal2.out" &
exec 5> "$dir/ames.in"
expect terminal2 '{"event":"connecting","addr":"127.0.0.1:$port","number":0}'
expect terminal2 '{"event":"meet","name":"Wolf"}'
expect terminal2 '{"event":"meet","name":"Rosenberg"}'
echo '{"cmd":"send","to":"Rosenberg","msg":"meet at noon"}' >&5
expect terminal2 '{"event":"sent","to":"Rosenberg","id":0}'
expect terminal2 '{"event":"delivered","to":"Rosenberg","id":0}'

# Terminal 1 shows Wolf relaying it and Rosenberg receiving it.
expect terminal1 '{"event":"relayed","from":"Ames","to":"Rosenberg","prev":"Ames","next":"Rosenberg"}'
expect terminal1 '{"event":"message","from":"Ames","to":"Rosenberg","via":"Wolf","msg":"meet at noon"}'
grep -q '"event":"error"' "$dir/terminal1.out" "$dir/terminal2.out" && fail "an agent printed an error"

# --- The end: quit in each terminal, and Wolf's job is stopped.
echo '{"cmd":"quit"}' >&5
expect terminal2 '{"event":"quit","unconfirmed":0}'
echo '{"cmd":"quit"}' >&4
expect terminal1 '{"event":"quit","unconfirmed":0}'
kill %1
echo ok
