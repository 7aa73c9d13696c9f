# A fault-injecting proxy for the --server tests (test_server.sh): a MOCK,
# named as such, for faults a real server cannot be made to produce on
# demand. It forwards every request to a real `spex serve` behind it and,
# for the POST /v1/completions requests, takes the next word of the faults
# file (one per line; none left = "ok"):
#   ok     forward as is
#   503    answer 503 with Retry-After: 0 (the client must retry)
#   cut    forward, but send only the first half of the reply body
#   drop   close the connection without a reply
#   ids    forward, with the second prompt token id of each choice changed
#   slow   forward after 0.1 s (a slow server; with the backend gone the
#          connection is closed without a reply)
# Every request is logged as "PATH FAULT" to LOG.
# Usage: python3 fault_proxy.py BACKEND_PORT PORT_FILE FAULTS LOG
import http.server
import json
import socket
import sys
import threading
import time
import urllib.request

backend, port_file, faults_path, log_path = sys.argv[1:5]


lock = threading.Lock()  # requests run in threads: one fault each


def next_fault():
    with lock:
        return take_fault()


def take_fault():
    try:
        lines = open(faults_path).read().split()
    except OSError:
        return "ok"
    if not lines:
        return "ok"
    open(faults_path, "w").write("\n".join(lines[1:]))
    return lines[0]


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def forward(self, body):
        req = urllib.request.Request(f"http://127.0.0.1:{backend}{self.path}", body,
                                     {"Content-Type": "application/json"},
                                     method=self.command)
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def reply(self, status, data, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        fault = next_fault() if self.path == "/v1/completions" else "ok"
        with lock, open(log_path, "a") as log:
            log.write(f"{self.path} {fault}\n")
        if fault == "503":
            return self.reply(503, b'{"error":{"message":"busy"}}', [("Retry-After", "0")])
        if fault == "drop":
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        if fault == "slow":
            time.sleep(0.1)
        try:
            status, data = self.forward(body)
        except OSError:  # the backend is gone
            self.close_connection = True
            return
        if fault == "cut":
            half = data[: len(data) // 2]
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(half)
            self.close_connection = True
            return
        if fault == "ids" and status == 200:
            o = json.loads(data)
            for c in o.get("choices", []):
                if len(c.get("prompt_token_ids") or []) > 1:
                    c["prompt_token_ids"][1] += 1
            data = json.dumps(o).encode()
        self.reply(status, data)

    do_GET = handle_any
    do_POST = handle_any


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
open(port_file, "w").write(str(srv.server_address[1]))
srv.serve_forever()
