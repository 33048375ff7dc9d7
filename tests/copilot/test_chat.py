"""The OpenAI-compatible chat advisor against a local fake endpoint: canned, malformed, slow, 500."""
from __future__ import annotations

import base64
import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from btedge.copilot.advice import AdviceError
from btedge.copilot.chat import ChatAdvisor
from btedge.copilot.snapshot import render
from btedge.feeds import sample_data

KEY = "sk-test-SECRET-123"


class _Endpoint(BaseHTTPRequestHandler):
    mode = "canned"
    seen: list = []

    def do_POST(self) -> None:  # noqa: N802 (http.server API)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append((self.path, dict(self.headers), body))
        if self.mode == "slow":
            time.sleep(1.0)
        if self.mode == "500":
            self.send_error(500, "boom")
            return
        content = {"canned": 'Breakout. {"stance": "long", "confidence": 0.82, "rationale": "above resistance"}',
                   "malformed": "I would buy, probably.", "slow": '{"stance": "long", "confidence": 0.9}',
                   "parts": [{"type": "text", "text": '{"stance": "short", "confidence": 0.7}'}]}.get(self.mode)
        payload = (json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]})
                   if self.mode != "garbage" else "<html>not json</html>").encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        try:
            self.wfile.write(payload)
        except BrokenPipeError:  # the client gave up (the slow case)
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def endpoint(monkeypatch):
    monkeypatch.setattr(_Endpoint, "seen", [])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Endpoint)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def snapshot():
    return render(sample_data().iloc[:160], "BTC-USD", last=60)


def _advisor(url, **kw):  # type: ignore[no-untyped-def]
    return ChatAdvisor.from_env({"BTEDGE_COPILOT_URL": url, "BTEDGE_COPILOT_MODEL": "llava",
                                 "BTEDGE_COPILOT_API_KEY": KEY}, **kw)


def test_canned_reply_and_the_request(endpoint, snapshot, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(_Endpoint, "mode", "canned")
    advisor = _advisor(endpoint)
    advice = advisor.advise(snapshot, {"symbol": "BTC-USD", "wants": "a long entry"})
    assert (advice.stance, advice.confidence) == ("long", 0.82)
    path, headers, body = _Endpoint.seen[0]
    assert path == "/v1/chat/completions" and headers["Authorization"] == f"Bearer {KEY}"
    assert body["model"] == "llava" and body["temperature"] == 0
    image = body["messages"][1]["content"][1]["image_url"]["url"]
    assert base64.b64decode(image.split(",", 1)[1]) == snapshot.png
    assert "a long entry" in body["messages"][1]["content"][0]["text"]
    assert KEY not in repr(advisor) and KEY not in caplog.text


def test_content_parts_are_read(endpoint, snapshot, monkeypatch):
    monkeypatch.setattr(_Endpoint, "mode", "parts")
    assert _advisor(endpoint).advise(snapshot).stance == "short"


@pytest.mark.parametrize("mode, message", [("malformed", "no JSON object"), ("500", "HTTP 500"),
                                           ("garbage", "not a chat completion"), ("slow", "slow")])
def test_bad_replies_raise(endpoint, snapshot, monkeypatch, mode, message):
    monkeypatch.setattr(_Endpoint, "mode", mode)
    start = time.monotonic()
    with pytest.raises(AdviceError, match=message) as caught:
        _advisor(endpoint, timeout=0.3).advise(snapshot)
    assert time.monotonic() - start < 0.9
    assert KEY not in str(caught.value)


def test_unreachable_endpoint(snapshot):
    with pytest.raises(AdviceError, match="unreachable"):
        _advisor("http://127.0.0.1:9/v1", timeout=0.5).advise(snapshot)


def test_settings_missing():
    with pytest.raises(ValueError, match="BTEDGE_COPILOT_URL"):
        ChatAdvisor.from_env({})
