"""An OpenAI-compatible chat endpoint that takes images (a local llava through ollama or vLLM, or
a hosted model) as the co-pilot's advisor.

Settings from the environment: ``BTEDGE_COPILOT_URL`` (the API base, e.g.
``http://127.0.0.1:11434/v1``), ``BTEDGE_COPILOT_MODEL`` and ``BTEDGE_COPILOT_API_KEY`` (optional;
sent as a bearer token, never logged or shown in ``repr``).
"""
from __future__ import annotations

import base64
import json
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from btedge.copilot.advice import Advice, AdviceError, parse_advice
from btedge.copilot.prompt import SYSTEM, build_prompt

log = logging.getLogger(__name__)


@dataclass
class ChatAdvisor:
    """Params: ``url`` (API base; ``/chat/completions`` is appended), ``model``, ``api_key``
    (hidden from repr), ``timeout`` seconds (default 10), ``max_tokens`` (default 200).

    ``advise`` raises :class:`AdviceError` for any failure (HTTP error, timeout, malformed
    reply); ``last_reply`` and ``last_prompt`` keep what was exchanged, for the advice journal.
    """

    url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 10.0
    max_tokens: int = 200
    name: str = "chat"
    last_prompt: str = field(default="", repr=False)
    last_reply: str = field(default="", repr=False)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **kw: Any) -> "ChatAdvisor":
        env = os.environ if env is None else env
        url, model = env.get("BTEDGE_COPILOT_URL", ""), env.get("BTEDGE_COPILOT_MODEL", "")
        if not url or not model:
            raise ValueError("the chat advisor needs BTEDGE_COPILOT_URL (API base, e.g. http://127.0.0.1:11434/v1) "
                             "and BTEDGE_COPILOT_MODEL in the environment")
        return cls(url, model, env.get("BTEDGE_COPILOT_API_KEY") or None, **kw)

    def request(self, png: bytes, prompt: str) -> urllib.request.Request:
        image = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        body = {"model": self.model, "max_tokens": self.max_tokens, "temperature": 0,
                "messages": [{"role": "system", "content": SYSTEM},
                             {"role": "user", "content": [{"type": "text", "text": prompt},
                                                          {"type": "image_url", "image_url": {"url": image}}]}]}
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return urllib.request.Request(self.url.rstrip("/") + "/chat/completions", data=json.dumps(body).encode(),
                                      headers=headers, method="POST")

    def advise(self, snapshot: Any, context: dict | None = None) -> Advice:
        self.last_prompt = prompt = build_prompt(context)
        self.last_reply = ""
        try:
            with urllib.request.urlopen(self.request(snapshot.png, prompt), timeout=self.timeout) as reply:  # noqa: S310
                payload = reply.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            raise AdviceError(f"chat endpoint answered HTTP {exc.code}") from None
        except (OSError, urllib.error.URLError) as exc:
            raise AdviceError(f"chat endpoint unreachable or slow: {getattr(exc, 'reason', exc)}") from None
        self.last_reply = payload
        try:
            content = json.loads(payload)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise AdviceError(f"not a chat completion: {payload[:80]!r}") from None
        if isinstance(content, list):  # content parts
            content = " ".join(part.get("text", "") for part in content if isinstance(part, dict))
        return parse_advice(content)
