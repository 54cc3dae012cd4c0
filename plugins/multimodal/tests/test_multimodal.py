"""swift-plugin-multimodal on tiny random Qwen2-VL and Qwen2.5-VL checkpoints built from transformers' config
classes, in the multimodal venv (.venv-mm: the CUDA build of torch with its torchvision, which run on CPU;
`make mm-env`): the template against the family's own processor and chat template token for token, LoRA and
full training with --freeze_vit, the adapter reloaded with identical logits, infer over a dataset of images,
deploy answering OpenAI image_url parts, and one-line errors for bad media."""

from __future__ import annotations

import json

import pytest
from mm_helpers import (
    HERE,
    MARKS,
    build_tiny,
    check_deploy_answers,
    check_infer,
    check_lora_round_trip,
    check_template_parity,
    data_url,
    deploy,
    one_line_error,
    post,
    run,
    swiftk,
    weights,
)

pytestmark = MARKS


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("vlm")
    names = {"qwen2_vl": "qwen2-vl-tiny", "qwen2_5_vl": "qwen2.5-vl-tiny"}
    return {model_type: build_tiny(model_type, root / name) for model_type, name in names.items()}


@pytest.mark.parametrize("model_type", ["qwen2_vl", "qwen2_5_vl"])
def test_the_template_is_the_family_processor_token_for_token(tiny, model_type):
    result = check_template_parity(tiny[model_type], model_type)
    assert result["labelled"] == "red<|im_end|>"  # the loss falls on the answer only
    assert result["prompts"][0]["keys"] == ["image_grid_thw", "mm_token_type_ids", "pixel_values"]
    full, bounded = result["max_pixels"]
    assert bounded < full


def test_full_training_freezes_the_vision_tower_as_the_flags_say(tiny, colours, tmp_path):
    base = weights(tiny["qwen2_5_vl"])
    common = ["--model", tiny["qwen2_5_vl"], "--dataset", colours / "colours.jsonl", "--train_type", "full"]
    common += ["--max_steps", "2", "--save_steps", "2", "--learning_rate", "1e-2", "--add_version", "false"]
    for freeze in ("true", "false"):
        out = tmp_path / f"vit-{freeze}"
        swiftk("sft", *common, "--freeze_vit", freeze, "--output_dir", out)
        after = weights(out / "checkpoint-2")
        changed = {k for k in base if abs(after[k] - base[k]) > 1e-6}
        # saved in the checkpoints' own layout: visual.* (its merger is the aligner), model.layers.*
        vision = {k for k in changed if k.startswith("visual.") and not k.startswith("visual.merger.")}
        llm = {k for k in changed if k.startswith("model.layers.")}
        assert llm, "the LLM trains"
        assert bool(vision) == (freeze == "false"), sorted(vision)[:5]


def test_lora_trains_reloads_with_identical_logits_and_answers_images(tiny, colours, tmp_path):
    ckpt = check_lora_round_trip(tiny["qwen2_vl"], colours, tmp_path)
    config = json.loads((ckpt / "adapter_config.json").read_text())
    assert all(".language_model." in m for m in config["target_modules"])  # --freeze_vit true: the LLM only
    lines = check_infer(ckpt, colours, tmp_path)
    assert lines[0]["messages"][0]["content"][0] == {
        "type": "image_url",
        "image_url": {"url": str(colours / "red.png")},
    }


def test_deploy_answers_openai_image_parts(tiny, colours):
    check_deploy_answers(tiny["qwen2_vl"], colours)
    args = ["--model", tiny["qwen2_5_vl"], "--allowed_local_media_path", colours / "inside"]
    (colours / "inside").mkdir(exist_ok=True)
    with deploy(args) as server:
        url = server.base_url + "/chat/completions"

        def ask(image_url: str):
            content = [{"type": "image_url", "image_url": {"url": image_url}}, {"type": "text", "text": "Colour?"}]
            return post(
                url, {"model": "qwen2.5-vl-tiny", "messages": [{"role": "user", "content": content}], "max_tokens": 4}
            )

        status, body = ask(data_url(colours / "blue.png"))
        assert status == 200 and body["choices"][0]["message"]["content"] is not None, body
        assert body["usage"]["prompt_tokens"] > 20  # the picture's tokens count
        status, body = ask("https://example.com/cat.png")
        assert status == 400 and "offline" in body["error"]["message"], body
        status, body = ask(str(colours / "inside" / "no-such.png"))
        assert status == 400 and "does not exist" in body["error"]["message"], body
        status, body = ask("file://" + str(colours / "red.png"))  # a file outside --allowed_local_media_path
        assert status == 400 and "--allowed_local_media_path" in body["error"]["message"], body
        (colours / "inside" / "red.png").write_bytes((colours / "red.png").read_bytes())
        assert ask("file://" + str(colours / "inside" / "red.png"))[0] == 200


