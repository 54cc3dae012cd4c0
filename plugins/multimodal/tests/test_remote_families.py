"""The families that need the checkpoint's own remote code (families/remote.py, remote_templates.py): every
model type registered as ms-swift v3.2.2 registers it (template, loader with trust_remote_code, environment
parameters), each template's text rendering equal to ms-swift's text form on a sample conversation (the
expected strings written from ms-swift's TemplateMeta definitions), media refused in one line where they
need the remote processor, swift's template contract suite on nine of the templates, and the original
InternVL's tiling and <IMG_CONTEXT> layout, the pixels checked against InternVL's published preprocessing
(torchvision, in .venv-mm). No real checkpoint is used: their code is not on this machine, so loading,
training and inference of these families are not tested here."""

from __future__ import annotations

import json

import pytest

from swiftk.testing.templates import TemplateContract
from swiftk.testing.tiny import build_tiny_tokenizer

FAMILIES = {  # model type -> (template, architecture, an env parameter and its ms-swift default)
    "internvl": ("internvl", "InternVLChatModel", ("MAX_NUM", 12)),
    "internvl2": ("internvl2", "InternVLChatModel", ("VIDEO_SEGMENTS", 8)),
    "internvl2_5": ("internvl2_5", "InternVLChatModel", ("INPUT_SIZE", 448)),
    "minicpmv2_6": ("minicpmv2_6", "MiniCPMV", ("MAX_NUM_FRAMES", 64)),
    "minicpmo2_6": ("minicpmo2_6", "MiniCPMO", ("VIDEO_MAX_SLICE_NUMS", 1)),
    "ovis1_6": ("ovis1_6", "Ovis", ("MAX_PARTITION", 9)),
    "ovis2": ("ovis2", "Ovis", ("NFRAMES", 12)),
    "mplug_owl3": ("mplug_owl3", "mPLUGOwl3Model", ("MAX_NUM_FRAMES", 16)),
    "xcomposer2_4khd": ("ixcomposer2", "InternLMXComposer2ForCausalLM", None),
    "xcomposer2_5": ("xcomposer2_5", "InternLMXComposer2ForCausalLM", ("HD_NUM", None)),
    "cogvlm2_video": ("cogvlm2_video", "CogVLMVideoForCausalLM", ("NUM_FRAMES", 24)),
    "phi3_vision": ("phi3_vision", "Phi3VForCausalLM", None),
    "llama3_1_omni": ("llama3_1_omni", "OmniSpeech2SLlamaForCausalLM", ("N_MELS", 128)),
}

INTERNLM2 = {"bos": "<s>", "eos": "</s>", "unk": "<unk>"}
QWEN2 = {"eos": "<|im_end|>", "pad": "<|endoftext|>", "extra": ["<|endoftext|>"]}
LLAMA3 = {"bos": "<|begin_of_text|>", "eos": "<|end_of_text|>"}
TOKENS = {  # the tokenizer family of each template's checkpoints
    "internvl": INTERNLM2,
    "internvl2": INTERNLM2,  # InternVL2-2B/8B/26B (internlm2); -1B is Qwen2
    "internvl2_5": QWEN2,  # InternVL2_5-1B/4B/38B/78B (Qwen2.5); -2B/8B/26B are internlm2
    "minicpmv2_6": QWEN2,
    "minicpmo2_6": QWEN2,
    "ovis1_6": {"bos": "<bos>", "eos": "<eos>"},
    "ovis2": QWEN2,
    "mplug_owl3": QWEN2,
    "ixcomposer2": INTERNLM2,
    "xcomposer2_4khd": INTERNLM2,
    "xcomposer2_5": INTERNLM2,
    "cogvlm2_video": LLAMA3,
    "phi3_vision": {"bos": "<s>", "eos": "<|endoftext|>", "unk": "<unk>"},
    "llama3_1_omni": LLAMA3,
}

SYSTEM = "Be brief."
ROW = {
    "messages": [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "What is the weather in Paris?"},
        {"role": "assistant", "content": "It is sunny."},
        {"role": "user", "content": "Thank you!"},
        {"role": "assistant", "content": "I am fine."},
    ]
}
Q1, A1, Q2, A2 = (m["content"] for m in ROW["messages"][1:])


def _chatml(system, bos=""):
    head = f"{bos}<|im_start|>system\n{system}<|im_end|>\n" if system is not None else bos
    return (
        f"{head}<|im_start|>user\n{Q1}<|im_end|>\n<|im_start|>assistant\n{A1}<|im_end|>\n"
        f"<|im_start|>user\n{Q2}<|im_end|>\n<|im_start|>assistant\n{A2}<|im_end|>"
    )


