# bench/common.sh: what make bench (run.sh) and make bench-memory (memory.sh) share; sourced.
# The captures go in $BENCH_DIR (default /tmp/poolscope-bench), never in the repository:
# BENCH_CONNECTIONS (default 100,000, about 1 GB) and a tenth of that.
here=$(cd "$(dirname "$0")/.." && pwd)
tools="$here/../shared/tools"
dir=${BENCH_DIR:-/tmp/poolscope-bench}
big=${BENCH_CONNECTIONS:-100000}
small=$((big / 10))
mkdir -p "$dir"

# Builds the generator, and PoolScope with `make release` (release, the Swift runtime
# linked in: the binary to install); sets $poolscope to the path it prints last.
build_generator_and_poolscope() {
  [ -f "$tools/genpcap.c" ] || { echo "bench: ../shared/tools/genpcap.c is needed" >&2; exit 1; }
  cc -O2 -Wall -o "$dir/genpcap" "$tools/genpcap.c" -lm
  poolscope=$(make -s -C "$here" release | tail -n 1)
  [ -x "$poolscope" ] || { echo "bench: make release gave no binary" >&2; exit 1; }
}

# generate NAME N [genpcap options]: $dir/NAME-N.pcap, 256 connections at once, with its truth
# in $dir/NAME-N.pcap.json; kept between runs (the generator is deterministic).
generate() {
  local name=$1 n=$2; shift 2
  local f="$dir/$name-$n.pcap"
  [ -f "$f" ] && [ -f "$f.json" ] || "$dir/genpcap" -o "$f" -n "$n" -j 256 -t "$f.json" "$@" 2>/dev/null
}
