"""Media of a row: ms-swift's ``<image>``/``<video>``/``<audio>`` tags with ``images``/``videos``/``audios``
columns, or OpenAI content parts (``image_url``, ``input_audio``), made into one form: text with tags, and
the media loaded (PIL images; videos as lists of frames; audio as float arrays).

An image is a path, a ``file://`` URL, a data URL or bare base64, raw bytes, ``{"bytes"|"path": ...}`` (a
``datasets`` Image), or a PIL image. Remote URLs are refused offline (``HF_HUB_OFFLINE``), as nothing may be
downloaded there.
"""

from __future__ import annotations

import base64
import io
import os
import re
from typing import Any, Optional

TAGS = {"image": "<image>", "video": "<video>", "audio": "<audio>"}
COLUMNS = {"image": "images", "video": "videos", "audio": "audios"}
_TAG = re.compile(r"<(image|video|audio)>")


class MediaError(ValueError):
    """A row whose media cannot be used (the data pipeline names its file and line)."""


def _bytes_of(value: Any, kind: str) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, dict):
        if value.get("bytes"):
            return value["bytes"]
        if value.get("path"):
            return _bytes_of(value["path"], kind)
        if value.get("url"):
            return _bytes_of(value["url"], kind)
        raise MediaError(f"an {kind} given as a mapping needs 'bytes', 'path' or 'url'")
    if not isinstance(value, str):
        raise MediaError(f"an {kind} must be a path, a URL, base64 or bytes, got {type(value).__name__}")
    if value.startswith("data:"):
        try:
            return base64.b64decode(value.split(",", 1)[1])
        except (IndexError, ValueError):
            raise MediaError(f"a malformed data URL for an {kind}") from None
    if value.startswith(("http://", "https://")):
        from swiftk_models.hub import offline

        if offline():
            raise MediaError(f"the {kind} {value} is a remote URL, and this run is offline (HF_HUB_OFFLINE=1)")
        import urllib.request

        with urllib.request.urlopen(value, timeout=60) as response:
            return response.read()
    path = value[len("file://") :] if value.startswith("file://") else value
    path = os.path.expanduser(path)
    if os.path.isfile(path):
        with open(path, "rb") as f:
            return f.read()
    if len(value) > 200 and re.fullmatch(r"[A-Za-z0-9+/=\s]+", value[:400]):
        try:
            return base64.b64decode(value)
        except ValueError:
            pass
    raise MediaError(f"the {kind} file {value} does not exist")


def load_image(value: Any) -> Any:
    """A PIL image in RGB."""
    from PIL import Image

    if isinstance(value, Image.Image):
        return value.convert("RGB")
    try:
        image = Image.open(io.BytesIO(_bytes_of(value, "image")))
        image.load()
    except MediaError:
        raise
    except Exception as exc:
        raise MediaError(f"an image that PIL cannot read ({exc})") from None
    return image.convert("RGB")


