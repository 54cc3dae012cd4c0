"""Tiny random LLaVA checkpoints (1.5, NeXT with Mistral, OneVision) from transformers' config classes, with
the llava-hf checkpoints' own chat templates and processors: 28x28 tiles of 14-pixel patches, so an image is
a few dozen tokens. Picked up by tiny_vlm.builders(); ``python tiny_vlm.py llava1_5_hf OUT``."""

from __future__ import annotations

from pathlib import Path

TEXT = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
VISION = dict(
    hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=28, patch_size=14
)
PINPOINTS = [[28, 28], [28, 56], [56, 28], [56, 56]]
SIZE = {"shortest_edge": 28}
CROP = {"height": 28, "width": 28}


def _save(model, processor, tok, folder: str) -> str:
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    Path(folder).mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def _text(config_cls, tok, **kw):
    return config_cls(
        **TEXT,
        vocab_size=len(tok),
        max_position_embeddings=2048,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        **kw,
    )


def build_llava(model_type: str, folder: str, seed: int = 0) -> str:
    """llava1_5_hf (Llama, CLIP, one 28x28 tile) and llava1_6_mistral_hf (Mistral, CLIP, anyres tiles)."""
    import torch
    import transformers
    from swiftk.testing.tiny import build_tiny_tokenizer
    from swiftk_models.model_types._build import LLAMA2_TOKENS

    from swiftk_multimodal.families.llava import MISTRAL_CHAT_TEMPLATE, VICUNA_CHAT_TEMPLATE

    next_ = model_type != "llava1_5_hf"
    chat = MISTRAL_CHAT_TEMPLATE if next_ else VICUNA_CHAT_TEMPLATE
    tok = build_tiny_tokenizer({**LLAMA2_TOKENS, "pad": "<pad>"}, ["<image>"], chat_template=chat)
    vision = transformers.CLIPVisionConfig(**VISION, projection_dim=32)
    common = dict(patch_size=14, vision_feature_select_strategy="default", num_additional_image_tokens=1)
    image_token = tok.convert_tokens_to_ids("<image>")
    if next_:
        images = transformers.LlavaNextImageProcessor(size=SIZE, crop_size=CROP, image_grid_pinpoints=PINPOINTS)
        processor = transformers.LlavaNextProcessor(images, tok, chat_template=chat, **common)
        config = transformers.LlavaNextConfig(
            vision_config=vision,
            text_config=_text(transformers.MistralConfig, tok, head_dim=16),
            image_token_index=image_token,
            image_grid_pinpoints=PINPOINTS,
            vision_feature_layer=-2,
            vision_feature_select_strategy="default",
            image_seq_length=4,
        )
        cls = transformers.LlavaNextForConditionalGeneration
    else:
        images = transformers.CLIPImageProcessor(size=SIZE, crop_size=CROP)
        processor = transformers.LlavaProcessor(images, tok, chat_template=chat, **common)
        config = transformers.LlavaConfig(
            vision_config=vision,
            text_config=_text(transformers.LlamaConfig, tok),
            image_token_index=image_token,
            vision_feature_layer=-2,
            vision_feature_select_strategy="default",
            image_seq_length=4,
        )
        cls = transformers.LlavaForConditionalGeneration
    torch.manual_seed(seed)
    return _save(cls(config), processor, tok, folder)


def build_onevision(model_type: str, folder: str, seed: int = 0) -> str:
    """llava_onevision_hf: Qwen2 and SigLIP, anyres tiles."""
    import torch
    import transformers
    from swiftk.testing.tiny import build_tiny_tokenizer
    from swiftk_models.model_types._build import QWEN_TOKENS
    from transformers.models.llava_onevision.video_processing_llava_onevision import LlavaOnevisionVideoProcessor

    from swiftk_multimodal.families.llava import ONEVISION_CHAT_TEMPLATE

    tok = build_tiny_tokenizer(QWEN_TOKENS, ["<image>", "<video>"], chat_template=ONEVISION_CHAT_TEMPLATE)
    square = {"height": 28, "width": 28}
    processor = transformers.LlavaOnevisionProcessor(
        image_processor=transformers.LlavaOnevisionImageProcessor(size=square, image_grid_pinpoints=PINPOINTS),
        tokenizer=tok,
        video_processor=LlavaOnevisionVideoProcessor(size=square),
        num_image_tokens=4,
        vision_feature_select_strategy="full",
        chat_template=ONEVISION_CHAT_TEMPLATE,
    )
    config = transformers.LlavaOnevisionConfig(
        vision_config=transformers.SiglipVisionConfig(**VISION),
        text_config=_text(transformers.Qwen2Config, tok),
        image_token_index=tok.convert_tokens_to_ids("<image>"),
        video_token_index=tok.convert_tokens_to_ids("<video>"),
        image_grid_pinpoints=PINPOINTS,
        vision_feature_layer=-1,
        vision_feature_select_strategy="full",
    )
    torch.manual_seed(seed)
    model = transformers.LlavaOnevisionForConditionalGeneration(config)
    model.generation_config.eos_token_id = [tok.convert_tokens_to_ids("<|im_end|>"), tok.pad_token_id]
    Path(folder).mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


