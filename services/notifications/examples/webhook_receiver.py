"""A partner's webhook receiver that trusts nothing it cannot verify (Standard Webhooks).

    pip install standardwebhooks
    WEBHOOK_SECRET=whsec_... python webhook_receiver.py --port 8000

Each verified event is written to stdout as one JSON line; anything else gets 400.
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

webhook = Webhook(os.environ["WEBHOOK_SECRET"])  # the secret shown when your endpoint was created
seen: set[str] = set()


class Receiver(BaseHTTPRequestHandler):
    """Verify on the raw body bytes first, then de-duplicate on `webhook-id`, answer fast."""

    def do_POST(self) -> None:
        raw_body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            event = webhook.verify(raw_body, headers)  # signature and timestamp (5 min)
        except WebhookVerificationError:
            self.send_response(400)
            self.end_headers()
            return
        if headers["webhook-id"] not in seen:  # a retry reuses the id
            seen.add(headers["webhook-id"])
            sys.stdout.write(json.dumps(event) + "\n")  # hand it to your own queue here
            sys.stdout.flush()
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Keep request lines out of the output."""


if __name__ == "__main__":
    port = int(sys.argv[sys.argv.index("--port") + 1]) if "--port" in sys.argv else 8000
    ThreadingHTTPServer(("127.0.0.1", port), Receiver).serve_forever()
