"""A local HTTP server on 127.0.0.1 that replays recorded Overpass and Nominatim answers."""

from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

REPLAY = Path(__file__).resolve().parent / "data" / "replay"


class ReplayServer:
    """Serves ``/nominatim/search`` and ``/api/interpreter``; remembers every request it got."""

    def __init__(self):
        self.requests: list[tuple[str, str, str]] = []  # (method, path, query or body)
        with gzip.open(REPLAY / "overpass_tongji.json.gz", "rb") as fh:
            overpass = fh.read()
        nominatim = (REPLAY / "nominatim_siping.json").read_bytes()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, body: bytes, status: int = 200) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                url = urlparse(self.path)
                outer.requests.append(("GET", url.path, url.query))
                if url.path.rstrip("/").endswith("/search"):
                    q = parse_qs(url.query).get("q", [""])[0]
                    return self._answer(nominatim if "四平" in q or "Siping" in q else b"[]")
                return self._answer(b'{"error": "not recorded"}', 404)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode("utf-8", "replace")
                outer.requests.append(("POST", self.path, body))
                if self.path.rstrip("/").endswith("/interpreter"):
                    return self._answer(overpass)
                return self._answer(b'{"error": "not recorded"}', 404)

            def log_message(self, *args):  # keep test output quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
