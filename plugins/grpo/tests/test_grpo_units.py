"""GRPO without training: the built-in rewards, the reward checks, prompts, argument checks, trl's config."""

from __future__ import annotations

import math

import pytest

import grpo_helpers  # noqa: F401  (offline environment)
from swiftk.errors import UsageError
from swiftk.rewards import RewardError, build_reward
from swiftk_grpo.reward_funcs import CheckedReward
from swiftk_grpo.rewards import CosineReward, MathAccuracy, RepetitionPenalty, think_answer_format
from swiftk_grpo.rollout import runs_of_equal


def resolve(*argv: str):
    from swiftk.cli.builtin import resolve_arguments

    return resolve_arguments("rlhf", ["--rlhf_type", "grpo", "--model", "swiftk/tiny-chat", *argv])


# --- the built-in rewards ----------------------------------------------------------------------


def test_accuracy_is_mathematical_equivalence_with_the_solution():
    accuracy = MathAccuracy()
    completions = [
        "3 + 4 = 7.",
        "3 + 4 = 8.",
        "The answer is \\boxed{0.5}",
        "<think>hm</think><answer>7</answer>",
        "seven",
        "x = 2, so 2x = 4",
    ]
    solutions = ["7", "7", "\\frac{1}{2}", "<answer>7</answer>", "7", "4"]
    assert accuracy(completions, solution=solutions) == [1.0, 0.0, 1.0, 1.0, 0.0, 1.0]


def test_accuracy_scores_zero_against_an_unparseable_solution_and_needs_the_column():
    assert MathAccuracy()(["7"], solution=["no number here"]) == [0.0]
    with pytest.raises(UsageError, match="'solution' column"):
        MathAccuracy()(["7"])


def test_format_wants_think_then_answer_and_nothing_after():
    completions = [
        "<think>a</think>\n<answer>b</answer>",
        "<think>a</think><answer>b</answer> more",
        "<answer>b</answer>",
        "<think>a\nb</think> <answer>c\nd</answer>",
    ]
    assert think_answer_format(completions) == [1.0, 0.0, 0.0, 1.0]


def test_cosine_goes_from_the_short_value_to_the_long_value_by_length_and_correctness():
    cosine = CosineReward(cosine_max_len=10)
    right, wrong = ["7"], ["8"]
    assert cosine(right, solution=["7"], completion_token_ids=[[1]]) == pytest.approx([cosine.value(1, True)])
    assert cosine.value(0, True) == pytest.approx(1.0) and cosine.value(10, True) == pytest.approx(0.5)
    assert cosine.value(0, False) == pytest.approx(0.0) and cosine.value(10, False) == pytest.approx(-0.5)
    assert cosine.value(5, True) == pytest.approx(0.75) and cosine.value(50, False) == pytest.approx(-0.5)
    short, long = (cosine(wrong, solution=["7"], completion_token_ids=[[0] * n])[0] for n in (2, 8))
    assert short > long  # a wrong answer is penalised less when it is long (it kept thinking)
    assert CosineReward(max_completion_length=4).max_len == 4  # cosine_max_len defaults to max_completion_length


def test_repetition_penalises_the_share_of_repeated_ngrams():
    penalty = RepetitionPenalty(repetition_n_grams=3, repetition_max_penalty=-1.0)
    assert penalty(["a b c a b c", "a b c d e", "a b", ""]) == [pytest.approx(-0.25), 0.0, 0.0, 0.0]
    with pytest.raises(UsageError, match="--repetition_max_penalty"):
        RepetitionPenalty(repetition_max_penalty=0.5)


# --- rewards as trl calls them -------------------------------------------------------------------


def _call(reward, completions, **columns):
    return reward(
        prompts=[[{"role": "user", "content": "q"}]] * len(completions),
        completions=completions,
        completion_ids=[[1, 2]] * len(completions),
        trainer_state=None,
        log_extra=None,
        log_metric=None,
        **columns,
    )


def test_a_reward_gets_text_and_only_the_columns_it_names():
    seen = {}

    def exact(completions, solution):
        seen.update(completions=completions, solution=solution)
        return [float(c == s) for c, s in zip(completions, solution)]

    reward = CheckedReward("exact", exact)
    assert _call(reward, [[{"role": "assistant", "content": "7"}], "8"], solution=["7", "7"]) == [1.0, 0.0]
    assert seen == {"completions": ["7", "8"], "solution": ["7", "7"]}


