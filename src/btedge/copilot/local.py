"""A local vision-language model through ``transformers`` (LLaVA, BLIP-2, ...), offline, from a
folder the user gives (``save_pretrained`` output). Loads with ``local_files_only=True`` and
safetensors only (``use_safetensors=True``: no pickle), never downloads."""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from btedge.copilot.advice import Advice, AdviceError, parse_advice
from btedge.copilot.prompt import build_prompt


def transformers_available() -> bool:
    try:
        import transformers  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class TransformersAdvisor:
    """Params: ``path`` (a folder with the model's config, safetensors weights and processor),
    ``max_new_tokens`` (default 64). The model loads on first use."""

    path: str | Path
    max_new_tokens: int = 64
    name: str = "local"
    last_prompt: str = field(default="", repr=False)
    last_reply: str = field(default="", repr=False)
    _model: Any = field(default=None, repr=False)
    _processor: Any = field(default=None, repr=False)

    def load(self) -> None:
        if not transformers_available():
            raise AdviceError("the local advisor needs transformers: pip install 'btedge[copilot]'")
        from transformers import AutoModelForImageTextToText, AutoProcessor

        path = Path(self.path)
        if not (path / "config.json").is_file():
            raise AdviceError(f"{path}: no config.json; give the folder a model's save_pretrained() wrote")
        self._processor = AutoProcessor.from_pretrained(path, local_files_only=True)
        self._model = AutoModelForImageTextToText.from_pretrained(path, local_files_only=True, use_safetensors=True)
        self._model.eval()

    def advise(self, snapshot: Any, context: dict | None = None) -> Advice:
        import torch
        from PIL import Image

        if self._model is None:
            self.load()
        self.last_prompt = prompt = build_prompt(context)
        image = Image.open(io.BytesIO(snapshot.png)).convert("RGB")
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
        try:
            text = self._processor.apply_chat_template(messages, add_generation_prompt=True)
        except (ValueError, AttributeError):  # no chat template: the processor's own image token
            text = f"{getattr(self._processor, 'image_token', '<image>')}\n{prompt}"
        inputs = self._processor(images=image, text=text, return_tensors="pt")
        with torch.no_grad():
            out = self._model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        new = out[0, inputs["input_ids"].shape[1]:]
        self.last_reply = self._processor.decode(new, skip_special_tokens=True)
        return parse_advice(self.last_reply)
