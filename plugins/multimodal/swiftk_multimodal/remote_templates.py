"""Templates and loader of the families that need the checkpoint's own (remote) code: ms-swift's text form,
its ``auto_add_bos``, and the media handling that can be done without that code.

* :class:`InternVLTemplate` (the original InternVL: internvl, internvl2, internvl2_5) does InternVL's own
  preprocessing in plain PIL/numpy/torch: each image is tiled into ``INPUT_SIZE`` squares (the grid whose
  aspect ratio is closest to the image's, at most ``MAX_NUM`` tiles) plus a thumbnail when there is more
  than one tile, normalised with ImageNet's mean and std; each tile is 256 ``<IMG_CONTEXT>`` tokens between
  ``<img>`` and ``</img>``. A video is ``VIDEO_SEGMENTS`` frames, ``Frame{i}: <img>...</img>``, each at most
  ``VIDEO_MAX_NUM`` tiles. This is what ms-swift's ``InternvlTemplate``/``Internvl2Template`` produce.
* :class:`RemoteCodeTemplate` (MiniCPM-V/o, Ovis, mPLUG-Owl3, InternLM-XComposer, CogVLM2-Video, Phi-3-vision,
  LLaMA-Omni): the text form only. Their media become tokens through the checkpoint's remote processor and
  the model's own embedding merge (ms-swift's ``_post_encode``, which calls the model inside the template),
  which swift-kernel does not run: a row with media is refused with one line.

Neither was run against the real checkpoints here (their code is not on this machine): see
docs/multimodal.md, "Families that need remote code".
"""

from __future__ import annotations

from typing import Any, Optional

from swiftk_models.encoding import CONTEXT, Segment