def test_a_reward_with_kwargs_gets_every_column_and_the_token_ids():
    seen = {}

    def spy(completions, **columns):
        seen.update(columns)
        return [0.0] * len(completions)

    _call(CheckedReward("spy", spy), ["a"], solution=["1"], level=["easy"])
    assert set(seen) == {"solution", "level", "completion_token_ids", "response_token_ids", "prompts"}
    assert seen["completion_token_ids"] == [[1, 2]]


@pytest.mark.parametrize(
    "fn, message",
    [
        (lambda completions, **kw: [1.0], r"returned 1 values for 2 completions"),
        (lambda completions, **kw: [1.0, math.nan], r"returned nan for completion 1; rewards must be finite"),
        (lambda completions, **kw: [1.0, None], r"returned None for completion 1; rewards must be numbers"),
        (lambda completions, **kw: 3.0, r"returned float; it must return a list of 2 floats"),
    ],
)
def test_a_misbehaving_reward_stops_the_run_naming_it(fn, message):
    with pytest.raises(RewardError, match=r"reward function 'bad' \(plugin 'mine'\) " + message):
        _call(CheckedReward("bad", fn, plugin="mine"), ["a", "b"])


def test_a_reward_that_raises_is_named_with_the_file_and_line():
    def boom(completions, **kw):
        return [1 / 0 for _ in completions]

    with pytest.raises(RewardError) as err:
        _call(CheckedReward("boom", boom, plugin="mine"), ["a"])
    text = str(err.value)
    assert "reward function 'boom' (plugin 'mine') raised ZeroDivisionError: division by zero" in text
    assert "test_grpo_units.py:" in text


def test_a_registered_class_is_built_once_with_the_arguments_it_names():
    class Scaled:
        def __init__(self, cosine_max_len, tokenizer, args):
            self.made = (cosine_max_len, tokenizer, args.rlhf_type)

        def __call__(self, completions, **kw):
            return [1.0] * len(completions)

    args = resolve("--reward_funcs", "accuracy", "--max_completion_length", "33")
    built = build_reward(Scaled, args, tokenizer="tok")
    assert built.made == (33, "tok", "grpo")
    assert build_reward(len, args, None) is len


# --- prompts and rollouts ---------------------------------------------------------------------------


def test_runs_of_equal_prompts_keep_order():
    a, b = [{"role": "user", "content": "a"}], [{"role": "user", "content": "b"}]
    assert runs_of_equal([a, a, b, b, b, a]) == [(a, 2), (b, 3), (a, 1)]


def test_the_prompt_drops_the_reference_answer_and_keeps_the_other_columns():
    from swiftk_grpo.encode import grpo_encoder

    class Template:
        def encode(self, row, add_generation_prompt=False):
            assert add_generation_prompt and row["messages"][-1]["role"] == "user"
            return {"input_ids": [1, 2, 3]}

    encode = grpo_encoder(Template(), None, None)
    row = {
        "messages": [{"role": "user", "content": "1+1"}, {"role": "assistant", "content": "2"}],
        "solution": "2",
        "__origin__": "x.jsonl:1",
    }
    assert encode(row) == {"prompt": [{"role": "user", "content": "1+1"}], "solution": "2"}
    with pytest.raises(ValueError, match="no user turn"):
        encode({"messages": [{"role": "system", "content": "s"}]})


# --- arguments ------------------------------------------------------------------------------------


def _prepare(*argv: str):
    from swiftk_grpo.args import prepare_grpo

    args = resolve(*argv)
    prepare_grpo(args)
    return args


G2 = ("--reward_funcs", "accuracy", "--num_generations", "2", "--per_device_train_batch_size", "2")


