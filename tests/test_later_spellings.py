"""Command lines written for later ms-swift 3.x: the later spellings of the page's arguments and the later forms
of their values are read as the page's (args.json records the page's name), `--help` lists them, and a name
that is a command's own argument (GRPO's --vllm_gpu_memory_utilization) stays its own."""

from __future__ import annotations

import json

import pytest

from kernel_support import one_line_error
from swiftk.arguments.aliases import ALIASES


def printed(swiftk, *argv):
    result = swiftk(*argv, "--print_args")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


MODEL = ["--model", "swiftk/tiny-chat"]
CASES = [
    # (command line, the page's name, the value it gets)
    (["infer", *MODEL, "--vllm_gpu_memory_utilization", "0.5"], "gpu_memory_utilization", 0.5),
    (["deploy", *MODEL, "--vllm_max_model_len", "2048"], "max_model_len", 2048),
    (["infer", *MODEL, "--vllm_enforce_eager", "true"], "enforce_eager", True),
    (["deploy", *MODEL, "--vllm_limit_mm_per_prompt", '{"image": 2}'], "limit_mm_per_prompt", {"image": 2}),
    (["infer", *MODEL, "--vllm_tensor_parallel_size", "2"], "tensor_parallel_size", 2),
    (["infer", *MODEL, "--lmdeploy_tp", "2"], "tp", 2),
    (["deploy", *MODEL, "--lmdeploy_session_len", "4096"], "session_len", 4096),
    (["infer", *MODEL, "--lmdeploy_cache_max_entry_count", "0.5"], "cache_max_entry_count", 0.5),
    (["infer", *MODEL, "--lmdeploy_vision_batch_size", "4"], "vision_batch_size", 4),
    (["sample", *MODEL, "--num_sampling_batch_size", "4"], "num_sampling_per_gpu_batch_size", 4),
    (["sample", *MODEL, "--num_sampling_batches", "3"], "num_sampling_per_gpu_batches", 3),
    (["sft", *MODEL, "--agent_template", "hermes"], "tools_prompt", "hermes"),
    (["sft", *MODEL, "--load_from_cache_file", "true"], "enable_cache", True),
    (["sft", *MODEL, "--attn_impl", "flash_attention_2"], "attn_impl", "flash_attn"),
    (["sft", *MODEL, "--attn_impl", "sdpa"], "attn_impl", "sdpa"),
    (["sft", *MODEL, "--save_total_limit", "-1"], "save_total_limit", None),
    (["sft", *MODEL, "--save_total_limit", "3"], "save_total_limit", 3),
    (["sft", *MODEL, "--padding_free", "false"], "padding_free", False),
    (["sft", *MODEL, "--init_lora_weights", "olora"], "init_weights", "olora"),
]


@pytest.mark.parametrize("argv, name, value", CASES, ids=[c[0][0] + ":" + c[0][-2] for c in CASES])
def test_a_later_spelling_sets_the_page_argument(swiftk, argv, name, value):
    args = printed(swiftk, *argv)
    assert args[name] == value
    given = argv[-2][2:]
    if given != name:
        assert given not in args  # args.json records the page's name only


def test_a_commands_own_argument_is_not_an_alias(swiftk):
    args = printed(swiftk, "rlhf", "--rlhf_type", "grpo", *MODEL, "--vllm_gpu_memory_utilization", "0.4")
    assert args["vllm_gpu_memory_utilization"] == 0.4 and "gpu_memory_utilization" not in args


def test_help_lists_the_later_spelling_beside_the_page_name(swiftk):
    text = swiftk("infer", "--help").stdout
    assert "--vllm_gpu_memory_utilization" in text and "--lmdeploy_tp" in text
    grpo = swiftk("rlhf", "--help").stdout
    assert "also --vllm_gpu_memory_utilization" not in grpo  # rlhf has its own argument of that name


def test_an_alias_of_an_argument_the_command_lacks_is_unknown(swiftk):
    error = one_line_error(swiftk("sft", *MODEL, "--lmdeploy_tp", "2"))
    assert "unknown argument --lmdeploy_tp for `swiftk sft`" in error


def test_flash_attention_3_is_accepted_and_needs_its_gpu_and_package(swiftk):
    assert printed(swiftk, "sft", *MODEL, "--attn_impl", "flash_attention_3")["attn_impl"] == "flash_attention_3"
    error = one_line_error(swiftk("sft", *MODEL, "--attn_impl", "flash_attention_4", "--print_args"))
    assert "flash_attention_4" in error and "flash_attention_3" in error and "sdpa" in error


def test_flash_attention_3_on_cpu_is_one_line_before_training(swiftk, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    error = one_line_error(
        swiftk(
            "sft",
            *MODEL,
            "--attn_impl",
            "flash_attention_3",
            "--dataset",
            "swiftk/demo-sft#4",
            "--output_dir",
            str(tmp_path / "out"),
        )  # fmt: skip
    )
    assert "--attn_impl flash_attention_3 needs a CUDA GPU" in error


def test_every_alias_names_an_argument_of_some_command():
    from swiftk.arguments.parser import known_argument_names

    known = known_argument_names()
    assert {page for page in ALIASES.values()} <= known
    assert not set(ALIASES) & {
        n
        for n in known
        if n
        not in (
            "vllm_gpu_memory_utilization",
            "vllm_max_model_len",
            "vllm_max_num_seqs",
            "vllm_enforce_eager",
            "vllm_limit_mm_per_prompt",
            "vllm_enable_prefix_caching",
            "vllm_tensor_parallel_size",
        )
    }  # fmt: skip  (GRPO's own)


def test_padding_free_on_rlhf_false_is_accepted_true_refused(swiftk, tmp_path):
    assert printed(swiftk, "rlhf", "--rlhf_type", "dpo", *MODEL, "--padding_free", "false")["padding_free"] is False
    error = one_line_error(
        swiftk(
            "rlhf",
            "--rlhf_type",
            "dpo",
            *MODEL,
            "--dataset",
            "swiftk/demo-dpo",
            "--padding_free",
            "true",
            "--output_dir",
            str(tmp_path / "o"),
        )  # fmt: skip
    )
    assert "--padding_free true: not supported by --rlhf_type dpo" in error