def test_bad_media_name_the_row(tiny, colours, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"messages": [{"role": "user", "content": "<image><image>Two?"},
                                            {"role": "assistant", "content": "no"}], "images": [str(colours / "red.png")]}) + "\n")  # fmt: skip
    proc = run("-m", "swiftk", "sft", "--model", tiny["qwen2_5_vl"], "--dataset", bad, "--strict", "true",
               "--max_steps", "1", "--split_dataset_ratio", "0", "--output_dir", tmp_path / "o")  # fmt: skip
    error = one_line_error(proc)
    assert "bad.jsonl:1" in error and "2 <image> tags but 1 images" in error


def test_packing_multimodal_rows_is_refused_not_stripped_of_their_images(tiny, colours, tmp_path):
    proc = run("-m", "swiftk", "sft", "--model", tiny["qwen2_vl"], "--dataset", colours / "colours.jsonl",
               "--packing", "true", "--lazy_tokenize", "false", "--max_length", "512", "--max_steps", "1",
               "--output_dir", tmp_path / "o")  # fmt: skip
    error = one_line_error(proc)
    assert "--packing" in error and "pixel_values" in error


def test_dpo_trains_on_image_preference_pairs(tiny, colours, tmp_path):
    """ms-swift's RLAIF-V form: the chosen answer ends messages, rejected_response beside it, images. A batch
    of a text pair and two pictures of different sizes holds each picture twice (its chosen and its rejected
    row), the pixels the image tokens ask for, in row order, and the model's forward pass takes it."""
    proc = run(HERE / "mm_checks.py", "dpo_batch", tiny["qwen2_vl"], colours / "red.png", colours / "blue.png")
    assert proc.returncode == 0, proc.stderr[-3000:]
    batch = json.loads(proc.stdout.strip().splitlines()[-1])
    assert batch["columns"] == ["chosen_ids", "media", "prompt_ids", "rejected_ids"] and batch["text_media"]
    red, blue = batch["grid_tokens"][:2]
    assert red != blue and batch["grid_tokens"] == [red, blue, red, blue]
    assert batch["rows"] == 6 and batch["image_tokens"] == [0, red, blue, 0, red, blue]
    assert batch["typed_tokens"] == batch["image_tokens"] and batch["same_shape"]
    assert batch["pixel_rows"] == batch["grid_pixels"] and batch["logits_rows"] == 6

    pairs = tmp_path / "pairs.jsonl"
    text = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
            "rejected_response": "Go away"}  # fmt: skip
    rows = [
        {"messages": [{"role": "user", "content": "<image>What colour is it?"}, {"role": "assistant", "content": c}],
         "rejected_response": r, "images": [str(colours / f"{c}.png")]}
        for c, r in (("red", "blue"), ("blue", "red"))
    ]  # fmt: skip
    pairs.write_text("".join(json.dumps(r) + "\n" for r in [text] + rows * 4))  # a text row first
    out = tmp_path / "dpo"
    swiftk("rlhf", "--rlhf_type", "dpo", "--model", tiny["qwen2_vl"], "--dataset", pairs, "--max_steps", "2",
           "--per_device_train_batch_size", "3", "--learning_rate", "1e-3", "--split_dataset_ratio", "0",
           "--output_dir", out, "--add_version", "false", "--save_steps", "2")  # fmt: skip
    logs = [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines()]
    trained = [entry for entry in logs if "loss" in entry]
    assert trained and all("rewards/chosen" in entry or "rewards/margins" in entry for entry in trained), logs
    assert (out / "checkpoint-2" / "adapter_model.safetensors").exists()