def _xcomposer(system):
    return (
        f"<s>[UNUSED_TOKEN_146]system\n{system}[UNUSED_TOKEN_145]\n"
        f"[UNUSED_TOKEN_146]user\n{Q1}[UNUSED_TOKEN_145]\n[UNUSED_TOKEN_146]assistant\n{A1}[UNUSED_TOKEN_145]\n"
        f"[UNUSED_TOKEN_146]user\n{Q2}[UNUSED_TOKEN_145]\n[UNUSED_TOKEN_146]assistant\n{A2}[UNUSED_TOKEN_145]"
    )


def _llama3(system):
    user = "<|start_header_id|>user<|end_header_id|>\n\n"
    bot = "<|start_header_id|>assistant<|end_header_id|>\n\n"
    return (
        f"<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|>"
        f"{user}{Q1}<|eot_id|>{bot}{A1}<|eot_id|>{user}{Q2}<|eot_id|>{bot}{A2}<|eot_id|>"
    )


#: ms-swift's text of ROW under each template, with the row's system and without one (its default, if any)
EXPECTED = {
    # ChatmlTemplateMeta (auto_add_bos: an InternLM2 tokenizer adds <s>, a Qwen2 one adds nothing)
    "internvl": (_chatml(SYSTEM, "<s>"), _chatml("You are an AI assistant whose name is InternLM (书生·浦语).", "<s>")),
    "internvl2": (
        _chatml(SYSTEM, "<s>"),
        _chatml(
            "你是由上海人工智能实验室联合商汤科技开发的书生多模态大模型，英文名叫InternVL, 是一个有用无害的人工智能助手。",
            "<s>",
        ),
    ),
    "internvl2_5": (
        _chatml(SYSTEM),
        _chatml(
            "你是书生·万象，英文名是InternVL，是由上海人工智能实验室、清华大学及多家合作单位联合开发的多模态大语言模型。"
        ),
    ),
    # QwenTemplateMeta / Qwen2_5TemplateMeta
    "minicpmv2_6": (_chatml(SYSTEM), _chatml("You are a helpful assistant.")),
    "minicpmo2_6": (_chatml(SYSTEM), _chatml("You are Qwen, created by Alibaba Cloud. You are a helpful assistant.")),
    "ovis2": (_chatml(SYSTEM), _chatml("You are a helpful assistant.")),
    # mPlugOwl3TemplateMeta: the prefix holds {{SYSTEM}}, so an empty system block is written without one
    "mplug_owl3": (_chatml(SYSTEM), _chatml("")),
    # ovis1_6: Gemma-2 turns, <bos> written by the prefix
    "ovis1_6": (
        f"<bos><start_of_turn>system\n{SYSTEM}<end_of_turn>\n<start_of_turn>user\n{Q1}<end_of_turn>\n"
        f"<start_of_turn>model\n{A1}<end_of_turn>\n<start_of_turn>user\n{Q2}<end_of_turn>\n"
        f"<start_of_turn>model\n{A2}<end_of_turn>",
        f"<bos><start_of_turn>user\n{Q1}<end_of_turn>\n<start_of_turn>model\n{A1}<end_of_turn>\n"
        f"<start_of_turn>user\n{Q2}<end_of_turn>\n<start_of_turn>model\n{A2}<end_of_turn>",
    ),
    # Xcomposer2TemplateMeta
    "ixcomposer2": (
        _xcomposer(SYSTEM),
        _xcomposer(
            "You are an AI assistant whose name is InternLM-XComposer (浦语·灵笔).\n"
            "- InternLM-XComposer (浦语·灵笔) is a conversational language model that is developed by "
            "Shanghai AI Laboratory (上海人工智能实验室). It is designed to be helpful, honest, and harmless.\n"
            "- InternLM-XComposer (浦语·灵笔) can understand and communicate fluently in the language chosen "
            "by the user such as English and 中文."
        ),
    ),
    "xcomposer2_5": (_xcomposer(SYSTEM), None),  # None: the default system checked below
    "xcomposer2_4khd": (_xcomposer(SYSTEM), None),
    # CogVLMTemplateMeta: bos, "Question: ... Answer:", "\n" between rounds, EOS at the end; no system
    "cogvlm2_video": (
        None,
        f"<|begin_of_text|>Question: {Q1} Answer:{A1}\nQuestion: {Q2} Answer:{A2}<|end_of_text|>",
    ),
    # Phi3TemplateMeta (auto_add_bos: the Llama tokenizer's <s>)
    "phi3_vision": (
        f"<s><|system|>\n{SYSTEM}<|end|>\n<|user|>\n{Q1}<|end|>\n<|assistant|>\n{A1}<|end|>\n"
        f"<|user|>\n{Q2}<|end|>\n<|assistant|>\n{A2}<|end|>",
        f"<s><|user|>\n{Q1}<|end|>\n<|assistant|>\n{A1}<|end|>\n<|user|>\n{Q2}<|end|>\n<|assistant|>\n{A2}<|end|>",
    ),
    # Llama3TemplateMeta
    "llama3_1_omni": (
        _llama3(SYSTEM),
        _llama3(
            "You are a helpful language and speech assistant. You are able to understand the speech content that "
            "the user provides, and assist the user with a variety of tasks using natural language."
        ),
    ),
}


