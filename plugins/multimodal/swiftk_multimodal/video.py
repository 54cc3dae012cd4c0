"""Frames of a video as the Qwen-VL families read them (qwen-vl-utils, which ms-swift uses): sampled at
``FPS`` frames per second, between ``FPS_MIN_FRAMES`` and ``FPS_MAX_FRAMES`` and an even count, each frame
resized to multiples of 28 pixels with at least ``VIDEO_MIN_PIXELS`` and at most ``VIDEO_MAX_PIXELS`` pixels,
the whole video within ``VIDEO_TOTAL_PIXELS``. The processor then takes the frames as they are
(``do_resize=False``), as ms-swift calls it.

The parameters come from ``--model_kwargs`` or the environment (the page's defaults below)."""

from __future__ import annotations

import io
import math
from typing import Any, Callable, Optional

#: the page's defaults (特定模型参数, qwen2_vl / qwen2_5_vl / qvq)
DEFAULTS = {
    "VIDEO_MIN_PIXELS": 128 * 28 * 28,
    "VIDEO_MAX_PIXELS": 768 * 28 * 28,
    "VIDEO_TOTAL_PIXELS": 24576 * 28 * 28,
    "FPS": 2.0,
    "FPS_MIN_FRAMES": 4,
    "FPS_MAX_FRAMES": 768,
    "IMAGE_FACTOR": 28,  # patch 14 x merge 2: sides are multiples of it
    "FRAME_FACTOR": 2,  # frames go to the vision tower in pairs (temporal patch)
    "MAX_RATIO": 200,
}


def _param(name: str) -> Any:
    from swiftk.api import get_model_arg

    default = DEFAULTS[name]
    return get_model_arg(name, default, type=type(default))


def decode(
    value: Any, pick: Optional[Callable[[int, float], list]] = None
) -> tuple[list, Optional[float], Optional[list]]:
    """``(frames, frames per second, order)``: a file decoded by PyAV, or a list of images (no rate). With
    ``pick(total, rate)`` and a stream that states its frame count, only the picked frames are kept (each
    once, in stream order) and ``order`` is what ``pick`` returned; else ``order`` is None. So a long video
    is not held in memory whole."""
    from swiftk_multimodal.media import MediaError, _bytes_of, load_image

    if isinstance(value, (list, tuple)):
        return [load_image(v) for v in value], None, None
    try:
        import av
    except ImportError:
        raise MediaError("reading a video file needs PyAV: pip install swift-plugin-multimodal[video]") from None
    with av.open(io.BytesIO(_bytes_of(value, "video"))) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate) if stream.average_rate else None
        stream_frames = stream.frames
        order = list(pick(stream_frames, rate)) if pick and stream_frames and rate else None
        wanted = set(order) if order is not None else None
        frames, seen = [], 0
        for frame in container.decode(video=0):
            if wanted is None or seen in wanted:
                frames.append(frame.to_image().convert("RGB"))
            seen += 1
    if not frames:
        raise MediaError("a video without frames")
    if order is not None and seen < stream_frames:  # the stream held fewer frames than it said
        order = [i for i in order if i < seen]
    return frames, rate, order


def frame_count(total: int, rate: Optional[float]) -> int:
    """How many frames qwen-vl-utils samples of ``total`` frames at ``rate`` frames per second."""
    pair = _param("FRAME_FACTOR")
    if rate is None:  # frames given as images: all of them, rounded up to a pair
        return math.ceil(total / pair) * pair
    low = math.ceil(_param("FPS_MIN_FRAMES") / pair) * pair
    high = math.floor(min(_param("FPS_MAX_FRAMES"), total) / pair) * pair
    wanted = total / rate * _param("FPS")
    count = min(min(max(wanted, low), high), total)
    count = math.floor(count / pair) * pair
    if not pair <= count <= max(total, pair):
        from swiftk_multimodal.media import MediaError

        raise MediaError(f"a video of {total} frames gives {count} frames at FPS {_param('FPS')}")
    return count


def smart_size(height: int, width: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """Height and width rounded to multiples of IMAGE_FACTOR, scaled into ``[min_pixels, max_pixels]``, the
    aspect ratio kept (at most MAX_RATIO)."""
    factor, ratio = _param("IMAGE_FACTOR"), _param("MAX_RATIO")
    if max(height, width) / min(height, width) > ratio:
        from swiftk_multimodal.media import MediaError

        raise MediaError(f"a video frame of {width}x{height}: the aspect ratio must be at most MAX_RATIO {ratio}")
    h = max(factor, round(height / factor) * factor)
    w = max(factor, round(width / factor) * factor)
    if h * w > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h = max(factor, math.floor(height / beta / factor) * factor)
        w = max(factor, math.floor(width / beta / factor) * factor)
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return h, w


def picked_indices(total: int, rate: float) -> list:
    """The frames qwen-vl-utils takes of ``total`` frames at ``rate`` frames per second: evenly spread."""
    count = frame_count(total, rate)
    step = (total - 1) / max(count - 1, 1)
    return [round(i * step) for i in range(count)]


def qwen_vl_frames(value: Any) -> list:
    """The frames of a video, sampled and resized as the Qwen-VL families read them."""
    frames, rate, order = decode(value, pick=picked_indices)
    if rate is None:  # frames given as images (or a stream without a rate): all of them, in pairs
        chosen = frames + [frames[-1]] * (frame_count(len(frames), None) - len(frames))
    elif order is not None:
        chosen = in_order(frames, order)
    else:  # the stream did not state its length: every frame was decoded, now pick
        chosen = [frames[i] for i in picked_indices(len(frames), rate)]
    low = _param("VIDEO_MIN_PIXELS")
    pair = _param("FRAME_FACTOR")
    high = max(min(_param("VIDEO_MAX_PIXELS"), _param("VIDEO_TOTAL_PIXELS") / len(chosen) * pair), int(low * 1.05))
    height, width = smart_size(chosen[0].height, chosen[0].width, low, int(high))
    return [frame.resize((width, height)) for frame in chosen]


def seconds_per_grid(processor: Any) -> float:
    """Seconds one temporal grid of the sampled frames spans (Qwen2.5-VL's ``second_per_grid_ts``): the
    frames of a grid over the sampling rate, ``temporal_patch_size / FPS``, as ms-swift sets it (the
    processor, given bare frames, would assume 24 frames per second)."""
    video_processor = getattr(processor, "video_processor", None) or getattr(processor, "image_processor", None)
    return getattr(video_processor, "temporal_patch_size", 2) / _param("FPS")


def in_order(kept: list, order: list) -> list:
    """The frames ``order`` names (repeats included), from ``kept``: each picked frame once, in stream order."""
    lookup = dict(zip(sorted(set(order)), kept))
    return [lookup[i] for i in order if i in lookup]