def test_videos_are_sampled_and_sized_by_the_page_parameters(tiny, colours, tmp_path):
    """An 8-frame, 2-second, 84x84 video: FPS picks the frame count (an even number, at least FPS_MIN_FRAMES),
    VIDEO_MAX_PIXELS the frame size; the video tokens follow the grid; a LoRA step trains on a video row."""
    video = tmp_path / "fade.mp4"
    proc = run("-c", f"import mm_checks; mm_checks.write_video({str(video)!r})", cwd=HERE)
    assert proc.returncode == 0, proc.stderr[-2000:]

    def grid(model_type="qwen2_vl", **params):
        proc = run(HERE / "mm_checks.py", "video_grid", tiny[model_type], video, extra_env=params)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(proc.stdout.strip().splitlines()[-1])

    small = {"VIDEO_MIN_PIXELS": str(28 * 28), "FPS_MIN_FRAMES": "2"}
    two_per_second = grid(FPS="2", VIDEO_MAX_PIXELS=str(56 * 56), **small)
    one_per_second = grid(FPS="1", VIDEO_MAX_PIXELS=str(56 * 56), **small)
    larger = grid(FPS="1", VIDEO_MAX_PIXELS=str(84 * 84), **small)
    assert two_per_second["grid"] == [[2, 4, 4]]  # 4 frames in pairs; 56x56 pixels in 14-pixel patches
    assert one_per_second["grid"] == [[1, 4, 4]]
    assert larger["grid"] == [[1, 6, 6]]
    for g in (two_per_second, one_per_second, larger):
        t, h, w = g["grid"][0]
        assert g["tokens"] == t * h * w // g["merge"] ** 2
    # Qwen2.5-VL's time positions: a grid of 2 frames spans 2 / FPS seconds (ms-swift's second_per_grid_ts)
    for fps, seconds in (("2", 1.0), ("1", 2.0)):
        assert grid("qwen2_5_vl", FPS=fps, VIDEO_MAX_PIXELS=str(56 * 56), **small)["seconds_per_grid"] == [seconds]

    rows = tmp_path / "videos.jsonl"
    row = {"messages": [{"role": "user", "content": "<video>What happens?"}, {"role": "assistant", "content": "fade"}],
           "videos": [str(video)]}  # fmt: skip
    rows.write_text((json.dumps(row) + "\n") * 2)
    out = tmp_path / "video-lora"
    swiftk("sft", "--model", tiny["qwen2_vl"], "--dataset", rows, "--max_steps", "1", "--split_dataset_ratio", "0",
           "--output_dir", out, "--add_version", "false", "--model_kwargs", json.dumps({**small, "FPS": 1,
           "VIDEO_MAX_PIXELS": 56 * 56}))  # fmt: skip
    logs = [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines()]
    assert any("loss" in entry for entry in logs)


def test_the_vllm_backend_gets_unexpanded_placeholders_and_the_loaded_images(tiny, colours):
    """vLLM's own processor expands the placeholders: it gets one <|image_pad|> per image and the PIL image."""
    proc = run(HERE / "mm_checks.py", "vllm_prompt", tiny["qwen2_vl"], colours / "red.png")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["placeholders"] == 1 and result["expanded"] > 1 and result["same_text"], result
    assert result["media"] == {"image": 1} and result["image_size"] == [50, 60]


def test_rlhf_types_other_than_dpo_refuse_rows_with_images(tiny, colours, tmp_path):
    rows = tmp_path / "labelled.jsonl"
    row = {"messages": [{"role": "user", "content": "<image>Colour?"}, {"role": "assistant", "content": "red"}],
           "label": True, "images": [str(colours / "red.png")]}  # fmt: skip
    rows.write_text((json.dumps(row) + "\n") * 2)
    proc = run("-m", "swiftk", "rlhf", "--rlhf_type", "kto", "--model", tiny["qwen2_vl"], "--dataset", rows,
               "--max_steps", "1", "--output_dir", tmp_path / "o")  # fmt: skip
    assert proc.returncode != 0 and "trained by --rlhf_type dpo only" in proc.stderr, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr


def test_a_batch_of_a_text_row_and_an_image_row_trains(tiny, colours):
    proc = run(HERE / "mm_checks.py", "mixed_batch", tiny["qwen2_5_vl"], colours / "red.png")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["same_shape"] and result["typed"][0] == 0 and result["typed"][1] > 0, result
    assert result["loss"] > 0


def test_interactive_infer_asks_for_each_tagged_image_and_answers_as_over_a_dataset(tiny, colours, tmp_path):
    """The terminal chat of a multimodal model asks for the path of each <image> of a message (again when the
    file does not exist), answers as `swiftk infer` over a dataset row with the same image does (greedy), and
    writes the turn in ms-swift's row form (the tag in the text, the file in `images`)."""
    model, red = tiny["qwen2_5_vl"], colours / "red.png"
    one_row, over_dataset = tmp_path / "red.jsonl", tmp_path / "dataset.jsonl"
    one_row.write_text(json.dumps({"messages": [{"role": "user", "content": "<image>What colour is it?"}],
                                   "images": [str(red)]}) + "\n")  # fmt: skip
    swiftk("infer", "--model", model, "--val_dataset", one_row, "--max_new_tokens", "4", "--temperature", "0",
           "--result_path", over_dataset)  # fmt: skip
    expected = json.loads(over_dataset.read_text().splitlines()[0])
    chat_rows = tmp_path / "chat.jsonl"
    typed = f"<image>What colour is it?\n{tmp_path / 'missing.png'}\n{red}\nexit\n"
    proc = run("-m", "swiftk", "infer", "--model", model, "--max_new_tokens", "4", "--temperature", "0",
               "--result_path", chat_rows, input_text=typed)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Input an image path or URL <<< " in proc.stdout and "no such file" in proc.stdout, proc.stdout[-2000:]
    row = json.loads(chat_rows.read_text().splitlines()[0])
    assert row["images"] == [str(red)]
    assert row["messages"][0] == {"role": "user", "content": "<image>What colour is it?"}
    assert row["response"] == expected["response"], (row, expected)