@pytest.fixture(scope="module")
def host():
    from swiftk import get_host

    return get_host()


def _tokenizer(host, template: str):
    meta = host.registry("templates").get(template)
    return build_tiny_tokenizer(TOKENS[template], list(meta.extra.get("special_tokens", [])), vocab_size=600)


def _template(host, name: str, tokenizer, mode: str = "train"):
    from swiftk.api import get_template
    from swiftk.cli.builtin import resolve_arguments

    args = resolve_arguments("sft", ["--template", name])
    return get_template(args, tokenizer, None, mode)


def _text(tokenizer, ids) -> str:
    return tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)


# -- registration ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model_type", sorted(FAMILIES))
def test_every_family_is_registered_with_its_template_loader_and_env_parameters(host, model_type):
    template, arch, env = FAMILIES[model_type]
    meta = host.registry("models").get(model_type)
    assert meta.template == template and arch in meta.architectures and meta.is_multimodal
    assert meta.get_function == "swiftk_multimodal.remote_templates:load_remote"
    assert meta.extra["trust_remote_code"] is True  # loading runs the folder's own code, as ms-swift does
    assert meta.model_groups and meta.model_groups[0].models
    tmeta = host.registry("templates").get(template)
    assert tmeta.template_cls.startswith("swiftk_multimodal.remote_templates:")
    if env:
        name, default = env
        assert tmeta.extra["env_defaults"][name] == default
        assert name in tmeta.extra["env"]


def test_the_loader_parameters_and_ms_swift_choices(host):
    models = host.registry("models")
    assert models.get("phi3_vision").extra["load_env"] == {"NUM_CROPS": 4}
    assert models.get("minicpmo2_6").extra["load_env"] == {"INIT_TTS": False, "INIT_AUDIO": False}
    # ms-swift gives xcomposer2_4khd the ixcomposer2 template; the xcomposer2_4khd template (HD_NUM 55) exists too
    assert host.registry("templates").get("xcomposer2_4khd").extra["env_defaults"] == {"HD_NUM": 55}
    assert models.get("internvl").extra["model_arch"]["aligner"] == ["mlp1"]


# -- text forms ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("template", sorted(EXPECTED))
def test_the_text_rendering_is_ms_swift_text_form(host, template):
    tok = _tokenizer(host, template)
    train = _template(host, template, tok)
    with_system, without = EXPECTED[template]
    if with_system is not None:
        assert _text(tok, train.encode(ROW)["input_ids"]) == with_system
    else:  # no {{SYSTEM}} in the template: a system prompt is an error, as in ms-swift
        with pytest.raises(Exception, match="system"):
            train.encode(ROW)
    plain = {"messages": ROW["messages"][1:]}
    text = _text(tok, train.encode(plain)["input_ids"])
    if without is not None:
        assert text == without
    else:
        assert "is capable of comprehending and articulating responses effectively based on the provided image" in text
    # the generation prompt is the training text up to the last answer
    infer = _template(host, template, tok, "infer")
    prompt = _text(tok, infer.encode({"messages": plain["messages"][:-1]})["input_ids"])
    assert text.startswith(prompt) and text[len(prompt) :].startswith(A2)
    # the labels hold the last answer and the end the model must learn to emit
    encoded = train.encode(plain)
    labelled = [t for t, lab in zip(encoded["input_ids"], encoded["labels"]) if lab != -100]
    assert _text(tok, labelled).endswith(A2 + text.rsplit(A2, 1)[1])


