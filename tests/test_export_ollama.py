"""``swiftk export --to_ollama true`` (later ms-swift): the Modelfile's Go template, evaluated here for the three
fields it uses, formats conversations exactly as the run's own chat template does; what cannot go with it is one
line before anything loads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kernel_support import one_line_error


def evaluate(body: str, system: str, prompt: str, response: str) -> str:
    """The Modelfile TEMPLATE's value for .System, .Prompt and .Response (the if/else/end forms it uses)."""

    def branch(match: re.Match) -> str:
        field, then, otherwise = match.group(1), match.group(2), match.group(4) or ""
        return then if {"System": system, "Prompt": prompt}[field] else otherwise

    out = re.sub(r"\{\{ if \.(System|Prompt) \}\}(.*?)(\{\{ else \}\}(.*?))?\{\{ end \}\}", branch, body, flags=re.S)
    return out.replace("{{ .System }}", system).replace("{{ .Prompt }}", prompt).replace("{{ .Response }}", response)


def test_the_modelfile_formats_chats_as_the_template_does(swiftk, tmp_path):
    out = tmp_path / "ollama"
    result = swiftk("export", "--model", "swiftk/tiny-chat", "--to_ollama", "true", "--temperature", "0.3",
                    "--output_dir", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    text = (out / "Modelfile").read_text()
    lines = text.splitlines()
    assert lines[0].startswith("FROM /") and Path(lines[0][5:], "config.json").is_file()
    body = re.search(r'TEMPLATE """(.*?)"""', text, re.S).group(1)
    assert "PARAMETER temperature 0.3" in lines and any(line.startswith("PARAMETER stop ") for line in lines)

    from swiftk.cli.builtin import resolve_arguments
    from swiftk.pipelines.model import get_template, load_model_and_processor
    from swiftk.testing import HostScope

    with HostScope(autoload=True):
        args = resolve_arguments("sft", ["--model", "swiftk/tiny-chat"])
        _, processor, info = load_model_and_processor(args, load_model=False)
        template = get_template(args, processor, info, mode="train")
        for system in ("You answer in French.", None):
            messages = ([{"role": "system", "content": system}] if system else []) + [
                {"role": "user", "content": "What is 2 + 2?"},
                {"role": "assistant", "content": "4"},
            ]
            assert evaluate(body, system or "", "What is 2 + 2?", "4") == template.render({"messages": messages})


@pytest.mark.parametrize(
    "argv, says",
    [
        (("--quant_method", "bnb", "--quant_bits", "4"), "--to_ollama with --quant_method bnb"),
        (("--adapters", "some-checkpoint"), "Ollama loads a merged model; add --merge_lora true"),
    ],
)
def test_what_cannot_go_with_it_is_one_line(swiftk, tmp_path, argv, says):
    result = swiftk("export", "--model", "swiftk/tiny-chat", "--to_ollama", "true", *argv,
                    "--output_dir", str(tmp_path / "o"))  # fmt: skip
    assert says in one_line_error(result)
    assert not (tmp_path / "o").exists()
