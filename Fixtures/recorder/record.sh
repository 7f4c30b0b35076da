#!/usr/bin/env bash
# record.sh: records PoolScope's fixture captures from real clients on loopback.
#
#   Fixtures/recorder/record.sh [SCENARIO...]     (default: all; needs root)
#
# Each scenario starts server.go (which counts every connection's payload
# bytes and requests itself), starts tcpdump (or dumpcap for pcapng) on
# loopback, runs a real client (client.go with net/http/httptrace, or curl
# with -w '%{num_connects} %{local_port}'), stops the capture, and writes
# Fixtures/NAME.pcap[ng] and Fixtures/NAME.truth.json: the client's view, the
# server's view, and the capture's packet count as tcpdump reads it back.
# tcpdump runs with --immediate-mode: without it, packets still in the kernel's
# ring when it is stopped are lost ("20 received by filter, 0 captured"); and
# with a 32 MiB buffer (-B): with the default, -i any dropped packets here.
# Needs: tcpdump, golang-go, curl, python3; dumpcap (tshark) for pcapng.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fixtures=${FIXTURES_DIR:-$(dirname "$here")}   # FIXTURES_DIR: record elsewhere (to try the script)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

for tool in tcpdump go curl python3; do
  command -v "$tool" >/dev/null || { echo "record.sh: needs $tool (apt-get install tcpdump golang-go curl python3)" >&2; exit 1; }
done
(cd "$here" && go build -o "$work/server" server.go && go build -o "$work/client" client.go)

# start_server ADDR -> sets server_pid; waits until it listens
start_server() {
  "$work/server" -addr "$1" -truth "$work/server-truth.json" > "$work/server.out" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do grep -q ready "$work/server.out" 2>/dev/null && return; sleep 0.05; done
  echo "record.sh: server did not start" >&2; exit 1
}

# start_capture KIND OUT FILTER: KIND is lo | lo-nano | any-sll2 | pcapng
start_capture() {
  local kind=$1 out=$2 filter=$3
  case $kind in
    lo)       tcpdump -i lo -s 262144 -B 32768 -U --immediate-mode -w "$out" "$filter" 2> "$work/cap.err" & ;;
    lo-nano)  tcpdump -i lo -s 262144 -B 32768 -U --immediate-mode --time-stamp-precision=nano -w "$out" "$filter" 2> "$work/cap.err" & ;;
    any-sll2) tcpdump -i any -y LINUX_SLL2 -s 262144 -B 32768 -U --immediate-mode -w "$out" "$filter" 2> "$work/cap.err" & ;;
    pcapng)   dumpcap -i lo -s 262144 -f "$filter" -w "$out" 2> "$work/cap.err" & ;;
  esac
  capture_pid=$!
  for _ in $(seq 100); do grep -qiE 'listening on|capturing on' "$work/cap.err" 2>/dev/null && { sleep 0.2; return; }; sleep 0.05; done
  echo "record.sh: capture did not start: $(cat "$work/cap.err")" >&2; exit 1
}

stop_all() {
  # Let the last ACKs reach the capture (TPACKET_V3 hands packets over in blocks).
  sleep 1.2
  kill -INT "$capture_pid"; wait "$capture_pid" || true
  kill -TERM "$server_pid"; wait "$server_pid" || true
  # A fixture with kernel drops would not match its truth: refuse it.
  if grep -E '^[1-9][0-9]* packets dropped|dropped: [1-9]' "$work/cap.err"; then
    echo "record.sh: the kernel dropped packets; fixture rejected" >&2; exit 1
  fi
}