@pytest.mark.parametrize(
    "argv, message",
    [
        ((), "needs a reward: --reward_funcs"),
        (
            ("--reward_funcs", "accuracy", "--num_generations", "4", "--per_device_train_batch_size", "6"),
            r"--per_device_train_batch_size \(6\) x --gradient_accumulation_steps \(1\) x processes \(1\) must be a "
            r"multiple of --num_generations \(4\)",
        ),
        (("--reward_funcs", "accuracy", "--num_generations", "1"), "--num_generations must be at least 2"),
        ((*G2, "--temperature", "0"), "--temperature must be > 0"),
        (
            (*G2, "--per_device_eval_batch_size", "3"),
            r"--per_device_eval_batch_size \(3\) x processes \(1\) must be a multiple of --num_generations \(2\)",
        ),
        ((*G2, "--async_generate", "true"), "--async_generate"),
        ((*G2, "--packing", "true"), "--packing true"),
    ],
)
def test_bad_grpo_arguments_are_refused_before_loading(argv, message):
    with pytest.raises(UsageError, match=message):
        _prepare(*argv)


def test_use_vllm_needs_vllm_and_a_gpu():
    import importlib.util

    import torch

    if importlib.util.find_spec("vllm") is not None and torch.cuda.is_available():
        pytest.skip("a GPU with vLLM is present: benchmarks/gpu/grpo_vllm.py covers it")
    with pytest.raises(UsageError, match="--use_vllm true needs"):
        _prepare(*G2, "--use_vllm", "true")
    with pytest.raises(UsageError, match="--vllm_enforce_eager: trl's colocated vLLM sets these itself"):
        _prepare(*G2, "--use_vllm", "true", "--vllm_enforce_eager", "true")


def test_reward_weights_must_match_the_rewards_and_the_reward_model():
    with pytest.raises(
        UsageError,
        match=r"one weight per reward function \(2 reward function\(s\) \+ the reward "
        r"model: 3\), got 2",
    ):
        resolve("--reward_funcs", "accuracy", "format", "--reward_model", "x", "--reward_weights", "1", "2")


def test_several_reward_models_parse_as_a_list_and_one_stays_one(tmp_path):
    from swiftk_rlhf.reward_model import each_reward_model

    args = resolve("--reward_model", "a", "b", "--reward_model_type", "qwen2", "--reward_weights", "1", "1")
    assert args.reward_model == ["a", "b"] and args.reward_model_type == "qwen2"
    each = each_reward_model(args)
    assert [(m.reward_model, m.reward_model_type, m.reward_adapters) for m in each] == [
        ("a", "qwen2", []),
        ("b", "qwen2", []),
    ]
    one = resolve("--reward_model", "a")
    assert one.reward_model == "a" and each_reward_model(one) == [one]
    with pytest.raises(UsageError, match=r"one weight per reward function \(0 reward function\(s\) \+ 2 reward models"):
        resolve("--reward_model", "a", "b", "--reward_weights", "1")
    with pytest.raises(UsageError, match="--reward_adapters with 2 reward models: give one adapter per --reward_model"):
        each_reward_model(resolve("--reward_model", "a", "b", "--reward_adapters", "x"))
    adapter = tmp_path / "rm-lora" / "checkpoint-1"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text("{}")
    with pytest.raises(UsageError, match="an adapter checkpoint; with several reward models give each one's base"):
        each_reward_model(resolve("--reward_model", str(adapter), "b"))
    with pytest.raises(
        UsageError, match=r"--reward_model_type: give one value, or one per --reward_model \(2\), got 3"
    ):
        each_reward_model(resolve("--reward_model", "a", "b", "--reward_model_type", "q", "q", "q"))


def test_trl_config_has_the_page_defaults_and_ms_swift_loss():
    from trl import GRPOConfig

    from swiftk.pipelines.train_args import to_training_arguments
    from swiftk_grpo.args import grpo_config

    args = _prepare(
        "--reward_funcs",
        "accuracy",
        "format",
        "--reward_weights",
        "1",
        "0.5",
        "--output_dir",
        "/tmp/x",
        "--per_device_train_batch_size",
        "8",
    )
    config = to_training_arguments(args, GRPOConfig, has_eval=True, **grpo_config(args))
    assert (config.beta, config.epsilon, config.num_iterations, config.num_generations) == (0.04, 0.2, 1, 8)
    assert (config.temperature, config.top_k, config.top_p, config.repetition_penalty) == (0.9, 50, 0.9, 1.0)
    assert config.max_completion_length == 512 and config.reward_weights == [1.0, 0.5]
    assert config.loss_type == "grpo" and config.scale_rewards == "group" and not config.log_completions
    assert config.per_device_eval_batch_size == 8  # rounded up to whole groups
    assert not config.use_vllm and config.ds3_gather_for_generation


