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
# Needs: tcpdump, golang-go, curl, python3, iproute2 (ss, ip netns), nftables, ethtool; dumpcap (tshark) for pcapng.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fixtures=${FIXTURES_DIR:-$(dirname "$here")}   # FIXTURES_DIR: record elsewhere (to try the script)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

for tool in tcpdump go curl python3; do
  command -v "$tool" >/dev/null || { echo "record.sh: needs $tool (apt-get install tcpdump golang-go curl python3)" >&2; exit 1; }
done
(cd "$here" && go build -o "$work/server" server.go && go build -o "$work/client" client.go)

# start_server ADDR [SERVER-FLAGS...] -> sets server_pid; waits until it listens
start_server() {
  local addr=$1; shift
  echo '[]' > "$work/server-truth.json"
  "$work/server" -addr "$addr" -truth "$work/server-truth.json" "$@" > "$work/server.out" 2>&1 &
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

# snapshot_time_wait PORT: the kernel's own TIME_WAIT sockets on the port, now.
snapshot_time_wait() {
  ss -tanH state time-wait | awk -v p=":$1" '$(NF-1) ~ p"$" || $NF ~ p"$" {printf "%s %s\n", $(NF-1), $NF}' > "$work/tw.txt"
}

stop_all() {
  # Let the last ACKs reach the capture (TPACKET_V3 hands packets over in blocks).
  sleep 1.2
  kill -INT "$capture_pid"; wait "$capture_pid" || true
  if [ -n "${server_pid:-}" ]; then kill -TERM "$server_pid"; wait "$server_pid" || true; fi
  server_pid=
  # A fixture with kernel drops would not match its truth: refuse it.
  if grep -E '^[1-9][0-9]* packets dropped|dropped: [1-9]' "$work/cap.err"; then
    echo "record.sh: the kernel dropped packets; fixture rejected" >&2; exit 1
  fi
}

# write_truth NAME FILE DESCRIPTION SERVER_IP SERVER_PORT LINK PRECISION CLIENT_JSON
write_truth() {
  [ -f "$work/tw.txt" ] || : > "$work/tw.txt"
  [ -f "$work/extra.json" ] || echo '{}' > "$work/extra.json"
  python3 - "$@" "$work/server-truth.json" "$work/tw.txt" "$work/extra.json" <<'PY'
import json, subprocess, sys
name, capfile, description, ip, port, link, precision, client_json, server_json, tw_txt, extra_json = sys.argv[1:12]
client = json.load(open(client_json))
server = json.load(open(server_json))
# The kernel's TIME_WAIT sockets right after the client ran (ss -tan), unless the client took its own.
time_wait = client.pop("time_wait_sockets", None)
if time_wait is None:
    time_wait = [{"local": l.split()[0], "peer": l.split()[1]} for l in open(tw_txt) if l.strip()]
packets = len(subprocess.run(["tcpdump", "-nr", capfile], capture_output=True, text=True).stdout.splitlines())
# A connection is a distinct local port, or the client's own connection number
# where it gives one (the same port can carry two connections: port reuse).
conns = []
for r in client["requests"]:
    key = (r.get("connection"), r["local_port"])
    if key not in conns:
        conns.append(key)
ports = [p for _, p in conns]
per_conn = {str(p): sum(1 for r in client["requests"] if r["local_port"] == p) for p in dict.fromkeys(ports)}
truth = {
    "scenario": name,
    "description": description,
    "capture": {"file": capfile.split("/")[-1], "link_type": link, "packets": packets,
                "timestamp_precision": precision},
    "server": {"ip": ip, "port": int(port)},
    "client_view": client,
    "server_view": server,
    "ss_time_wait": time_wait,
    "expected": {"connections": len(conns), "client_ports": sorted(ports),
                 "requests_per_connection": per_conn},
}
truth.update(json.load(open(extra_json)))   # scenario facts, e.g. how many segments nftables dropped
json.dump(truth, open(capfile.rsplit(".", 1)[0] + ".truth.json", "w"), indent=2)
open(capfile.rsplit(".", 1)[0] + ".truth.json", "a").write("\n")
print(f"{name}: {packets} packets, {len(conns)} connections")
PY
}

# begin_scenario NAME KIND HOST PORT [SERVER-FLAGS... | none]: starts the
# server (unless "none") and the capture; sets capfile and base (the URL).
begin_scenario() {
  local name=$1 kind=$2 host=$3 port=$4 ext=pcap
  shift 4
  [ "$kind" = pcapng ] && ext=pcapng
  local addr=$host:$port url_host=$host
  [[ $host == *:* ]] && { addr="[$host]:$port"; url_host="[$host]"; }
  capfile="$fixtures/$name.$ext"
  base="http://$url_host:$port"
  rm -f "$work/tw.txt" "$work/extra.json"
  if [ "${1:-}" = none ]; then echo '[]' > "$work/server-truth.json"; else start_server "$addr" "$@"; fi
  start_capture "$kind" "$capfile" "tcp port $port"
}

# go_lifecycle NAME PORT CLIENT-SCENARIO DESCRIPTION [SERVER-FLAGS...]
go_lifecycle() {
  local name=$1 port=$2 scenario=$3 description=$4
  shift 4
  begin_scenario "$name" lo 127.0.0.1 "$port" "$@"
  "$work/client" -scenario "$scenario" -base "$base" -truth "$work/client.json"
  snapshot_time_wait "$port"
  stop_all
  write_truth "$name" "$capfile" "$description" 127.0.0.1 "$port" lo micro "$work/client.json"
}

# py_lifecycle NAME PORT SCENARIO DESCRIPTION [none]: lifecycle.py's raw-socket clients.
py_lifecycle() {
  local name=$1 port=$2 scenario=$3 description=$4
  shift 4
  begin_scenario "$name" lo 127.0.0.1 "$port" "$@"
  python3 "$here/lifecycle.py" "$scenario" 127.0.0.1 "$port" > "$work/client.json"
  stop_all
  write_truth "$name" "$capfile" "$description" 127.0.0.1 "$port" lo micro "$work/client.json"
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

# curl_features NAME PORT: chunked, HEAD, keep-alive, HTTP/1.0, and a 200 KB POST
# with Expect: 100-continue, as one curl run (--next keeps its connection pool).
curl_features() {
  local name=$1 port=$2
  begin_scenario "$name" lo 127.0.0.1 "$port"
  head -c 204800 /dev/zero | tr '\0' 'p' > "$work/upload.bin"
  local w='%{num_connects} %{local_port} %{http_code}\n'
  curl -s -w "$w" -o /dev/null "$base/chunked" \
    --next -s -I -w "$w" -o /dev/null "$base/?size=400" \
    --next -s -w "$w" -o /dev/null "$base/?size=1000" \
    --next -s --http1.0 -w "$w" -o /dev/null "$base/?size=200" \
    --next -s -H 'Expect: 100-continue' --data-binary @"$work/upload.bin" -w "$w" -o /dev/null "$base/upload" > "$work/curl.out"
  stop_all
  python3 - "$work/curl.out" "$work/client.json" <<'PY'
import json, sys
reqs = []
phases = ["chunked", "head", "keep-alive", "http/1.0", "post-200KB-expect-100-continue"]
for n, line in enumerate([l for l in open(sys.argv[1]).read().split("\n") if l.strip()], 1):
    connects, port, code = line.split()
    reqs.append({"n": n, "phase": phases[n - 1], "local_port": int(port), "num_connects": int(connects), "status": int(code)})
json.dump({"client": "curl, 5 transfers chained with --next", "requests": reqs}, open(sys.argv[2], "w"))
PY
  write_truth "$name" "$capfile" "curl: chunked, HEAD, keep-alive, HTTP/1.0, 200 KB POST with Expect: 100-continue" \
    127.0.0.1 "$port" lo micro "$work/client.json"
}

# lossy NAME PORT: two network namespaces joined by a veth pair; nftables in the
# client's namespace drops every 10th data segment the server sends, at input
# (numgen inc: the same loss every run; `numgen random mod 100 < N` matched
# nothing here). The capture, on the client's interface, sees a packet before
# netfilter drops it, so it holds each lost segment and TCP's retransmission of
# it. (Drops on the sender's side, at OUTPUT or the device's egress hook, come
# back to TCP as local errors it retries: no loss at all.) Segmentation offload
# is off so that a drop hits one MSS-sized segment. This kernel has no netem.
lossy() {
  local name=$1 port=$2
  rm -f "$work/extra.json" "$work/tw.txt"
  local a=psrecA b=psrecB
  ip netns del $a 2>/dev/null || true; ip netns del $b 2>/dev/null || true
  ip netns add $a; ip netns add $b
  ip link add psrecA0 type veth peer name psrecB0
  ip link set psrecA0 netns $a; ip link set psrecB0 netns $b
  ip -n $a addr add 10.99.0.1/24 dev psrecA0; ip -n $b addr add 10.99.0.2/24 dev psrecB0
  ip -n $a link set psrecA0 up; ip -n $b link set psrecB0 up; ip -n $a link set lo up; ip -n $b link set lo up
  # MSS-sized segments (no segmentation offload): a drop mid-response leaves a hole.
  ip netns exec $a ethtool -K psrecA0 tso off gso off >/dev/null
  ip netns exec $b nft add table inet loss
  ip netns exec $b nft add chain inet loss in "{ type filter hook input priority 0 ; }"
  ip netns exec $b nft add rule inet loss in tcp sport $port tcp flags '&' '(syn|fin|rst)' == 0 meta length '>' 200 \
    numgen inc mod 10 == 0 counter drop
  echo '[]' > "$work/server-truth.json"
  ip netns exec $a "$work/server" -addr "10.99.0.1:$port" -truth "$work/server-truth.json" > "$work/server.out" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do grep -q ready "$work/server.out" 2>/dev/null && break; sleep 0.05; done
  capfile="$fixtures/$name.pcap"
  ip netns exec $b tcpdump -i psrecB0 -s 262144 -B 32768 -U --immediate-mode -w "$capfile" "tcp port $port" 2> "$work/cap.err" &
  capture_pid=$!
  for _ in $(seq 100); do grep -q 'listening on' "$work/cap.err" 2>/dev/null && break; sleep 0.05; done
  sleep 0.3
  ip netns exec $b "$work/client" -scenario lossy -base "http://10.99.0.1:$port" -truth "$work/client.json"
  ip netns exec $b nft list table inet loss | grep -o 'counter packets [0-9]*' > "$work/drops.txt"
  stop_all
  ip netns del $a; ip netns del $b
  echo "{\"nftables_drops\": $(grep -o '[0-9]*' "$work/drops.txt" | head -1)}" > "$work/extra.json"
  echo "$name: nftables dropped $(cat "$work/drops.txt")"
  write_truth "$name" "$capfile" "Go client, 40 requests with 20 KB answers; every 10th server data segment dropped at the client's input (nftables), after the capture saw it" \
    10.99.0.1 "$port" lossy micro "$work/client.json"
}

# py_requests NAME PORT MODE DESCRIPTION: Python requests, with or without a Session.
py_requests() {
  local name=$1 port=$2 mode=$3 description=$4
  begin_scenario "$name" lo 127.0.0.1 "$port"
  python3 "$here/pyrequests.py" "$mode" "$base" > "$work/client.json"
  snapshot_time_wait "$port"
  stop_all
  write_truth "$name" "$capfile" "$description" 127.0.0.1 "$port" lo micro "$work/client.json"
}

scenarios=("$@")
[ ${#scenarios[@]} -eq 0 ] && scenarios=(go-default-pool go-default-pool-any curl-keepalive-nano curl-keepalive-ipv6 curl-keepalive-pcapng
  go-client-idle-timeout go-server-idle-timeout go-keepalive-disabled py-rst-linger py-refused py-simultaneous-close py-port-reuse
  http-pipelined http-websocket http-curl-features https-go-h2 http-lossy
  pool-go-default-c20 pool-go-maxidle10-c10 pool-go-undrained pool-go-new-transport pool-py-session pool-py-no-session
  pool-go-maxconns3-c10)
for s in "${scenarios[@]}"; do
  case $s in
    go-default-pool)       go_pool "$s" lo 127.0.0.1 18080 ;;
    go-default-pool-any)   go_pool "$s" any-sll2 127.0.0.1 18081 ;;
    curl-keepalive-nano)   curl_several "$s" lo-nano 127.0.0.1 18082 ;;
    curl-keepalive-ipv6)   curl_several "$s" lo ::1 18083 ;;
    curl-keepalive-pcapng) curl_several "$s" pcapng 127.0.0.1 18084 ;;
    go-client-idle-timeout) go_lifecycle "$s" 18085 client-idle-timeout \
      "Go client, IdleConnTimeout 500 ms: 2 requests on one connection, closed idle by the client; then one more on a new connection, closed idle too" ;;
    go-server-idle-timeout) go_lifecycle "$s" 18086 server-idle-timeout \
      "Go server IdleTimeout 500 ms: the server closes the idle connection; the next request opens another" \
      -idle-timeout 500ms ;;
    go-keepalive-disabled) go_lifecycle "$s" 18087 keepalive-disabled \
      "Go client DisableKeepAlives: 3 requests with Connection: close, 3 connections" ;;
    py-rst-linger) py_lifecycle "$s" 18088 rst-linger "Python socket: one request, then close() with SO_LINGER 0 (RST)" ;;
    py-refused) py_lifecycle "$s" 18089 refused "Python socket: connect to a port with no listener (RST, ECONNREFUSED)" none ;;
    py-simultaneous-close) py_lifecycle "$s" 18090 simultaneous \
      "Python sockets: both ends shut down while nftables drops FINs; the retransmitted FINs cross" none ;;
    py-port-reuse) py_lifecycle "$s" 18091 port-reuse \
      "Python socket: request and close (client TIME_WAIT), then reconnect from the same local port 1.5 s later" ;;
    http-pipelined) py_lifecycle "$s" 18093 pipelined "Python socket: GET, HEAD, GET written in one segment (pipelining)" ;;
    http-websocket) py_lifecycle "$s" 18094 websocket "Python socket: a WebSocket upgrade (101), one frame each way" ;;
    http-curl-features) curl_features "$s" 18095 ;;
    http-lossy) lossy "$s" 18097 ;;
    pool-go-default-c20) go_lifecycle "$s" 18100 default-c20 "Go DefaultTransport under 20 concurrent requests, three bursts" ;;
    pool-go-maxidle10-c10) go_lifecycle "$s" 18101 maxidle10-c10 "Go Transport MaxIdleConnsPerHost 10 under 10 concurrent requests, three bursts" ;;
    pool-go-maxconns3-c10) go_lifecycle "$s" 18106 maxconns3-c10 "Go Transport MaxConnsPerHost 3 under 10 concurrent requests, two bursts: requests queue" ;;
    pool-go-undrained) go_lifecycle "$s" 18102 undrained "Go client closing 200 KB response bodies without reading them, 5 requests" ;;
    pool-go-new-transport) go_lifecycle "$s" 18103 new-transport \
      "Go client with a new Transport per request (5), server IdleTimeout 1 s closes the abandoned idle connections" -idle-timeout 1s ;;
    pool-py-session) py_requests "$s" 18104 session "Python requests.Session: 5 GETs" ;;
    pool-py-no-session) py_requests "$s" 18105 no-session "Python requests.get without a Session: 5 GETs" ;;
    https-go-h2) go_lifecycle "$s" 18096 tls-h2 "Go client over TLS 1.2 (SNI poolscope.test), HTTP/2 by ALPN: 3 requests on one connection" -tls ;;
    *) echo "record.sh: unknown scenario $s" >&2; exit 2 ;;
  esac
done
