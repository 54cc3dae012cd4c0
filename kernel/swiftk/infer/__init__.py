"""The inference interface every engine implements (pt, vllm, lmdeploy, ...), and its data types.

OpenAI-shaped on purpose: the server returns these objects as JSON unchanged.
"""

from swiftk.infer.protocol import (
    ChatCompletionResponse,
    ChatCompletionStreamResponse,
    Choice,
    InferError,
    InferRequest,
    RequestConfig,
    StreamChoice,
    Usage,
)
from swiftk.infer.engine import InferEngine

__all__ = [
    "ChatCompletionResponse",
    "ChatCompletionStreamResponse",
    "Choice",
    "InferEngine",
    "InferError",
    "InferRequest",
    "RequestConfig",
    "StreamChoice",
    "Usage",
]