def load_video(value: Any, max_frames: int = 16) -> list:
    """A video as a list of PIL frames: decoded by PyAV from a file, or given as a list of images."""
    if isinstance(value, (list, tuple)):
        return [load_image(v) for v in value]
    try:
        import av
    except ImportError:
        raise MediaError("reading a video file needs PyAV: pip install swift-plugin-multimodal[video]") from None
    data = _bytes_of(value, "video")
    with av.open(io.BytesIO(data)) as container:
        frames = [frame.to_image() for frame in container.decode(video=0)]
    if not frames:
        raise MediaError("a video without frames")
    step = max(1, len(frames) // max_frames)
    return frames[::step][:max_frames]


def load_audio(value: Any, sampling_rate: int = 16000) -> Any:
    """A mono float32 array at ``sampling_rate``: a WAV file at that rate is read by the standard library; any
    other file (mp3, flac, ogg, m4a, a WAV at another rate) is decoded and resampled by PyAV (FFmpeg), as
    ms-swift's librosa would load it; an array is taken as it is."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.astype("float32")
    data = _bytes_of(value, "audio")
    if data[:4] == b"RIFF":
        samples = _read_wav(data, sampling_rate)
        if samples is not None:
            return samples
    return _decode_audio(data, sampling_rate)


def _read_wav(data: bytes, sampling_rate: int) -> Any:
    """The samples of a PCM WAV at ``sampling_rate``, mono; None when it needs resampling or is not PCM."""
    import wave

    import numpy as np

    try:
        with wave.open(io.BytesIO(data)) as w:
            rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
            raw = w.readframes(w.getnframes())
    except (wave.Error, EOFError):
        return None
    if rate != sampling_rate or width not in (1, 2, 4):
        return None
    dtype = {1: np.uint8, 2: np.int16, 4: np.int32}[width]
    samples = np.frombuffer(raw, dtype=dtype).astype("float32")
    samples = (samples - 128.0) / 128.0 if width == 1 else samples / float(np.iinfo(dtype).max)
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    return samples


def _decode_audio(data: bytes, sampling_rate: int) -> Any:
    """Decode any audio FFmpeg reads to mono float32 at ``sampling_rate`` (PyAV's resampler)."""
    import numpy as np

    try:
        import av
    except ImportError:
        raise MediaError(
            f"reading audio other than a WAV at {sampling_rate} Hz needs PyAV: pip install swift-plugin-multimodal[video]"
        ) from None
    resampler = av.AudioResampler(format="flt", layout="mono", rate=sampling_rate)
    chunks = []
    try:
        with av.open(io.BytesIO(data)) as container:
            if not container.streams.audio:
                raise MediaError("an audio file without an audio stream")
            for frame in container.decode(audio=0):
                chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
            chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    except MediaError:
        raise
    except Exception as exc:
        raise MediaError(f"an audio file that FFmpeg cannot read ({exc})") from None
    if not chunks:
        raise MediaError("an audio file without samples")
    return np.concatenate(chunks).astype("float32")


def openai_parts(messages: list[dict]) -> tuple[list[dict], dict[str, list]]:
    """OpenAI content parts (``image_url``, ``video_url``, ``input_audio``) as tags in text, and the media
    they name, in order."""
    media: dict[str, list] = {"image": [], "video": [], "audio": []}
    out = []
    for message in messages:
        content = message.get("content")
        if not isinstance(content, list):
            out.append(message)
            continue
        text = []
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if isinstance(part, str):
                text.append(part)
            elif kind == "text":
                text.append(part.get("text") or "")
            elif kind in ("image_url", "image"):
                url = part.get("image_url") or part.get("image")
                media["image"].append(url.get("url") if isinstance(url, dict) else url)
                text.append(TAGS["image"])
            elif kind in ("video_url", "video"):
                url = part.get("video_url") or part.get("video")
                media["video"].append(url.get("url") if isinstance(url, dict) else url)
                text.append(TAGS["video"])
            elif kind in ("input_audio", "audio_url", "audio"):
                audio = part.get("input_audio") or part.get("audio_url") or part.get("audio")
                if isinstance(audio, dict) and "data" in audio:
                    audio = "data:audio/wav;base64," + audio["data"]
                elif isinstance(audio, dict):
                    audio = audio.get("url")
                media["audio"].append(audio)
                text.append(TAGS["audio"])
            else:
                raise MediaError(f"a content part of type '{kind}' (text, image_url, video_url, input_audio are read)")
        out.append({**message, "content": "".join(text)})
    return out, media


def media_of(row: dict) -> tuple[list[dict], dict[str, list]]:
    """The row's messages with tags for every medium, and its media (columns first, then content parts),
    checked: as many tags as media; media without tags go, as ms-swift puts them, in front of the first
    user message."""
    messages, parts = openai_parts(list(row.get("messages") or []))
    media = {kind: list(row.get(COLUMNS[kind]) or []) + parts[kind] for kind in TAGS}
    counts = {
        kind: sum(len(re.findall(re.escape(TAGS[kind]), m.get("content") or "")) for m in messages) for kind in TAGS
    }
    for kind, tag in TAGS.items():
        have, tagged = len(media[kind]), counts[kind]
        if tagged > have:
            raise MediaError(f"{tagged} {tag} tags but {have} {COLUMNS[kind]}")
        if tagged < have:
            first = next((i for i, m in enumerate(messages) if m.get("role") == "user"), None)
            if first is None:
                raise MediaError(f"{have} {COLUMNS[kind]} and no user message to put them in")
            messages[first] = {
                **messages[first],
                "content": tag * (have - tagged) + (messages[first].get("content") or ""),
            }
    return messages, media


def split_tags(text: str) -> list[tuple[Optional[str], str]]:
    """``text`` as (kind, "") for each tag and (None, text) for the text between them."""
    out: list[tuple[Optional[str], str]] = []
    at = 0
    for match in _TAG.finditer(text):
        if match.start() > at:
            out.append((None, text[at : match.start()]))
        out.append((match.group(1), ""))
        at = match.end()
    if at < len(text):
        out.append((None, text[at:]))
    return out
