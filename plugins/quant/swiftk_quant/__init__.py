"""swift-plugin-quant: every ``--quant_method``, as a model loads (bnb, hqq, eetq) and as ``swiftk export``
writes it (gptq, awq, bnb, fp8, w8a8)."""

import logging


class _OnceFilter(logging.Filter):
    """bitsandbytes' int8 matmul logs, at every layer of every forward, that it casts float32 inputs to
    float16: said once, it is information; said per token, it buries the answers."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set = set()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.msg, record.args)
        if key in self.seen:
            return False
        self.seen.add(key)
        return True


logging.getLogger("bitsandbytes.autograd._functions").addFilter(_OnceFilter())
