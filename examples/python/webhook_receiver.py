"""A tiny webhook receiver that verifies hangtight's signed deliveries
(Standard Webhooks), standard library only.  Used by the two examples here.

    with Receiver(secret) as rx:          # listens on 127.0.0.1, a free port
        submit(..., callback_url=rx.url)
        event = rx.wait(30)               # the verified delivery, or raises
"""
import base64
import hashlib
import hmac
import json
import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def verify(secret: str, headers: dict, body: bytes, tolerance_s=300) -> bool:
    """README "Verifying a delivery": headers with lower-case names, body raw."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    msg_id, ts = headers.get("webhook-id"), headers.get("webhook-timestamp")
    sigs = headers.get("webhook-signature")
    if not (msg_id and ts and sigs) or abs(time.time() - int(ts)) > tolerance_s:
        return False
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    expected = base64.b64encode(mac).decode()
    return any(s.startswith("v1,") and hmac.compare_digest(s[3:], expected) for s in sigs.split(" "))


class Receiver:
    def __init__(self, secret: str, host="127.0.0.1", callback_host=None):
        self.events = queue.Queue()
        events = self.events

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                ok = verify(secret, headers, body)
                # 2xx = delivered; a 4xx would make the worker retry.
                self.send_response(204 if ok else 400)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if ok:
                    events.put((headers["webhook-id"], json.loads(body)))

        self.server = ThreadingHTTPServer((host, 0), Handler)
        port = self.server.server_address[1]
        self.url = f"http://{callback_host or host}:{port}/hangtight"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def wait(self, timeout_s):
        """(webhook-id, event) of the first verified delivery."""
        try:
            return self.events.get(timeout=timeout_s)
        except queue.Empty:
            raise TimeoutError(f"no valid webhook within {timeout_s} s") from None