from swiftk_multimodal.media import MediaError, load_image, load_video, split_tags
from swiftk_multimodal.template import ProcessorTemplate

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: tokens per InternVL tile (448 / 14 patches, squared, pixel-shuffled by 0.5: ms-swift's num_image_token)
INTERNVL_TILE_TOKENS = 256


def env_arg(name: str, default: Any) -> Any:
    """A model-specific parameter (``--model_kwargs`` or the environment), as ms-swift's ``get_env_args``."""
    from swiftk.api import get_model_arg

    return get_model_arg(name, default)


def auto_bos(tokenizer: Any) -> list:
    """ms-swift's ``auto_add_bos``: the ids the tokenizer itself puts before a text (its BOS, if it adds one)."""
    full = tokenizer("a")["input_ids"]
    single = tokenizer("a", add_special_tokens=False)["input_ids"]
    if len(single) != 1 or single[0] not in full:
        return []
    return list(full[: full.index(single[0])])


class RemoteTemplateBase(ProcessorTemplate):
    """ms-swift's ``auto_add_bos`` (``TemplateMeta.auto_add_bos``): the BOS the tokenizer adds goes first."""

    def render_head(self, system: Optional[str], tools: list) -> list:
        segs = super().render_head(system, tools)
        if getattr(self.meta, "auto_add_bos", False):
            bos = auto_bos(self.tokenizer)
            if bos:
                segs = [Segment(bos, CONTEXT)] + segs
        return segs


class RemoteCodeTemplate(RemoteTemplateBase):
    """Text rows as ms-swift renders them; rows with media refused (see the module docstring)."""

    def _expand(self, text: str, ids: list, labels: Optional[list], scale: Optional[list], media: dict) -> dict:
        kinds = [k for k, v in media.items() if v]
        if kinds:
            from swiftk.api import UsageError

            raise UsageError(
                f"template {self.template_type}: {'/'.join(kinds)} input needs the checkpoint's remote code "
                f"processor and the model's own embedding merge (ms-swift's _post_encode), which swift-kernel "
                f"does not run; not tested here (text-only rows are encoded)"
            )
        return super()._expand(text, ids, labels, scale, media)


# -- InternVL's preprocessing (plain PIL / numpy / torch) ---------------------------------------------------
def closest_aspect_ratio(aspect: float, ratios: list, width: int, height: int, size: int) -> tuple:
    best, best_diff = (1, 1), float("inf")
    area = width * height
    for ratio in ratios:
        diff = abs(aspect - ratio[0] / ratio[1])
        if diff < best_diff:
            best_diff, best = diff, ratio
        elif diff == best_diff and area > 0.5 * size * size * ratio[0] * ratio[1]:
            best = ratio
    return best


def internvl_tiles(image: Any, max_num: int = 12, size: int = 448, min_num: int = 1) -> list:
    """The tiles of ``image``: the grid (cols, rows) closest to its aspect ratio with ``min_num..max_num``
    tiles, each ``size`` square, then a thumbnail of the whole image when there is more than one tile."""
    width, height = image.size
    ratios = sorted(
        {
            (i, j)
            for n in range(min_num, max_num + 1)
            for i in range(1, n + 1)
            for j in range(1, n + 1)
            if min_num <= i * j <= max_num
        },
        key=lambda r: r[0] * r[1],
    )
    cols, rows = closest_aspect_ratio(width / height, ratios, width, height, size)
    resized = image.resize((size * cols, size * rows))
    tiles = [resized.crop(((k % cols) * size, (k // cols) * size, (k % cols + 1) * size, (k // cols + 1) * size))
             for k in range(cols * rows)]  # fmt: skip
    if len(tiles) != 1:
        tiles.append(image.resize((size, size)))
    return tiles


def internvl_pixels(image: Any, max_num: int = 12, size: int = 448) -> Any:
    """``(tiles, 3, size, size)`` float32: each tile resized (bicubic) to ``size``, scaled to [0, 1] and
    normalised with ImageNet's mean and std (torchvision's Resize/ToTensor/Normalize on a PIL image)."""
    import numpy as np
    import torch
    from PIL import Image

    mean = np.asarray(IMAGENET_MEAN, dtype=np.float32)[:, None, None]
    std = np.asarray(IMAGENET_STD, dtype=np.float32)[:, None, None]
    out = []
    for tile in internvl_tiles(image.convert("RGB"), max_num, size):
        tile = tile.resize((size, size), Image.BICUBIC)
        array = np.asarray(tile, dtype=np.uint8).transpose(2, 0, 1).astype(np.float32) / 255.0
        out.append(torch.from_numpy((array - mean) / std))
    return torch.stack(out)


def internvl_frame_indices(num_frames: int, segments: int) -> list:
    """InternVL's ``get_index`` without bounds: the middle frame of each of ``segments`` equal segments."""
    import numpy as np

    last = num_frames - 1
    seg = float(last) / segments
    return [int(seg / 2 + np.round(seg * k)) for k in range(segments)]


class InternVLTemplate(RemoteTemplateBase):
    """The original InternVL (``InternVLChatModel``, remote code): tiles and ``<IMG_CONTEXT>`` tokens made here.

    ``extra["internvl_version"]``: ``"1.5"`` (ms-swift's ``internvl``: every image's tokens go in one block
    at the first ``<image>``, as its InternvlTemplate does; no video) or ``"2"`` (internvl2, internvl2_5: one
    block per image, videos as frames)."""

    IMAGE = "<img><IMG_CONTEXT></img>\n"

    def __init__(self, processor: Any, template_meta: Any = None, **kwargs: Any):
        super().__init__(processor, template_meta, **kwargs)
        self.version = str(self.meta.extra.get("internvl_version", "2"))
        self.placeholders = {"image": self.IMAGE}
        if self.version != "1.5":
            self.placeholders["video"] = "<video>"  # written per video (its frames), see _with_placeholders
        self._order: list = []

    def encode(self, row: dict, add_generation_prompt: bool = False) -> dict:
        self._order = []
        return super().encode(row, add_generation_prompt)

    def _with_placeholders(self, seg: Segment) -> Segment:
        if not seg.is_text or "<" not in seg.content:
            return seg
        parts = []
        for kind, text in split_tags(seg.content):
            if kind is None:
                parts.append(text)
            elif kind == "image":
                self._order.append(kind)
                parts.append(self.IMAGE)
            else:  # a video: VIDEO_SEGMENTS frames (ms-swift's replace_video2image)
                self._order.append(kind)
                n = int(env_arg("VIDEO_SEGMENTS", 8))
                parts.append("".join(f"Frame{i + 1}: {self.IMAGE}" for i in range(n)))
        import dataclasses

        return dataclasses.replace(seg, content="".join(parts))

    def _pictures(self, media: dict) -> list:
        """Images and video frames in the order of their tags."""
        images, videos = list(media.get("image") or []), list(media.get("video") or [])
        n = int(env_arg("VIDEO_SEGMENTS", 8))
        out = []
        for kind in self._order:
            if kind == "image":
                out.append(self._bounded(load_image(images.pop(0))))
            else:
                frames = load_video(videos.pop(0), max_frames=10**9)
                out += [self._bounded(frames[k]) for k in internvl_frame_indices(len(frames), n)]
        return out

    def _expand(self, text: str, ids: list, labels: Optional[list], scale: Optional[list], media: dict) -> dict:
        base = {"input_ids": ids, "labels": labels, "loss_scale": scale, "length": len(ids)}
        if not any(media.values()):
            return base
        import torch

        if len(self._order) != sum(len(v) for v in media.values()):
            raise MediaError(f"template {self.template_type}: {len(self._order)} media tags for the row's media")
        size = int(env_arg("INPUT_SIZE", 448))
        max_num = int(env_arg("MAX_NUM", 12))
        if media.get("video"):
            max_num = int(env_arg("VIDEO_MAX_NUM", 1))  # for every picture of the row, as ms-swift does
        pixels = [internvl_pixels(p, max_num, size) for p in self._pictures(media)]
        counts = [p.shape[0] for p in pixels]
        ctx = self.tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>")
        at = [k for k, t in enumerate(ids) if t == ctx]
        if len(at) != len(counts):
            raise ValueError(
                f"template {self.template_type}: {len(at)} <IMG_CONTEXT> placeholders for {len(counts)} pictures"
            )
        if self.version == "1.5":  # one block at the first tag, up to the last one (ms-swift's InternvlTemplate)
            spans = [(at[0], at[-1] + 1, sum(counts))]
        else:
            spans = [(k, k + 1, n) for k, n in zip(at, counts)]
        new_ids, new_labels, new_scale = [], [] if labels is not None else None, [] if scale is not None else None
        prev = 0
        for start, end, n in spans:
            width = INTERNVL_TILE_TOKENS * n
            new_ids += ids[prev:start] + [ctx] * width
            if new_labels is not None:
                new_labels += labels[prev:start] + [-100] * width
            if new_scale is not None:
                new_scale += scale[prev:start] + [0.0] * width
            prev = end
        new_ids += ids[prev:]
        if new_labels is not None:
            new_labels += labels[prev:]
        if new_scale is not None:
            new_scale += scale[prev:]
        pixel_values = torch.cat(pixels)
        out = {
            "input_ids": new_ids,
            "labels": new_labels,
            "loss_scale": new_scale,
            "length": len(new_ids),
            "pixel_values": pixel_values,
        }
        if self.mode != "infer":  # InternVLChatModel.forward takes image_flags; its generate does not
            out["image_flags"] = torch.ones(pixel_values.shape[0], 1, dtype=torch.long)
        return out

    def data_collator(self, batch: list, padding_to: Optional[int] = None) -> dict:
        """As the multimodal collator; a training batch without pictures gets one blank tile with
        ``image_flags`` 0 (InternVL's own fine-tuning recipe: its ``forward`` needs ``pixel_values``)."""
        import torch

        out = super().data_collator(batch, padding_to)
        if "pixel_values" not in out and self.mode != "infer":
            size = int(env_arg("INPUT_SIZE", 448))
            out["pixel_values"] = torch.zeros(1, 3, size, size)
            out["image_flags"] = torch.zeros(1, 1, dtype=torch.long)
        return out


# -- loading ---------------------------------------------------------------------------------------------------
def load_remote(model_dir: str, model_info: Any, model_kwargs: dict, load_model: bool = True, **kwargs: Any):
    """``(model or None, processor)`` as ms-swift's loader of the family does, with ``trust_remote_code``:
    ``extra["remote"]`` of the model type says which processor (``AutoProcessor`` or ``AutoTokenizer``) and
    which auto class (``AutoModelForCausalLM`` unless named). Not run here (no remote code on this machine)."""
    import transformers

    meta = model_info.model_meta
    spec = dict((getattr(meta, "extra", None) or {}).get("remote") or {})
    model_type = meta.model_type
    kwargs = dict(model_kwargs)
    kwargs["trust_remote_code"] = True
    if spec.get("needs_repo"):
        return _load_omni(model_dir, kwargs, load_model, spec)
    if spec.get("processor") == "auto_processor":
        extra = {}
        if model_type == "phi3_vision":
            extra["num_crops"] = int(env_arg("NUM_CROPS", 4))
        processor = transformers.AutoProcessor.from_pretrained(model_dir, trust_remote_code=True, **extra)
        tokenizer = processor.tokenizer
    else:
        tokenizer = processor = transformers.AutoTokenizer.from_pretrained(model_dir, trust_remote_code=True)
    if model_type == "minicpmo2_6":
        config = transformers.AutoConfig.from_pretrained(model_dir, trust_remote_code=True)
        config.init_tts = _flag(env_arg("INIT_TTS", "false"))
        config.init_audio = _flag(env_arg("INIT_AUDIO", "false"))
        kwargs["config"] = config
    if not load_model:
        return None, processor
    auto = getattr(transformers, spec.get("auto_class") or "AutoModelForCausalLM")
    model = auto.from_pretrained(model_dir, **kwargs)
    if spec.get("internvl"):
        model.img_context_token_id = tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>")
        _cast_pixels(model.vision_model)
    if model_type == "mplug_owl3":
        processor = model.init_processor(tokenizer)
    return model, processor


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "y", "on")


def _cast_pixels(vision: Any) -> None:
    """Pixel values (float32 from the template) cast to the vision tower's dtype as it is called."""

    def hook(module: Any, args: tuple, kwargs: dict) -> tuple:
        dtype = next(module.parameters()).dtype
        args = tuple(a.to(dtype) if getattr(a, "is_floating_point", lambda: False)() else a for a in args)
        if kwargs.get("pixel_values") is not None:
            kwargs["pixel_values"] = kwargs["pixel_values"].to(dtype)
        return args, kwargs

    vision.register_forward_pre_hook(hook, with_kwargs=True)


def _load_omni(model_dir: str, kwargs: dict, load_model: bool, spec: dict):
    """LLaMA-Omni: its classes come from the LLaMA-Omni repository (``--local_repo_path``), as in ms-swift."""
    from swiftk.api import UsageError

    try:
        from omni_speech.model import OmniSpeech2SLlamaForCausalLM  # noqa: F401
    except ImportError:
        raise UsageError(
            f"--model {model_dir}: LLaMA-Omni's modelling code is its GitHub repository, not the checkpoint; "
            f"clone https://github.com/ictnlp/LLaMA-Omni and pass --local_repo_path (plus pip install "
            f"openai-whisper); not tested here"
        ) from None
    import os

    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir, trust_remote_code=True)
    if not load_model:
        return None, tokenizer
    config = transformers.AutoConfig.from_pretrained(model_dir, trust_remote_code=True)
    config.speech_encoder = os.path.join(model_dir, "large-v3.pt")
    return OmniSpeech2SLlamaForCausalLM.from_pretrained(model_dir, config=config, **kwargs), tokenizer
