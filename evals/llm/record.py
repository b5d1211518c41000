"""A recording proxy for an OpenAI-compatible server: every exchange becomes a cassette line.

    python3 evals/llm/record.py --listen 8766 --upstream http://127.0.0.1:8765 --out FILE.jsonl

Each request is forwarded unchanged; the request body, the status and the response body are
appended to FILE as one JSON line ({"request": ..., "status": ..., "response": ...}), in the
order they happened. `cargo test` replays these files (tests/it/cassettes.rs) so CI exercises
a real model's answers -- malformed ones included -- without building or running the model.
Standard library only.
"""
import argparse
import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    class Proxy(BaseHTTPRequestHandler):
        def do_GET(self):
            self._forward("GET", None)

        def do_POST(self):
            self._forward("POST", self.rfile.read(int(self.headers.get("Content-Length", "0"))))

        def _forward(self, method, body):
            request = urllib.request.Request(
                args.upstream.rstrip("/") + self.path,
                data=body,
                headers={"Content-Type": "application/json"},
                method=method,
            )
            try:
                with urllib.request.urlopen(request, timeout=600) as answer:
                    status, payload = answer.status, answer.read()
            except urllib.error.HTTPError as err:
                status, payload = err.code, err.read()
            except OSError as err:
                status, payload = 502, json.dumps({"error": {"message": str(err)}}).encode()
            line = {
                "method": method,
                "path": self.path,
                "request": json.loads(body or b"null"),
                "status": status,
                "response": _json_or_text(payload),
            }
            with LOCK, open(args.out, "a", encoding="utf-8") as out:
                out.write(json.dumps(line, sort_keys=True) + "\n")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_):
            pass

    ThreadingHTTPServer(("127.0.0.1", args.listen), Proxy).serve_forever()


def _json_or_text(payload):
    try:
        return json.loads(payload)
    except ValueError:
        return payload.decode("utf-8", "replace")


if __name__ == "__main__":
    main()