def test_a_rollout_after_an_optimizer_step_drops_the_engines_cached_prompts():
    """The pt engine caches prompt keys and values; the policy's weights change at every step."""
    import types

    from accelerate import Accelerator

    from swiftk.pipelines.model import get_template, load_model_and_processor
    from swiftk.testing import HostScope
    from swiftk_grpo.rollout import EngineRollout

    with HostScope(autoload=True):
        args = resolve("--reward_funcs", "accuracy", "--num_generations", "2", "--max_completion_length", "4")
        model, processor, info = load_model_and_processor(args)
        model.train()  # as the Trainer has it
        template = get_template(args, processor, info, mode="train")
        trainer = types.SimpleNamespace(
            model=model,
            model_wrapped=model,
            accelerator=Accelerator(cpu=True),
            args=types.SimpleNamespace(generation_batch_size=4, ds3_gather_for_generation=True),
            state=types.SimpleNamespace(global_step=0),
        )
        rollout = EngineRollout(template, processor, args)
        prompt = [{"role": "user", "content": "3 + 4"}]
        try:
            out = rollout([prompt, prompt], trainer)
            assert len(out["completion_ids"]) == 2 and out["prompt_ids"][0] == out["prompt_ids"][1]
            assert rollout.engine._prefixes and model.training  # cached; the model is back in train mode
            cleared = []
            rollout.engine.weights_changed = lambda: cleared.append(trainer.state.global_step)
            rollout([prompt, prompt], trainer)  # same step: the cache stays valid
            trainer.state.global_step = 1  # an optimizer step happened
            rollout([prompt, prompt], trainer)
            assert cleared == [1]
        finally:
            rollout.close()


def test_rows_with_images_are_kept_for_the_qwen_vl_families_only():
    from types import SimpleNamespace

    from swiftk_grpo.encode import grpo_encoder
    from swiftk_rlhf.media import unpack

    class Template:
        def __init__(self, template_type, **extra):
            self.template_type, self.meta = template_type, SimpleNamespace(extra=extra)

        def encode(self, row, add_generation_prompt=False):
            return {"input_ids": [1, 2, 3]}

    row = {"messages": [{"role": "user", "content": "<image>Colour?"}], "images": ["red.png"], "solution": "red"}
    with pytest.raises(ValueError, match=r"takes the Qwen2-VL and Qwen2.5-VL families .* not template llava"):
        grpo_encoder(Template("llava"), {}, None)(row)
    qwen = Template("qwen2_vl", grpo_media=True)
    encoded = grpo_encoder(qwen, {}, None)(row)
    assert encoded["prompt"] == [{"role": "user", "content": "<image>Colour?"}] and encoded["solution"] == "red"
    assert "images" not in encoded and unpack(encoded["grpo_images"]) == ["red.png"]  # bytes in every row
    text = grpo_encoder(qwen, {}, None)({"messages": [{"role": "user", "content": "Hi"}], "images": None})
    assert isinstance(text["grpo_images"], bytes) and unpack(text["grpo_images"]) == []
    for flag in ("use_vllm", "dynamic_sample"):
        with pytest.raises(ValueError, match=f"does not take --{flag} true"):
            grpo_encoder(qwen, {flag: True}, None)(row)
    with pytest.raises(ValueError, match="videos: GRPO takes images only"):
        grpo_encoder(qwen, {}, None)({**row, "videos": ["a.mp4"]})


def test_image_tags_become_content_parts_in_order():
    from swiftk_grpo.media import image_parts

    prompt = [{"role": "system", "content": "s"}, {"role": "user", "content": "<image>and<image>?"}]
    assert image_parts(prompt, ["a.png", "b.png"])[1]["content"] == [
        {"type": "image", "image": "a.png"},
        {"type": "text", "text": "and"},
        {"type": "image", "image": "b.png"},
        {"type": "text", "text": "?"},
    ]
    untagged = image_parts([{"role": "user", "content": "Colour?"}], ["a.png"])  # in front, as ms-swift puts it
    assert untagged[0]["content"] == [{"type": "image", "image": "a.png"}, {"type": "text", "text": "Colour?"}]
