"""``swiftk export --to_ollama true`` (later ms-swift; swift-plugin-models' argument): an Ollama ``Modelfile``.

Ollama imports a Hugging Face folder (``FROM``) and formats chats with a Go template (``TEMPLATE``).  The Go
template is read off the run's own chat template rather than written per family: a conversation of sentinel
strings (a system message, a query, an answer) is rendered as ``swiftk sft`` would render it, and the text around
the sentinels becomes the template's system prefix, the prefix without a system, the text between the query and
the answer, and the answer's suffix (also the first ``stop``).  The template's other stop words and the generation
arguments given (``--temperature``, ``--top_k``, ``--top_p``, ``--repetition_penalty``) become ``PARAMETER`` lines.
Adapters are merged first (``--merge_lora true``); a quantized export has no folder Ollama can import.
"""

from __future__ import annotations

import os
from typing import Any

from swiftk.errors import UsageError

#: our generation argument -> Ollama's PARAMETER name
_PARAMETERS = (
    ("temperature", "temperature"),
    ("top_k", "top_k"),
    ("top_p", "top_p"),
    ("repetition_penalty", "repeat_penalty"),
)
SYSTEM, QUERY, ANSWER = "\x1eSWIFTK_SYSTEM\x1e", "\x1eSWIFTK_QUERY\x1e", "\x1eSWIFTK_ANSWER\x1e"


def _split(text: str, what: str) -> tuple[str, str, str]:
    """``(before the query, between the query and the answer, after the answer)`` of a rendered conversation."""
    if text.count(QUERY) != 1 or text.count(ANSWER) != 1 or text.index(QUERY) > text.index(ANSWER):
        raise UsageError(f"--to_ollama: the template does not render {what} as one query then one answer")
    head, rest = text.split(QUERY)
    middle, tail = rest.split(ANSWER)
    return head, middle, tail


def go_template(template: Any) -> tuple[str, str]:
    """The Modelfile's ``TEMPLATE`` body and the answer's suffix (its first stop word)."""
    render = getattr(template, "render", None)
    if render is None:
        raise UsageError(
            f"--to_ollama: template {template.template_type} cannot render text to read a Go template from"
        )
    with_system = render({"messages": [{"role": "system", "content": SYSTEM}, _user(), _assistant()]})
    without = render({"messages": [_user(), _assistant()]})
    head_system, middle, suffix = _split(with_system, "a conversation with a system message")
    head_plain, middle_plain, _ = _split(without, "a conversation")
    if head_system.count(SYSTEM) != 1 or middle != middle_plain:
        raise UsageError(
            f"--to_ollama: template {template.template_type} places the system message where a Go template cannot"
        )
    body = (
        "{{ if .System }}" + head_system.replace(SYSTEM, "{{ .System }}") + "{{ else }}" + head_plain + "{{ end }}"
        "{{ if .Prompt }}{{ .Prompt }}" + middle + "{{ end }}{{ .Response }}" + suffix
    )
    return body, suffix


def _user() -> dict:
    return {"role": "user", "content": QUERY}


def _assistant() -> dict:
    return {"role": "assistant", "content": ANSWER}


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def modelfile(template: Any, model_dir: str, args: Any) -> str:
    body, suffix = go_template(template)
    if '"""' in body:
        raise UsageError('--to_ollama: the chat template contains """, which a Modelfile TEMPLATE cannot hold')
    lines = [f"FROM {os.path.abspath(model_dir)}", f'TEMPLATE """{body}"""']
    stops = [s for s in [suffix.strip(), *(getattr(template, "stop_words", None) or [])] if isinstance(s, str) and s]
    lines += [f'PARAMETER stop "{_quoted(s)}"' for s in dict.fromkeys(stops)]
    for ours, theirs in _PARAMETERS:
        if args.get(ours) is not None:
            lines.append(f"PARAMETER {theirs} {args.get(ours)}")
    return "\n".join(lines) + "\n"


def check(args: Any) -> None:
    """What cannot go with ``--to_ollama``, before anything loads."""
    if args.get("quant_method"):
        raise UsageError(
            f"--to_ollama with --quant_method {args.quant_method}: Ollama imports full-precision Hugging Face "
            f"folders (it quantizes on `ollama create --quantize`); drop one of them"
        )
    if args.get("adapters") and not args.get("merge_lora"):
        raise UsageError("--to_ollama with --adapters: Ollama loads a merged model; add --merge_lora true")


def write_modelfile(args: Any, model_dir: str) -> str:
    """``<output_dir>/Modelfile`` for ``model_dir`` (written atomically); its path."""
    from swiftk.io import atomic_write_text
    from swiftk.pipelines.model import get_template, load_model_and_processor

    _, processor, info = load_model_and_processor(args, load_model=False)
    template = get_template(args, processor, info, mode="train")
    text = modelfile(template, model_dir, args)
    os.makedirs(args.output_dir, exist_ok=True)
    path = os.path.join(args.output_dir, "Modelfile")
    atomic_write_text(path, text)
    print(f"[swiftk] Ollama Modelfile saved to {path}; then: ollama create NAME -f {path} && ollama run NAME")
    return path
