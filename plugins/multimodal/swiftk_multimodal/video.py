"""Frames of a video as the Qwen-VL families read them (qwen-vl-utils, which ms-swift uses): sampled at
``FPS`` frames per second, between ``FPS_MIN_FRAMES`` and ``FPS_MAX_FRAMES`` and an even count, each frame
resized to multiples of 28 pixels with at least ``VIDEO_MIN_PIXELS`` and at most ``VIDEO_MAX_PIXELS`` pixels,
the whole video within ``VIDEO_TOTAL_PIXELS``. The processor then takes the frames as they are
(``do_resize=False``), as ms-swift calls it.

The parameters come from ``--model_kwargs`` or the environment (the page's defaults below)."""

from __future__ import annotations

import io
import math
from typing import Any, Optional

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


def decode(value: Any) -> tuple[list, Optional[float]]:
    """``(frames, frames per second)``: a file decoded by PyAV, or a list of images (no rate)."""
    from swiftk_multimodal.media import MediaError, _bytes_of, load_image

    if isinstance(value, (list, tuple)):
        return [load_image(v) for v in value], None
    try:
        import av
    except ImportError:
        raise MediaError("reading a video file needs PyAV: pip install swift-plugin-multimodal[video]") from None
    with av.open(io.BytesIO(_bytes_of(value, "video"))) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate) if stream.average_rate else None
        frames = [frame.to_image().convert("RGB") for frame in container.decode(video=0)]
    if not frames:
        raise MediaError("a video without frames")
    return frames, rate


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


def qwen_vl_frames(value: Any) -> list:
    """The frames of a video, sampled and resized as the Qwen-VL families read them."""
    frames, rate = decode(value)
    count = frame_count(len(frames), rate)
    if rate is None:
        chosen = frames + [frames[-1]] * (count - len(frames))
    else:
        step = (len(frames) - 1) / max(count - 1, 1)
        chosen = [frames[round(i * step)] for i in range(count)]
    low = _param("VIDEO_MIN_PIXELS")
    pair = _param("FRAME_FACTOR")
    high = max(min(_param("VIDEO_MAX_PIXELS"), _param("VIDEO_TOTAL_PIXELS") / count * pair), int(low * 1.05))
    height, width = smart_size(chosen[0].height, chosen[0].width, low, int(high))
    return [frame.resize((width, height)) for frame in chosen]