def test_llama_omni_loads_only_with_its_repository(host, tmp_path):
    from types import SimpleNamespace

    from swiftk.api import UsageError

    from swiftk_multimodal.remote_templates import load_remote

    info = SimpleNamespace(model_meta=host.registry("models").get("llama3_1_omni"))
    with pytest.raises(UsageError, match="--local_repo_path"):
        load_remote(str(tmp_path), info, {})


def _png(width=8, height=8):
    from PIL import Image

    return Image.new("RGB", (width, height), (255, 0, 0))


@pytest.mark.parametrize(
    "template,kind",
    [("minicpmv2_6", "image"), ("ovis2", "video"), ("mplug_owl3", "image"), ("xcomposer2_5", "image"),
     ("phi3_vision", "image"), ("cogvlm2_video", "video"), ("llama3_1_omni", "audio")],
)  # fmt: skip
def test_media_that_need_the_remote_processor_are_refused_in_one_line(host, template, kind):
    from swiftk.api import UsageError

    tok = _tokenizer(host, template)
    train = _template(host, template, tok)
    media = {"image": [_png()], "video": [[_png(), _png()]], "audio": [[0.0] * 160]}[kind]
    row = {"messages": [{"role": "user", "content": f"<{kind}>What is it?"}, {"role": "assistant", "content": "red"}]}
    with pytest.raises(UsageError) as err:
        train.encode({**row, f"{kind}s": media})
    message = str(err.value)
    assert "needs the checkpoint's remote code processor" in message
    assert "not tested here" in message and "\n" not in message


# -- InternVL: tiles and <IMG_CONTEXT> layout -----------------------------------------------------------------------
def _reference_tiles(width, height, max_num=12, size=448):
    """InternVL's published dynamic_preprocess (the model cards' code): the grid and the crops."""
    aspect = width / height
    ratios = sorted(
        {(i, j) for n in range(1, max_num + 1) for i in range(1, n + 1) for j in range(1, n + 1)
         if 1 <= i * j <= max_num},
        key=lambda x: x[0] * x[1],
    )  # fmt: skip
    best_diff, best = float("inf"), (1, 1)
    for r in ratios:
        diff = abs(aspect - r[0] / r[1])
        if diff < best_diff:
            best_diff, best = diff, r
        elif diff == best_diff and width * height > 0.5 * size * size * r[0] * r[1]:
            best = r
    blocks = best[0] * best[1]
    return best, blocks + (1 if blocks != 1 else 0)


@pytest.mark.parametrize("size,max_num", [((56, 28), 12), ((28, 56), 12), ((50, 60), 12), ((56, 8), 6), ((40, 40), 12)])
def test_internvl_tiles_follow_its_published_preprocessing(size, max_num):
    from swiftk_multimodal.remote_templates import internvl_pixels, internvl_tiles

    (cols, rows), count = _reference_tiles(*size, max_num=max_num)
    tiles = internvl_tiles(_png(*size), max_num)
    assert len(tiles) == count and all(t.size == (448, 448) for t in tiles)
    pixels = internvl_pixels(_png(*size), max_num)
    assert tuple(pixels.shape) == (count, 3, 448, 448)
    red = (1.0 - 0.485) / 0.229  # a pure red picture: ImageNet-normalised channel 0
    assert abs(float(pixels[0, 0, 200, 200]) - red) < 1e-5


def _internvl(host, name, tokens=QWEN2):
    meta = host.registry("templates").get(name)
    tok = build_tiny_tokenizer(tokens, list(meta.extra["special_tokens"]), vocab_size=600)
    return tok, _template(host, name, tok)