# write_truth NAME FILE DESCRIPTION SERVER_IP SERVER_PORT LINK PRECISION CLIENT_JSON
write_truth() {
  python3 - "$@" "$work/server-truth.json" <<'PY'
import json, subprocess, sys
name, capfile, description, ip, port, link, precision, client_json, server_json = sys.argv[1:10]
client = json.load(open(client_json))
server = json.load(open(server_json))
packets = len(subprocess.run(["tcpdump", "-nr", capfile], capture_output=True, text=True).stdout.splitlines())
ports = []
for r in client["requests"]:
    if r["local_port"] not in ports:
        ports.append(r["local_port"])
per_conn = {str(p): sum(1 for r in client["requests"] if r["local_port"] == p) for p in ports}
truth = {
    "scenario": name,
    "description": description,
    "capture": {"file": capfile.split("/")[-1], "link_type": link, "packets": packets,
                "timestamp_precision": precision},
    "server": {"ip": ip, "port": int(port)},
    "client_view": client,
    "server_view": server,
    "expected": {"connections": len(ports), "client_ports": sorted(ports),
                 "requests_per_connection": per_conn},
}
json.dump(truth, open(capfile.rsplit(".", 1)[0] + ".truth.json", "w"), indent=2)
open(capfile.rsplit(".", 1)[0] + ".truth.json", "a").write("\n")
print(f"{name}: {packets} packets, {len(ports)} connections")
PY
}

# begin_scenario NAME KIND HOST PORT: starts the server and the capture; sets
# capfile (the fixture's path) and base (the server's URL).
begin_scenario() {
  local name=$1 kind=$2 host=$3 port=$4 ext=pcap
  [ "$kind" = pcapng ] && ext=pcapng
  local addr=$host:$port url_host=$host
  [[ $host == *:* ]] && { addr="[$host]:$port"; url_host="[$host]"; }
  capfile="$fixtures/$name.$ext"
  base="http://$url_host:$port"
  start_server "$addr"
  start_capture "$kind" "$capfile" "tcp port $port"
}

# go_pool NAME KIND HOST PORT: the problem statement's Go default-Transport run.
go_pool() {
  local name=$1 kind=$2 host=$3 port=$4
  begin_scenario "$@"
  "$work/client" -scenario default-pool -base "$base" -truth "$work/client.json"
  stop_all
  write_truth "$name" "$capfile" \
    "Go net/http DefaultTransport: 3 concurrent GETs, pause, 3 concurrent, 5 sequential, CloseIdleConnections" \
    "$host" "$port" "$kind" "$([ "$kind" = lo-nano ] && echo nano || echo micro)" "$work/client.json"
}

# curl_several NAME KIND HOST PORT: one curl invocation, several URLs (one connection reused).
curl_several() {
  local name=$1 kind=$2 host=$3 port=$4
  begin_scenario "$@"
  curl -sg -w '%{num_connects} %{local_port} %{http_code}\n' \
    -o /dev/null "$base/?size=100" -o /dev/null "$base/?size=2000" -o /dev/null "$base/?size=30000" \
    -o /dev/null "$base/?size=0" > "$work/curl.out"
  stop_all
  python3 - "$work/curl.out" "$work/client.json" <<'PY'
import json, sys
reqs = []
for n, line in enumerate(open(sys.argv[1]).read().split("\n"), 1):
    if not line.strip():
        continue
    connects, port, code = line.split()
    reqs.append({"n": n, "phase": "sequential", "local_port": int(port),
                 "num_connects": int(connects), "status": int(code)})
json.dump({"client": "curl, 4 URLs on one command line", "requests": reqs}, open(sys.argv[2], "w"))
PY
  write_truth "$name" "$capfile" "curl with 4 URLs in one invocation (keep-alive reuse)" \
    "$host" "$port" "$kind" "$([ "$kind" = lo-nano ] && echo nano || echo micro)" "$work/client.json"
}

scenarios=("$@")
[ ${#scenarios[@]} -eq 0 ] && scenarios=(go-default-pool go-default-pool-any curl-keepalive-nano curl-keepalive-ipv6 curl-keepalive-pcapng)
for s in "${scenarios[@]}"; do
  case $s in
    go-default-pool)       go_pool "$s" lo 127.0.0.1 18080 ;;
    go-default-pool-any)   go_pool "$s" any-sll2 127.0.0.1 18081 ;;
    curl-keepalive-nano)   curl_several "$s" lo-nano 127.0.0.1 18082 ;;
    curl-keepalive-ipv6)   curl_several "$s" lo ::1 18083 ;;
    curl-keepalive-pcapng) curl_several "$s" pcapng 127.0.0.1 18084 ;;
    *) echo "record.sh: unknown scenario $s" >&2; exit 2 ;;
  esac
done
