#!/usr/bin/env python3
"""lifecycle.py: raw-socket clients for PoolScope's lifecycle fixtures.

Each scenario prints its own view (local ports, what it did) as JSON on
stdout, in the shape record.sh expects ({"client": ..., "requests": [...]}).

  rst-linger   request, read the response, close() with SO_LINGER {1, 0}: a RST
  refused      connect to a port nobody listens on, from a chosen local port
  simultaneous both ends shutdown(SHUT_WR) while an nftables rule drops FINs,
               then the rule goes and the retransmitted FINs cross
  port-reuse   request and close (client TIME_WAIT), then connect again from
               the same local port 1.5 s later (Linux tcp_tw_reuse=2 on loopback)

usage: lifecycle.py SCENARIO HOST PORT
"""
import json, socket, struct, subprocess, sys, time

scenario, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
family = socket.AF_INET6 if ":" in host else socket.AF_INET
requests = []
connections = 0


def request(sock, n, phase, size=500):
    sock.sendall(f"GET /?size={size} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, body = data.split(b"\r\n\r\n", 1)
    length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0].split(b":")[1])
    while len(body) < length:
        body += sock.recv(65536)
    status = int(head.split(b" ")[1])
    requests.append({"n": n, "phase": phase, "local_port": sock.getsockname()[1], "status": status,
                     "connection": connections})


def connect(local_port=0, reuse=False):
    global connections
    connections += 1
    s = socket.socket(family, socket.SOCK_STREAM)
    if reuse:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if local_port:
        s.bind((host, local_port))
    s.connect((host, port))
    return s


def ss_time_wait():
    out = subprocess.run(["ss", "-tanH", "state", "time-wait"], capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 4 and (parts[-2].endswith(f":{port}") or parts[-1].endswith(f":{port}")):
            rows.append({"local": parts[-2], "peer": parts[-1]})
    return rows


extra = {}
if scenario == "rst-linger":
    s = connect()
    request(s, 1, "then-linger-0-close")
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    time.sleep(0.3)
elif scenario == "pipelined":
    # Three requests written at once (one segment), then the three responses in order.
    s = connect()
    batch = "".join(f"{m} /?size={n} HTTP/1.1\r\nHost: {host}\r\n\r\n" for m, n in (("GET", 300), ("HEAD", 400), ("GET", 500)))
    s.sendall(batch.encode())
    data = b""
    deadline = time.time() + 5
    while data.count(b"HTTP/1.1 200") < 3 and time.time() < deadline:
        data += s.recv(65536)
    for n in (1, 2, 3):
        requests.append({"n": n, "phase": "pipelined", "local_port": s.getsockname()[1], "status": 200, "connection": connections})
    time.sleep(0.1)
    s.close()
elif scenario == "websocket":
    s = connect()
    s.sendall(f"GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    data = b""
    while b"hello" not in data:
        data += s.recv(4096)
    s.sendall(bytes([0x81, 0x82, 0, 0, 0, 0]) + b"hi")   # a masked text frame "hi"
    requests.append({"n": 1, "phase": "upgrade", "local_port": s.getsockname()[1], "status": 101, "connection": connections})
    time.sleep(0.1)
    s.close()
elif scenario == "refused":
    s = socket.socket(family, socket.SOCK_STREAM)
    s.bind((host, 0))
    local = s.getsockname()[1]
    try:
        s.connect((host, port))
        extra["error"] = "connected"
    except ConnectionRefusedError as e:
        extra["error"] = "ECONNREFUSED"
    requests.append({"n": 1, "phase": "connect", "local_port": local, "status": 0})
    s.close()
elif scenario == "simultaneous":
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(1)
    c = connect()
    a, _ = listener.accept()
    c.sendall(b"ping")
    a.recv(16)
    a.sendall(b"pong")
    c.recv(16)
    requests.append({"n": 1, "phase": "ping-pong", "local_port": c.getsockname()[1], "status": 0})
    table = "poolscope_recorder"
    subprocess.run(["nft", "delete", "table", "inet", table], capture_output=True)
    subprocess.run(["nft", "add", "table", "inet", table], check=True)
    subprocess.run(["nft", "add", "chain", "inet", table, "in", "{ type filter hook input priority 0 ; }"], check=True)
    for direction in ("dport", "sport"):
        subprocess.run(["nft", f"add rule inet {table} in tcp {direction} {port} tcp flags & fin == fin drop"], check=True)
    c.shutdown(socket.SHUT_WR)
    a.shutdown(socket.SHUT_WR)
    time.sleep(0.1)
    subprocess.run(["nft", "delete", "table", "inet", table], check=True)
    time.sleep(1.5)   # the FINs are retransmitted and cross
    extra["time_wait_sockets"] = ss_time_wait()
    c.close()
    a.close()
    listener.close()
elif scenario == "port-reuse":
    # SO_REUSEADDR on both sockets: the TIME_WAIT socket keeps the first one's flag.
    s = connect(reuse=True)
    local = s.getsockname()[1]
    request(s, 1, "first")
    s.close()
    time.sleep(0.2)
    extra["time_wait_sockets"] = ss_time_wait()
    time.sleep(1.5)
    s = connect(local, reuse=True)
    request(s, 2, "same-local-port-inside-time-wait")
    s.close()
else:
    sys.exit(f"unknown scenario {scenario}")

time.sleep(0.2)
if "time_wait_sockets" not in extra:
    extra["time_wait_sockets"] = ss_time_wait()
print(json.dumps({"client": f"python {scenario}", "requests": requests, **extra}))
