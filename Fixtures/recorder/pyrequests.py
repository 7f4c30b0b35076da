#!/usr/bin/env python3
"""pyrequests.py: Python `requests` clients for PoolScope's pool fixtures.

  session     one requests.Session: 5 GETs, the pool reuses one connection
  no-session  5 requests.get() calls: a new pool (and connection) each time

Prints {"client": ..., "requests": [{n, local_port, status, connection}]} on stdout.
usage: pyrequests.py MODE BASE_URL
"""
import json, sys, time
import requests

mode, base = sys.argv[1], sys.argv[2]
out = []


def local_port(response):
    # urllib3 keeps the socket on the connection; fall back to 0 if it is gone.
    try:
        return response.raw._connection.sock.getsockname()[1]
    except Exception:
        return 0


if mode == "session":
    with requests.Session() as s:
        for n in range(1, 6):
            r = s.get(f"{base}/?size=1000", stream=True)
            port = local_port(r)
            r.content
            out.append({"n": n, "phase": "session", "local_port": port, "status": r.status_code})
            time.sleep(0.1)
else:
    for n in range(1, 6):
        r = requests.get(f"{base}/?size=1000", stream=True)
        port = local_port(r)
        r.content
        r.close()
        out.append({"n": n, "phase": "no-session", "local_port": port, "status": r.status_code, "connection": n})
        time.sleep(0.1)
print(json.dumps({"client": f"python requests {requests.__version__}, {mode}", "requests": out}))
