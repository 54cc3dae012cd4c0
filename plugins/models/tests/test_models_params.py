"""Template parameters: system, max_length and truncation, padding, loss scales, the generation
template (pt), the jinja backend, tools prompts, bbox normalisation, stop words."""

from __future__ import annotations

import json

import pytest

import swiftk
from models_helpers import ANSWER1, ANSWER3, SYSTEM, TOOLS, USER1, make_template, msg, official, row, tiny_tokenizer
from swiftk.cli.builtin import resolve_arguments
from swiftk.errors import UsageError
from swiftk.pipelines.model import get_template, resolve_model
from swiftk.specs import TemplateMeta
from swiftk.testing.tiny import build_tiny_checkpoint
from swiftk_models.template import ConversationError, MaxLengthError


def trained_text(template, encoded):
    return template.tokenizer.decode([t for t, lab in zip(encoded["input_ids"], encoded["labels"]) if lab != -100])


@pytest.fixture(scope="module")
def qwen_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("q") / "Qwen2.5-0.5B-Instruct"
    return build_tiny_checkpoint("qwen2_5", folder, chat_template=official("qwen2_5"))


def cli_template(folder, *argv, command="sft", mode="train"):
    from transformers import AutoTokenizer

    args = resolve_arguments(command, ["--model", str(folder), *argv])
    return get_template(args, AutoTokenizer.from_pretrained(folder), resolve_model(args), mode=mode)


# --- system ---------------------------------------------------------------------------------------


def test_default_system_and_overrides(qwen_dir, tmp_path):
    default = cli_template(qwen_dir)
    assert "You are Qwen, created by Alibaba Cloud" in default.render(row("single"))
    custom = cli_template(qwen_dir, "--system", "Be terse.")
    assert "<|im_start|>system\nBe terse.<|im_end|>" in custom.render(row("single"))
    assert f"<|im_start|>system\n{SYSTEM}<|im_end|>" in custom.render(row("system"))  # the row's own system wins
    path = tmp_path / "system.txt"
    path.write_text("From a file.\n", encoding="utf-8")
    assert "<|im_start|>system\nFrom a file.<|im_end|>" in cli_template(qwen_dir, "--system", str(path)).render(
        row("single")
    )
    with pytest.raises(UsageError, match="no such file"):
        cli_template(qwen_dir, "--system", str(tmp_path / "missing.txt"))


# --- length ---------------------------------------------------------------------------------------


def test_truncation_strategies():
    full = make_template("qwen").encode(row("multi"))
    n = full["length"]
    with pytest.raises(MaxLengthError, match="--max_length"):
        make_template("qwen", max_length=n - 1).encode(row("multi"))
    left = make_template("qwen", max_length=20, truncation_strategy="left").encode(row("multi"))
    right = make_template("qwen", max_length=20, truncation_strategy="right").encode(row("multi"))
    assert left["input_ids"] == full["input_ids"][-20:] and left["labels"] == full["labels"][-20:]
    assert right["input_ids"] == full["input_ids"][:20] and left["length"] == right["length"] == 20
    assert issubclass(MaxLengthError, ValueError)


def test_max_length_defaults_to_the_model_length(qwen_dir):
    assert cli_template(qwen_dir).max_length == 512
    assert cli_template(qwen_dir, "--max_length", "64").max_length == 64


# --- batching -------------------------------------------------------------------------------------


def test_collator_pads_on_the_chosen_side():
    rows = [row("single"), row("multi")]
    for side in ("left", "right"):
        template = make_template("qwen", padding_side=side)
        batch = template.data_collator([template.encode(r) for r in rows], padding_to=200)
        assert batch["input_ids"].shape == (2, 200)
        mask = batch["attention_mask"][0]
        assert (mask[0] == 1) == (side == "right") and (mask[-1] == 1) == (side == "left")
        assert "loss_scale" not in batch and (batch["labels"][0] == -100).sum() > 0
    infer = make_template("qwen", mode="infer")
    batch = infer.data_collator([infer.encode(r) for r in rows])
    assert batch["attention_mask"][0][0] == 0 and "labels" not in batch


def test_generation_prompt_ends_with_the_assistant_prefix():
    template = make_template("qwen")
    prompt = template.encode(row("gen"), add_generation_prompt=True)
    assert template.decode(prompt["input_ids"]).endswith("<|im_start|>assistant\n")
    assert make_template("qwq").render(row("gen"), True).endswith("<|im_start|>assistant\n<think>\n")
    qwen3 = make_template("qwen3", enable_thinking=False)
    assert qwen3.render(row("gen"), True).endswith("<think>\n\n</think>\n\n")


def test_response_prefix_replaces_the_templates_own(qwen_dir):
    """Later ms-swift's --response_prefix: what the generation prompt ends with ('' for nothing, '\\n' typed
    on a command line is a newline); absent, the template's own (qwq opens a think block)."""
    plain = cli_template(qwen_dir, "--template", "qwq", mode="infer")
    assert plain.render(row("gen"), True).endswith("<|im_start|>assistant\n<think>\n")
    none = cli_template(qwen_dir, "--template", "qwq", "--response_prefix", "", mode="infer")
    assert none.render(row("gen"), True).endswith("<|im_start|>assistant\n")
    typed = cli_template(qwen_dir, "--response_prefix", "Answer:\\n", mode="infer")
    assert typed.render(row("gen"), True).endswith("<|im_start|>assistant\nAnswer:\n")