GRPO_PLUGIN = '''
import json, os, torch, swiftk

LOG = os.environ["GRPO_MM_LOG"]


def _write(entry):
    with open(LOG, "a") as f:
        f.write(json.dumps(entry) + "\\n")


def _vision_pass(module, args):  # every pass of the vision tower: model mode, grad mode, pixel rows
    if type(module).__name__.endswith("VisionTransformerPretrainedModel"):
        _write({"vision": [module.training, torch.is_grad_enabled(), int(args[0].shape[0])]})


torch.nn.modules.module.register_module_forward_pre_hook(_vision_pass)


def names_the_colour(completions, solution, images, **columns):
    for completion, colour, pictures in zip(completions, solution, images):
        _write({"completion": completion, "solution": colour, "images": pictures})
    return [1.0 if colour in c else len(c) / 10 for c, colour in zip(completions, solution)]


@swiftk.hookimpl
def register_rewards(register):
    register("names_the_colour", names_the_colour)
'''


@pytest.mark.parametrize("model_type", ["qwen2_vl", "qwen2_5_vl"])
def test_grpo_trains_on_rows_with_images(tiny, colours, tmp_path, model_type):
    """GRPO on the colour rows (a `solution` column beside `images`): the vision tower runs in the rollouts (model
    in eval mode, no grad), in the reference pass (no grad) and in the loss (grad); the reward sees each
    completion with its row's images and solution; the run logs rewards and completion lengths."""
    rows = tmp_path / "colours.jsonl"
    rows.write_text("".join(
        json.dumps({"messages": [{"role": "user", "content": "<image>What colour is it?"}], "solution": c,
                    "images": [str(colours / f"{c}.png")]}) + "\n" for c in ("red", "blue") * 2
    ))  # fmt: skip
    plugin, log = tmp_path / "colour_reward.py", tmp_path / "seen.jsonl"
    plugin.write_text(GRPO_PLUGIN)
    out = tmp_path / "grpo"
    swiftk("rlhf", "--rlhf_type", "grpo", "--model", tiny[model_type], "--dataset", rows, "--max_steps", "2",
           "--external_plugins", plugin, "--reward_funcs", "names_the_colour", "--num_generations", "2",
           "--per_device_train_batch_size", "2", "--max_completion_length", "4", "--learning_rate", "1e-3",
           "--split_dataset_ratio", "0", "--output_dir", out, "--add_version", "false", "--save_steps", "2",
           "--seed", "42", extra_env={"GRPO_MM_LOG": str(log)})  # fmt: skip
    logs = [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines()]
    trained = [entry for entry in logs if "reward" in entry]
    assert len(trained) == 2 and all("completions/mean_length" in entry for entry in trained), logs
    seen = [json.loads(line) for line in log.read_text().splitlines()]
    rewarded = [s for s in seen if "completion" in s]
    assert len(rewarded) == 4, rewarded  # 2 steps of 2 completions
    assert all(s["images"] == [str(colours / f"{s['solution']}.png")] for s in rewarded), rewarded
    passes = [tuple(s["vision"]) for s in seen if "vision" in s]
    rollouts = [rows for training, grad, rows in passes if not training and not grad]
    reference = [rows for training, grad, rows in passes if training and not grad]
    loss = [rows for training, grad, rows in passes if training and grad]
    assert len(rollouts) == 2 and len(reference) == 2 and len(loss) == 2, passes  # one of each per step
    # the step's picture (16 patches for red, 8 for blue): once in the rollout (one request, n=2), then once
    # per completion in the reference and loss passes
    patches = {"red": 16, "blue": 8}
    assert rollouts == [patches[rewarded[0]["solution"]], patches[rewarded[2]["solution"]]], (passes, rewarded)
    assert reference == loss == [2 * r for r in rollouts], passes
    assert (out / "checkpoint-2" / "adapter_model.safetensors").exists()