def test_internvl2_5_writes_256_img_context_tokens_per_tile_in_each_image_block(host):
    tok, template = _internvl(host, "internvl2_5")
    row = {
        "messages": [
            {"role": "user", "content": "<image>Compare with <image>"},
            {"role": "assistant", "content": "red"},
        ],
        "images": [_png(56, 28), _png(40, 40)],  # 2 tiles + thumbnail; 1 tile
    }
    out = template.encode(row)
    ctx = tok.convert_tokens_to_ids("<IMG_CONTEXT>")
    text = _text(tok, out["input_ids"])
    first = "<img>" + "<IMG_CONTEXT>" * (3 * 256) + "</img>\n"
    second = "<img>" + "<IMG_CONTEXT>" * 256 + "</img>\n"
    assert f"<|im_start|>user\n{first}Compare with {second}<|im_end|>" in text
    assert tuple(out["pixel_values"].shape) == (4, 3, 448, 448) and out["image_flags"].sum() == 4
    assert all(lab == -100 for t, lab in zip(out["input_ids"], out["labels"]) if t == ctx)
    assert _text(tok, [t for t, lab in zip(out["input_ids"], out["labels"]) if lab != -100]) == "red<|im_end|>"
    batch = template.data_collator([out, template.encode({**row, "images": [_png(8, 8), _png(8, 8)]})])
    assert tuple(batch["pixel_values"].shape) == (6, 3, 448, 448) and tuple(batch["image_flags"].shape) == (6, 1)
    infer = _template(host, "internvl2_5", tok, "infer")  # generate takes no image_flags
    prompt = infer.encode({"messages": row["messages"][:1], "images": row["images"]})
    assert "image_flags" not in prompt and tuple(prompt["pixel_values"].shape) == (4, 3, 448, 448)
    # a training batch without pictures: one blank tile with image_flags 0 (InternVL's forward needs pixels)
    text_only = template.data_collator(
        [template.encode({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x"}]})]
    )
    assert tuple(text_only["pixel_values"].shape) == (1, 3, 448, 448) and text_only["image_flags"].sum() == 0


def test_internvl_v1_5_puts_every_image_in_one_block_as_ms_swift(host):
    tok, template = _internvl(host, "internvl", INTERNLM2)
    row = {
        "messages": [{"role": "user", "content": "<image>and<image>Same?"}, {"role": "assistant", "content": "yes"}],
        "images": [_png(40, 40), _png(40, 40)],
    }
    text = _text(tok, template.encode(row)["input_ids"])
    assert "<|im_start|>user\n<img>" + "<IMG_CONTEXT>" * 512 + "</img>\nSame?<|im_end|>" in text


def test_internvl2_video_is_frames_with_video_max_num_tiles(host, monkeypatch):
    monkeypatch.setenv("VIDEO_SEGMENTS", "3")
    tok, template = _internvl(host, "internvl2", INTERNLM2)
    frames = [_png(56, 28) for _ in range(7)]
    row = {
        "messages": [{"role": "user", "content": "<video>What happens?"}, {"role": "assistant", "content": "no"}],
        "videos": [frames],
    }
    out = template.encode(row)
    block = "<img>" + "<IMG_CONTEXT>" * 256 + "</img>\n"  # VIDEO_MAX_NUM 1: one tile per frame
    assert f"user\nFrame1: {block}Frame2: {block}Frame3: {block}What happens?" in _text(tok, out["input_ids"])
    assert tuple(out["pixel_values"].shape) == (3, 3, 448, 448)


def test_internvl_frame_indices_are_its_get_index():
    from swiftk_multimodal.remote_templates import internvl_frame_indices

    import numpy as np

    def get_index(bound, fps, max_frame, first_idx=0, num_segments=32):  # InternVL's published video sampling
        start, end = bound if bound else (-100000, 100000)
        start_idx = max(first_idx, round(start * fps))
        end_idx = min(round(end * fps), max_frame)
        seg_size = float(end_idx - start_idx) / num_segments
        return [int(start_idx + (seg_size / 2) + np.round(seg_size * idx)) for idx in range(num_segments)]

    assert internvl_frame_indices(7, 3) == [1, 3, 5]
    for frames, segments in ((7, 3), (100, 8), (5, 8), (1, 8), (301, 8)):
        assert internvl_frame_indices(frames, segments) == get_index(None, 30.0, frames - 1, num_segments=segments)


def test_internvl_max_num_and_input_size_are_read(host, monkeypatch):
    monkeypatch.setenv("MAX_NUM", "1")
    tok, template = _internvl(host, "internvl2_5")
    row = {"messages": [{"role": "user", "content": "<image>?"}, {"role": "assistant", "content": "x"}]}
    out = template.encode({**row, "images": [_png(56, 28)]})
    assert tuple(out["pixel_values"].shape) == (1, 3, 448, 448)  # one tile, no thumbnail
    monkeypatch.setenv("INPUT_SIZE", "224")
    out = template.encode({**row, "images": [_png(56, 28)]})
    assert tuple(out["pixel_values"].shape) == (1, 3, 224, 224)


REFERENCE = r"""
import json, sys, torch
import torchvision.transforms as T
from torchvision.transforms.functional import InterpolationMode
from PIL import Image
from swiftk_multimodal.remote_templates import internvl_pixels

# InternVL's published preprocessing (the model cards' build_transform and dynamic_preprocess)
def build_transform(input_size):
    return T.Compose([T.Lambda(lambda img: img.convert('RGB') if img.mode != 'RGB' else img),
                      T.Resize((input_size, input_size), interpolation=InterpolationMode.BICUBIC),
                      T.ToTensor(), T.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))])

def find_closest_aspect_ratio(aspect_ratio, target_ratios, width, height, image_size):
    best_ratio_diff, best_ratio = float('inf'), (1, 1)
    area = width * height
    for ratio in target_ratios:
        ratio_diff = abs(aspect_ratio - ratio[0] / ratio[1])
        if ratio_diff < best_ratio_diff:
            best_ratio_diff, best_ratio = ratio_diff, ratio
        elif ratio_diff == best_ratio_diff and area > 0.5 * image_size * image_size * ratio[0] * ratio[1]:
            best_ratio = ratio
    return best_ratio

def dynamic_preprocess(image, min_num=1, max_num=12, image_size=448, use_thumbnail=False):
    w, h = image.size
    target_ratios = sorted(set((i, j) for n in range(min_num, max_num + 1) for i in range(1, n + 1)
                               for j in range(1, n + 1) if min_num <= i * j <= max_num), key=lambda x: x[0] * x[1])
    r = find_closest_aspect_ratio(w / h, target_ratios, w, h, image_size)
    tw, th = image_size * r[0], image_size * r[1]
    resized = image.resize((tw, th))
    out = []
    for i in range(r[0] * r[1]):
        box = ((i % (tw // image_size)) * image_size, (i // (tw // image_size)) * image_size,
               ((i % (tw // image_size)) + 1) * image_size, ((i // (tw // image_size)) + 1) * image_size)
        out.append(resized.crop(box))
    if use_thumbnail and len(out) != 1:
        out.append(image.resize((image_size, image_size)))
    return out

results = []
for (w, h), max_num, size in json.loads(sys.argv[1]):
    g = torch.Generator().manual_seed(w * 100 + h)
    image = Image.fromarray((torch.rand(h, w, 3, generator=g) * 255).to(torch.uint8).numpy())
    t = build_transform(size)
    ref = torch.stack([t(x) for x in dynamic_preprocess(image, image_size=size, use_thumbnail=True, max_num=max_num)])
    ours = internvl_pixels(image, max_num, size)
    results.append([list(ref.shape), list(ours.shape), float((ref - ours).abs().max())])
print(json.dumps(results))
"""


@pytest.mark.slow
def test_internvl_pixels_equal_the_published_torchvision_preprocessing():
    from mm_helpers import MM_PYTHON, run

    import os

    if not os.path.exists(MM_PYTHON):
        pytest.skip(f"no multimodal venv ({MM_PYTHON}); run `make mm-env`")
    cases = [[[56, 28], 12, 448], [[50, 60], 12, 448], [[56, 8], 6, 448], [[33, 47], 4, 224]]
    proc = run("-c", REFERENCE, json.dumps(cases))
    assert proc.returncode == 0, proc.stderr[-3000:]
    for ref_shape, our_shape, diff in json.loads(proc.stdout.strip().splitlines()[-1]):
        assert ref_shape == our_shape
        assert diff < 1e-5, diff


# -- the template contract suite (loss mask, stop words, generation prompt, truncation, collator) --------------
class TestInternvlContract(TemplateContract):
    template, tokens = "internvl", INTERNLM2


class TestInternvl25Contract(TemplateContract):
    template, tokens = "internvl2_5", QWEN2


class TestMinicpmv26Contract(TemplateContract):
    template, tokens = "minicpmv2_6", QWEN2


class TestOvis16Contract(TemplateContract):
    template, tokens = "ovis1_6", TOKENS["ovis1_6"]


class TestMplugOwl3Contract(TemplateContract):
    template, tokens = "mplug_owl3", QWEN2


class TestXcomposer25Contract(TemplateContract):
    template, tokens = "xcomposer2_5", INTERNLM2


class TestCogvlm2VideoContract(TemplateContract):
    template, tokens, supports_system = "cogvlm2_video", LLAMA3, False


class TestPhi3VisionContract(TemplateContract):
    template, tokens = "phi3_vision", TOKENS["phi3_vision"]


class TestLlama31OmniContract(TemplateContract):
    template, tokens = "llama3_1_omni", LLAMA3