def test_conversation_errors():
    template = make_template("qwen")
    with pytest.raises(ConversationError, match="last message"):
        template.encode({"messages": [msg("user", "hi")]})
    with pytest.raises(ConversationError, match="unknown role"):
        template.encode({"messages": [msg("robot", "hi")]})
    with pytest.raises(ConversationError, match="system message may only come first"):
        template.encode({"messages": [msg("user", "a"), msg("system", "b"), msg("assistant", "c")]})


# --- loss scales ----------------------------------------------------------------------------------


def test_default_last_round_and_all():
    default = make_template("qwen")
    enc = default.encode(row("multi"))
    assert ANSWER1 in trained_text(default, enc) and ANSWER3 in trained_text(default, enc)
    assert enc["loss_scale"] is None
    last = make_template("qwen", loss_scale="last_round")
    text = trained_text(last, last.encode(row("multi")))
    assert ANSWER3 in text and ANSWER1 not in text
    everything = make_template("qwen", loss_scale="all")
    enc = everything.encode(row("multi"))
    assert all(label != -100 for label in enc["labels"])


def _weights_of(template, sample, piece):
    """The loss weights of the tokens that spell the last ``piece`` in the encoding of ``sample``."""
    enc = template.encode(sample)
    ids = template.tokenizer(piece, add_special_tokens=False)["input_ids"]
    for i in reversed(range(len(enc["input_ids"]) - len(ids) + 1)):
        if enc["input_ids"][i : i + len(ids)] == ids:
            return enc["loss_scale"][i : i + len(ids)]
    raise AssertionError(f"{piece!r} not found")


def test_react_loss_scale_weighs_actions_and_skips_observations():
    template = make_template("qwen", tools_prompt="react_en", loss_scale="react")
    sample = row("tools")
    assert set(_weights_of(template, sample, "Action Input:")) == {2.0}
    assert set(_weights_of(template, sample, " Sunny, 22 degrees")) == {0.0}
    assert set(_weights_of(template, sample, "It is sunny")) == {1.0}


def test_qwen_and_agentflan_loss_scales():
    qwen = make_template("qwen", tools_prompt="qwen", loss_scale="qwen")
    assert set(_weights_of(qwen, row("tools"), "✿FUNCTION✿:")) == {2.0}
    flan = make_template("qwen", loss_scale="agentflan")
    sample = {"messages": [msg("user", "What is the tool you want to use now?"), msg("assistant", "search")]}
    assert set(_weights_of(flan, sample, "search")) == {3.0}
    sample = {"messages": [msg("user", "Go"), msg("assistant", "Thought: ok\nAction: search")]}
    assert set(_weights_of(flan, sample, " search")) == {3.0}
    alpha = make_template("qwen", loss_scale="alpha_umi")
    assert set(_weights_of(alpha, {"messages": [msg("user", "Go"), msg("assistant", "Next: caller")]}, "Next:")) == {
        2.0
    }


def test_later_pattern_loss_scales_hermes_and_ignore_empty_think():
    """ms-swift 3.12's regex loss scales: a hermes tool call weighs 2, an empty think block that opens an
    answer is not trained (and only there: a think block with content, or later in the answer, is)."""
    hermes = make_template("qwen", loss_scale="hermes")
    call = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    sample = {"messages": [msg("user", "Weather?"), msg("assistant", f"Let me look.\n{call}")]}
    assert set(_weights_of(hermes, sample, "Paris")) == {2.0}  # across the call's lines (re.DOTALL)
    assert set(_weights_of(hermes, sample, "Let me look")) == {1.0}

    ignore = make_template("qwen", loss_scale="ignore_empty_think")
    empty = {"messages": [msg("user", "Hi"), msg("assistant", "<think>\n\n</think>\n\nHello there.")]}
    enc = ignore.encode(empty)
    assert enc["loss_scale"] is None  # binary: expressed through the labels alone
    text = trained_text(ignore, enc)
    assert "Hello there." in text and "think>" not in text
    full = {"messages": [msg("user", "Hi"), msg("assistant", "<think>\nsay hello\n</think>\n\nHello there.")]}
    assert "<think>\nsay hello\n</think>" in trained_text(ignore, ignore.encode(full))
    assert "think>" in trained_text(make_template("qwen"), make_template("qwen").encode(empty))


def test_loss_scale_choices_are_registered():
    registry = swiftk.get_host().registry("loss_scales")
    names = {"default", "last_round", "all", "react", "agentflan", "alpha_umi", "qwen", "hermes", "ignore_empty_think"}
    assert names <= set(registry.names())
    with pytest.raises(UsageError, match="--loss_scale nope"):
        make_template("qwen", loss_scale="nope")


