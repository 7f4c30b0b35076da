#!/usr/bin/env bash
# bench/memory.sh (make bench-memory): issue 7's memory point, peak RSS on a 1 GB capture against
# a 100 MB one with the same concurrency (256 connections at once), from the same generator.
#
#   make bench-memory                  # 100,000 connections and a tenth of that
#   BENCH_CONNECTIONS=20000 make bench-memory
#
# Three pairs, each on one thread and on every core, best of BENCH_RUNS (default 3) runs:
#   default      genpcap's mix: 5% of connections left open, so the big capture ends with ten times
#                the open connections, and every close's 60 s TIME_WAIT is still running at its end
#                (both captures are shorter than 2·MSL): ten times the TIME_WAIT sockets too.
#   closed       every connection closes (-x 60:25:10:0): the same open connections at the peak.
#   closed, 2 s  the same with --time-wait 2: TIME_WAIT windows at their steady state in both,
#                so both hold the same live state. This is the pair the 10% is checked on.
#   clients      closed, --time-wait 2, with a client address per connection up to 65,000 (a
#                server's view): 10,000 pools against 65,000. Memory follows pools too; the
#                last column is what each further pool (with its client host) costs at the peak.
set -euo pipefail
. "$(dirname "$0")/common.sh"
runs=${BENCH_RUNS:-3}

build_generator_and_poolscope
for n in $small $big; do
  generate gen "$n"
  generate closed "$n" -x 60:25:10:0
  generate clients "$n" -x 60:25:10:0 -c 65000
done

# peak FILE ARGS...: the lowest peak RSS of $runs runs, in KiB.
peak() {
  local f=$1 best= kb; shift
  for _ in $(seq "$runs"); do
    /usr/bin/time -o "$dir/time.txt" -f "%M" "$poolscope" analyze "$dir/$f" -o /dev/null -q "$@" >/dev/null 2>&1
    kb=$(tail -1 "$dir/time.txt")
    if [ -z "$best" ] || [ "$kb" -lt "$best" ]; then best=$kb; fi
  done
  echo "$best"
}

printf "%-14s %-8s %14s %14s %9s\n" "pair" "threads" "100 MB, MiB" "1 GB, MiB" "1 GB over"
# pools FILE: how many pools the generator's truth file implies (a client per connection, up to -c).
pools() { python3 -c "import json, sys; t = json.load(open(sys.argv[1])); print(min(t['connections'], t['params']['clients']))" "$dir/$1.json"; }

for pair in default closed closed-2s clients; do
  case $pair in
    default) a=gen-$small.pcap; b=gen-$big.pcap; extra=() ;;
    closed) a=closed-$small.pcap; b=closed-$big.pcap; extra=() ;;
    closed-2s) a=closed-$small.pcap; b=closed-$big.pcap; extra=(--time-wait 2) ;;
    clients) a=clients-$small.pcap; b=clients-$big.pcap; extra=(--time-wait 2) ;;
  esac
  for t in 1 "$(nproc)"; do
    x=$(peak "$a" --threads "$t" "${extra[@]}"); y=$(peak "$b" --threads "$t" "${extra[@]}")
    perpool=""
    if [ "$pair" = clients ]; then perpool=$(python3 -c "import sys; print(f'  {(int(sys.argv[2]) - int(sys.argv[1])) * 1024 / (int(sys.argv[4]) - int(sys.argv[3])):.0f} B a pool ({sys.argv[3]} -> {sys.argv[4]} pools)')" "$x" "$y" "$(pools "$a")" "$(pools "$b")"); fi
    python3 -c "import sys; x, y = int(sys.argv[1]) / 1024, int(sys.argv[2]) / 1024; print(f'{sys.argv[3]:14} {sys.argv[4]:8} {x:14.1f} {y:14.1f} {100 * (y - x) / x:+8.1f}%{sys.argv[5]}')" "$x" "$y" "$pair" "$t" "$perpool"
  done
done
