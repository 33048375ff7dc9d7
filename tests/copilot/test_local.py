"""The transformers backend's plumbing on a tiny randomly initialised LLaVA built from a config
and saved locally (no download): load offline from the folder, look at the chart, generate,
parse; a random model's babble is not advice, so the gate gets no trade."""
from __future__ import annotations

import pytest

from btedge.copilot.advice import Advice, AdviceError
from btedge.copilot.gate import GateParams, decide
from btedge.copilot.snapshot import render
from btedge.feeds import sample_data

pytestmark = pytest.mark.slow
transformers = pytest.importorskip("transformers")

WORDS = ["<pad>", "<s>", "</s>", "<unk>", "<image>", "{", "}", '"stance":', '"long"', '"short"', '"flat"', ",",
         '"confidence":', "0.9", '"rationale":', '"x"']


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory):
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    torch.manual_seed(0)
    vocab = {w: i for i, w in enumerate(WORDS)}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                        pad_token="<pad>", extra_special_tokens={"image_token": "<image>"})
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor = LlavaProcessor(image_processor=images, tokenizer=tokenizer, patch_size=8, image_token="<image>",
                               vision_feature_select_strategy="default", num_additional_image_tokens=1)
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                       image_size=32, patch_size=8, projection_dim=16),
        text_config=LlamaConfig(vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128),
        image_token_index=vocab["<image>"], vision_feature_select_strategy="default", vision_feature_layer=-1)
    folder = tmp_path_factory.mktemp("tiny_llava")
    LlavaForConditionalGeneration(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def test_local_model_sees_the_chart_and_fails_closed(tiny_llava):
    from btedge.copilot.local import TransformersAdvisor

    assert (tiny_llava / "model.safetensors").exists() and not list(tiny_llava.glob("*.bin")), "safetensors only"
    advisor = TransformersAdvisor(tiny_llava, max_new_tokens=8)
    snapshot = render(sample_data().iloc[:120], "BTC-USD", 60)
    try:
        advice: object = advisor.advise(snapshot, {"symbol": "BTC-USD", "wants": "a long entry"})
    except AdviceError as exc:
        advice = exc
    assert advisor.last_reply and set(advisor.last_reply.split()) <= set(WORDS), "the model generated from its vocabulary"
    assert "a long entry" in advisor.last_prompt
    decision = decide(1, advice, GateParams())
    assert decision.allowed == (isinstance(advice, Advice) and advice.stance == "long" and advice.confidence >= 0.6)
    again = TransformersAdvisor(tiny_llava, max_new_tokens=8)
    try:
        again.advise(snapshot, {"symbol": "BTC-USD", "wants": "a long entry"})
    except AdviceError:
        pass
    assert again.last_reply == advisor.last_reply, "greedy decoding of the same chart is deterministic"


def test_folder_without_a_model_is_one_clear_error(tmp_path):
    from btedge.copilot.local import TransformersAdvisor

    with pytest.raises(AdviceError, match="no config.json"):
        TransformersAdvisor(tmp_path).load()