# --- generation template (pt) -----------------------------------------------------------------------


def test_pt_uses_the_generation_template(tmp_path):
    folder = build_tiny_checkpoint("llama2", tmp_path / "Llama-2-7b-hf")
    template = cli_template(folder, command="pt")
    assert template.mode == "pt"
    sample = {"messages": [msg("assistant", "Raw text to learn.")]}
    enc = template.encode(sample)
    tok = template.tokenizer
    assert enc["input_ids"][0] == tok.bos_token_id and enc["input_ids"][-1] == tok.eos_token_id
    assert tok.decode(enc["input_ids"], skip_special_tokens=True) == "Raw text to learn."
    assert all(label != -100 for label in enc["labels"])  # pt trains every token (loss_scale all)
    assert cli_template(folder, "--use_chat_template", "false").mode == "pt"


# --- jinja backend ----------------------------------------------------------------------------------


def test_jinja_backend_for_inference_only(qwen_dir):
    template = cli_template(qwen_dir, "--template_backend", "jinja", command="infer", mode="infer")
    swift = cli_template(qwen_dir, command="infer", mode="infer")
    for kind in ("gen", "gen_tools"):
        assert template.encode(row(kind))["input_ids"] == swift.encode(row(kind))["input_ids"]
    with pytest.raises(UsageError, match="--template_backend jinja is for inference only"):
        cli_template(qwen_dir, "--template_backend", "jinja")


# --- tools ----------------------------------------------------------------------------------------


def test_tools_as_json_text_and_native_format():
    template = make_template("qwen2_5")
    sample = row("tools")
    as_text = {**sample, "tools": json.dumps(TOOLS)}
    assert template.encode(as_text)["input_ids"] == template.encode(sample)["input_ids"]
    assert "<tools>" in template.render(sample) and '<tool_call>\n{"name": "get_weather"' in template.render(sample)


@pytest.mark.parametrize(
    "prompt,marker",
    [
        ("react_en", "Action Input:"),
        ("react_zh", "工具的输入"),
        ("toolbench", "You are AutoGPT"),
        ("qwen", "✿ARGS✿:"),
        ("glm4", "# 可用工具"),
        ("hermes", "<tool_call>"),
        ("llama3", '"parameters"'),
    ],
)
def test_tools_prompts_render_and_parse_back(prompt, marker):
    template = make_template("chatml", tools_prompt=prompt)
    text = template.render(row("tools"))
    assert marker in text and "Sunny, 22 degrees" in text
    call = template.agent.format_tool_calls([{"name": "get_weather", "arguments": {"city": "Paris"}}])
    assert template.agent.parse_tool_calls(call) == [{"name": "get_weather", "arguments": {"city": "Paris"}}]
    assert template.encode(row("tools"))["labels"]


def test_tools_prompt_flag_picks_the_agent_template(qwen_dir):
    assert cli_template(qwen_dir).agent.name == "hermes"  # Qwen2.5's own format
    assert cli_template(qwen_dir, "--tools_prompt", "react_zh").agent.name == "react_zh"


# --- the rest ---------------------------------------------------------------------------------------


def test_norm_bbox():
    sample = {
        "messages": [msg("user", "Where is the cat?"), msg("assistant", "<ref-object> at <bbox>")],
        "objects": {"ref": ["cat"], "bbox": [[10, 20, 50, 100]], "width": 200, "height": 400},
    }
    assert "cat at [50, 50, 250, 250]" in make_template("qwen", norm_bbox="norm1000").render(sample)
    assert "cat at [10, 20, 50, 100]" in make_template("qwen", norm_bbox="none").render(sample)


def test_stop_words_and_decode():
    template = make_template("llama3")
    assert "<|eot_id|>" in template.stop_words
    assert template.tokenizer.convert_tokens_to_ids("<|eot_id|>") in template.stop_token_ids
    ids = template.encode(row("single"))["input_ids"]
    assert USER1 in template.decode(ids)


def test_ms_swift_style_template_meta_uses_the_engine(register_plugin):
    class Custom:
        @swiftk.hookimpl
        def register_templates(self, register):
            register(
                "my_chat",
                TemplateMeta(
                    "my_chat",
                    prefix=[["bos_token_id"]],
                    prompt=["Round {{ROUND1}} Q: {{QUERY}}\nA:"],
                    chat_sep=["\n"],
                    suffix=[["eos_token_id"]],
                    system_prefix=[["bos_token_id"], "{{SYSTEM}}\n"],
                ),
            )

    register_plugin(Custom(), "custom")
    from swiftk_models.template import Template

    meta = swiftk.get_host().registry("templates").get("my_chat")
    template = Template(tiny_tokenizer("llama"), meta)
    enc = template.encode(row("multi"))
    tok = template.tokenizer
    assert enc["input_ids"][0] == tok.bos_token_id and enc["input_ids"][-1] == tok.eos_token_id
    assert "Round 3 Q: And 3 + 3?" in template.decode(enc["input_ids"])
    assert trained_text(template, enc).count(tok.eos_token) == 1