BUILDERS = {"llava1_5_hf": build_llava, "llava1_6_mistral_hf": build_llava, "llava_onevision_hf": build_onevision}


def _listed(messages: list) -> list:
    """String contents as text parts: the llava-hf chat templates read only parts."""
    return [{**m, "content": [{"type": "text", "text": m["content"]}]} if isinstance(m["content"], str) else m
            for m in messages]  # fmt: skip


def parity(folder: str) -> dict:
    """The template on mm_checks' conversations: its ids against the family's processor given the same text
    (every image expanded, every pixel tensor, identical), and its text beside what the checkpoint's own chat
    template writes (the llava families' ms-swift templates differ from those: the test states how)."""
    import torch
    from mm_checks import CONVERSATIONS, images
    from swiftk.api import get_template, load_model_and_processor
    from swiftk.cli.builtin import resolve_arguments

    args = resolve_arguments("infer", ["--model", folder])
    _, processor, info = load_model_and_processor(args, load_model=False)
    template = get_template(args, processor, info, mode="infer")
    tok, image_id = processor.tokenizer, processor.image_token_id

    def text_of(ids: list) -> str:  # the ids with each run of image tokens written once, as the prompt had it
        return tok.decode([t for k, t in enumerate(ids) if t != image_id or k == 0 or ids[k - 1] != image_id])

    media = images()
    results = []
    for row, hf_messages in CONVERSATIONS:
        pictures = [media[i] for i in row["images"]]
        ours = template.encode({**row, "images": pictures}, add_generation_prompt=True)
        text = text_of(ours["input_ids"])
        theirs = processor(text=[text], images=pictures, return_tensors="pt", add_special_tokens=False)
        inputs = {k: v for k, v in theirs.items() if k not in ("input_ids", "attention_mask")}
        same_media = bool(inputs) and all(
            k in ours and torch.equal(torch.as_tensor(ours[k]).reshape(v.shape), v) for k, v in inputs.items()
        )
        official = processor.apply_chat_template(_listed(hf_messages), add_generation_prompt=True, tokenize=False)
        official_ids = processor(text=[official], images=pictures, return_tensors="pt")["input_ids"][0].tolist()
        results.append({
            "ids": ours["input_ids"] == theirs["input_ids"][0].tolist(), "media": same_media, "keys": sorted(inputs),
            "image_tokens": ours["input_ids"].count(image_id), "ours": text, "official": text_of(official_ids),
            "official_image_tokens": official_ids.count(image_id),
        })  # fmt: skip
    row = {"messages": [{"role": "user", "content": "<image>Colour?"}, {"role": "assistant", "content": "red"}]}
    train = get_template(args, processor, info, mode="train").encode({**row, "images": [media[0]]})
    labelled = [t for t, lab in zip(train["input_ids"], train["labels"]) if lab != -100]
    return {"prompts": results, "labelled": tok.decode(labelled), "model_type": info.model_type}


def batched(folder: str) -> list:
    """Two rows whose images have different tile counts (1 and 2 tiles), batched by the template's collator:
    each row's logits against the row alone (the largest difference per row)."""
    import torch
    from PIL import Image
    from swiftk.api import get_template, load_model_and_processor
    from swiftk.cli.builtin import resolve_arguments
    from transformers import AutoModelForImageTextToText

    args = resolve_arguments("infer", ["--model", folder])
    _, processor, info = load_model_and_processor(args, load_model=False)
    template = get_template(args, processor, info, mode="train")
    rows = [
        {"messages": [{"role": "user", "content": "<image>Hi"}, {"role": "assistant", "content": "Yo"}],
         "images": [Image.new("RGB", size, colour)]}
        for size, colour in (((28, 28), (255, 0, 0)), ((112, 28), (0, 0, 255)))
    ]  # fmt: skip
    encoded = [template.encode(row) for row in rows]
    model = AutoModelForImageTextToText.from_pretrained(folder).eval()

    def logits(batch: dict) -> torch.Tensor:
        with torch.no_grad():
            return model(**{k: v for k, v in batch.items() if k not in ("labels", "loss_scale", "length")}).logits

    both = logits(template.data_collator(encoded))
    out = []
    for i, row in enumerate(encoded):
        alone = logits(template.data_collator([row]))[0]
        out.append(float((both[i, : alone.shape[0]] - alone).abs().max()))
    return out


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(globals()[sys.argv[1]](*sys.argv[2:])))
