"""The template contract suite: the tests every ``--template`` name (ours or a third party's) should pass.

Subclass :class:`TemplateContract` in a test module and name the template; pytest collects the
inherited tests::

    from swiftk.testing.templates import TemplateContract

    class TestMyChat(TemplateContract):
        template = "my_chat"                       # a registered name
        plugins = ("my_templates/__init__.py",)    # only if not installed: files or modules to register
        special_tokens = ("<user>", "<bot>")       # tokens the template writes, if its TemplateMeta
                                                   # does not list them in extra["special_tokens"]

The template is built as the pipelines build it (``swiftk.api.get_template(args, tokenizer, None, mode)``
from ``--template NAME`` and :attr:`arguments`), on a tokenizer with no model: :attr:`tokenizer_path`
when set; else a tiny byte-level tokenizer (:func:`swiftk.testing.tiny.build_tiny_tokenizer`) with the
tokens of a registered model type whose default template this is (``ModelMeta.extra["tiny"]``), or the
tokenizer of such a model type's local folder (``Model.model_path``), or :attr:`tokens`; the template's
``extra["special_tokens"]`` and :attr:`special_tokens` are single tokens of it.  What the suite checks,
on a conversation of :attr:`turns` (the last answer carries a ``<think>`` block when the TemplateMeta
``is_thinking``):

1. the name is registered;
2. ``encode(row)`` returns ``input_ids`` and ``labels`` of equal length, each label -100 or the
   input id at its position, and at most one BOS in front;
3. the labels cover the answers only: one labelled span per assistant turn (every turn of a
   multi-turn conversation is trained), holding that answer's text, and no system or user text;
4. the last answer's span goes on to a stop word (the end-of-turn or EOS the model must learn to
   emit; not checked for a TemplateMeta whose ``suffix`` is empty); cutting any answer's decoded
   span at the first of ``stop_words`` gives back the answer, and the tokenizer's EOS is a stop word;
5. the generation prompt matches training: the ``infer``-mode encoding of the conversation up to its
   last user turn (and ``encode(row, add_generation_prompt=True)``) is a prefix of the training
   ``input_ids``, and the first token after it is labelled (all the model generates is trained);
6. a system prompt (the row's, else ``--system``, else the template's ``default_system``) is in the
   prompt, unless :attr:`supports_system` is false;
7. ``--max_length`` below the row's length: ``--truncation_strategy delete`` raises a ``ValueError``
   (the data pipeline drops the row), ``right`` keeps the first and ``left`` the last ``max_length``
   tokens, with labels cut alike; a row that fits is unchanged;
8. ``data_collator`` pads a batch to one width: labels with -100, an attention mask of the lengths,
   on the right for training and on the left in ``infer`` mode.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional, Sequence

import pytest

__all__ = ["TemplateContract"]

IGNORE = -100


class TemplateContract:
    """Inherit, set ``template``; see the module docstring."""

    template: str = ""
    plugins: Sequence[str] = ()
    arguments: Sequence[str] = ()
    tokenizer_path: Optional[str] = None
    tokens: Mapping[str, Any] = {"eos": "<|endoftext|>", "pad": "<|pad|>"}
    special_tokens: Sequence[str] = ()
    supports_system: bool = True
    system: str = "Answer the question, then stop."
    turns: Sequence[tuple[str, str]] = (
        ("What is the weather in Paris?", "It is sunny and 22 degrees."),
        ("Call the tool with the city name.", "The answer is 42."),
    )
    reasoning: str = "Thought: I should look it up."

    # -- fixtures (one host, tokenizer and pair of templates per class) -------------------------
    @pytest.fixture(scope="class")
    @classmethod
    def template_host(cls) -> Any:
        from swiftk.testing.plugins import host_with

        with host_with(cls.plugins) as host:
            yield host

    @pytest.fixture(scope="class")
    @classmethod
    def tokenizer(cls, template_host: Any) -> Any:
        return cls().build_tokenizer(template_host)

    @pytest.fixture(scope="class")
    @classmethod
    def train_template(cls, template_host: Any, tokenizer: Any) -> Any:
        return cls().make_template(tokenizer, "train")

    @pytest.fixture(scope="class")
    @classmethod
    def infer_template(cls, template_host: Any, tokenizer: Any) -> Any:
        return cls().make_template(tokenizer, "infer")

    # -- helpers (override to adapt) ------------------------------------------------------------
    def template_meta(self, host: Any) -> Any:
        """The registered TemplateMeta, or None when the name registers a template class."""
        from swiftk.api import TemplateMeta

        registry = host.registry("templates")
        obj = registry.get(self.template) if self.template in registry else None
        return obj if isinstance(obj, TemplateMeta) else None

    def build_tokenizer(self, host: Any) -> Any:
        """The tokenizer the templates are built on (see the module docstring)."""
        from swiftk.testing.tiny import build_tiny_tokenizer

        meta = self.template_meta(host)
        special = list((getattr(meta, "extra", None) or {}).get("special_tokens", [])) + list(self.special_tokens)
        if self.tokenizer_path:
            return self._load_tokenizer(self.tokenizer_path, special)
        tokens, folder = None, None
        models = host.registry("models")
        for name in sorted(models.names()):
            model = models.get(name)
            if getattr(model, "template", None) != self.template:
                continue
            tokens = tokens or ((getattr(model, "extra", None) or {}).get("tiny") or {}).get("tokens")
            for group in getattr(model, "model_groups", None) or []:
                for checkpoint in group.models:
                    path = checkpoint.model_path
                    if folder is None and path and os.path.isfile(os.path.join(path, "tokenizer_config.json")):
                        folder = path
        if tokens is None and folder is not None:
            return self._load_tokenizer(folder, special)
        return build_tiny_tokenizer(dict(tokens or self.tokens), special)

    @staticmethod
    def _load_tokenizer(path: str, special: Sequence[str]) -> Any:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(path)
        missing = [t for t in special if len(tokenizer(t, add_special_tokens=False)["input_ids"]) != 1]
        if missing:
            tokenizer.add_special_tokens({"additional_special_tokens": missing})
        return tokenizer

    def make_template(self, tokenizer: Any, mode: str, *flags: str) -> Any:
        from swiftk.api import get_template
        from swiftk.cli.builtin import resolve_arguments

        args = resolve_arguments("sft", ["--template", self.template, *self.arguments, *flags])
        return get_template(args, tokenizer, None, mode)

    def is_thinking(self) -> bool:
        from swiftk import get_host

        return bool(getattr(self.template_meta(get_host()), "is_thinking", False))

    def answers(self, rounds: Optional[int] = None) -> list[str]:
        """The assistant answers of the first ``rounds`` of :attr:`turns` (all by default) as a row
        carries them: the last one opens with a ``<think>`` block for a thinking template."""
        out = [answer for _, answer in self.turns][: len(self.turns) if rounds is None else rounds]
        if self.is_thinking():
            out[-1] = f"<think>\n{self.reasoning}\n</think>\n\n{out[-1]}"
        return out

    def row(self, rounds: Optional[int] = None, system: bool = True, answer_last: bool = True) -> dict:
        """A conversation of the first ``rounds`` turns (all by default), with or without the system
        message and the last answer."""
        messages = [{"role": "system", "content": self.system}] if system and self.supports_system else []
        for (query, _), answer in zip(self.turns, self.answers(rounds)):
            messages += [{"role": "user", "content": query}, {"role": "assistant", "content": answer}]
        if not answer_last:
            messages.pop()
        return {"messages": messages}

    def encode(self, template: Any, row: dict, **kwargs: Any) -> dict:
        encoded = template.encode(row, **kwargs)
        assert isinstance(encoded, dict) and "input_ids" in encoded, (
            f"template '{self.template}': encode(row) must return a dict with input_ids"
        )
        return encoded

    def encode_train(self, template: Any, row: dict) -> tuple[list[int], list[int]]:
        encoded = self.encode(template, row)
        ids, labels = list(encoded["input_ids"]), encoded.get("labels")
        assert labels is not None, f"template '{self.template}': training encode(row) gave no labels"
        return ids, list(labels)

    @staticmethod
    def spans(ids: Sequence[int], labels: Sequence[int], labelled: bool = True) -> list[list[int]]:
        """The maximal runs of labelled (or unlabelled) tokens."""
        out: list[list[int]] = []
        previous = None
        for token, label in zip(ids, labels):
            inside = (label != IGNORE) == labelled
            if inside:
                if previous:
                    out[-1].append(token)
                else:
                    out.append([token])
            previous = inside
        return out

    def labelled_texts(self, tokenizer: Any, ids: Sequence[int], labels: Sequence[int]) -> list[str]:
        return [tokenizer.decode(span) for span in self.spans(ids, labels)]

    def stop_words(self, template: Any) -> list[str]:
        words = list(template.stop_words)
        assert words and all(isinstance(w, str) and w for w in words), (
            f"template '{self.template}': stop_words must be a non-empty list of strings, got {words!r}"
        )
        return words

    @staticmethod
    def cut(text: str, words: Sequence[str]) -> tuple[str, bool]:
        """``text`` up to the first stop word, and whether there was one."""
        hits = [text.find(w) for w in words if w in text]
        return (text[: min(hits)], True) if hits else (text, False)

    # -- the contract -------------------------------------------------------------------------
    def test_the_name_is_registered(self, template_host: Any) -> None:
        assert self.template in template_host.registry("templates"), f"'{self.template}' is not a registered template"

    def test_input_ids_and_labels_line_up(self, train_template: Any, tokenizer: Any) -> None:
        for row in (self.row(1), self.row()):
            ids, labels = self.encode_train(train_template, row)
            assert ids and len(ids) == len(labels), (
                f"template '{self.template}': {len(ids)} input_ids but {len(labels)} labels"
            )
            assert all(isinstance(i, int) for i in ids), "input_ids must be ints"
            wrong = [k for k, (i, label) in enumerate(zip(ids, labels)) if label not in (IGNORE, i)]
            assert not wrong, f"template '{self.template}': labels at {wrong[:5]} are neither -100 nor the input id"
            bos = tokenizer.bos_token_id
            assert bos is None or ids[:2] != [bos, bos], f"template '{self.template}': the ids start with two BOS"

    def test_only_the_answer_is_labelled(self, train_template: Any, tokenizer: Any) -> None:
        ids, labels = self.encode_train(train_template, self.row(1))
        texts = self.labelled_texts(tokenizer, ids, labels)
        answer = self.answers(1)[0]
        assert len(texts) == 1 and answer in texts[0], (
            f"template '{self.template}': the labels must cover the answer {answer!r} in one span, got {texts!r}"
        )
        query = self.turns[0][0]
        for text in texts:
            assert query not in text, f"template '{self.template}': the user turn is labelled: {text!r}"
            assert not self.supports_system or self.system not in text, (
                f"template '{self.template}': the system prompt is labelled: {text!r}"
            )
        context = "\x00".join(tokenizer.decode(s) for s in self.spans(ids, labels, labelled=False))
        assert query in context, f"template '{self.template}': the query {query!r} is not in the input"

    def test_every_assistant_turn_is_labelled(self, train_template: Any, tokenizer: Any) -> None:
        ids, labels = self.encode_train(train_template, self.row())
        texts = self.labelled_texts(tokenizer, ids, labels)
        answers = self.answers()
        assert len(texts) == len(answers), (
            f"template '{self.template}': {len(answers)} assistant turns but {len(texts)} labelled spans: {texts!r}"
        )
        for text, answer, (query, _) in zip(texts, answers, self.turns):
            assert answer in text, f"template '{self.template}': answer {answer!r} not in its labelled span {text!r}"
            assert query not in text, f"template '{self.template}': a user turn is labelled: {text!r}"

    def test_answers_end_at_a_stop_word(self, template_host: Any, train_template: Any, tokenizer: Any) -> None:
        words = self.stop_words(train_template)
        if tokenizer.eos_token:
            assert tokenizer.eos_token in words, f"template '{self.template}': EOS is not among stop_words {words}"
        ids, labels = self.encode_train(train_template, self.row())
        texts = self.labelled_texts(tokenizer, ids, labels)
        answers = self.answers()
        for text, answer in zip(texts, answers):
            kept, _ = self.cut(text, words)
            assert kept.strip() == answer.strip(), (
                f"template '{self.template}': the labelled span {text!r} cut at {words} gives {kept!r}, not the answer"
            )
        meta = self.template_meta(template_host)
        if meta is not None and not meta.suffix:
            return
        last = texts[-1]
        rest = last[last.find(answers[-1]) + len(answers[-1]) :]
        assert self.cut(rest, words)[1], (
            f"template '{self.template}': the last answer's labels {last!r} end in no stop word of {words}: "
            f"the model never learns to stop"
        )

    def test_the_generation_prompt_matches_training(self, train_template: Any, infer_template: Any) -> None:
        for rounds in (1, len(self.turns)):
            ids, labels = self.encode_train(train_template, self.row(rounds))
            question = self.row(rounds, answer_last=False)
            prompt = list(self.encode(infer_template, question)["input_ids"])
            assert ids[: len(prompt)] == prompt, (
                f"template '{self.template}': the inference prompt is not a prefix of the training ids "
                f"({rounds} round(s)); they part at token {next((k for k, (a, b) in enumerate(zip(ids, prompt)) if a != b), len(ids))}"
            )
            assert len(prompt) < len(ids) and labels[len(prompt)] != IGNORE, (
                f"template '{self.template}': the first token the model generates after the prompt is not trained"
            )
            again = list(self.encode(train_template, question, add_generation_prompt=True)["input_ids"])
            assert again == prompt, (
                f"template '{self.template}': encode(row, add_generation_prompt=True) differs from the infer-mode prompt"
            )

    def test_the_system_prompt_is_in_the_prompt(self, template_host: Any, infer_template: Any, tokenizer: Any) -> None:
        if not self.supports_system:
            pytest.skip("the template takes no system prompt")
        question = self.row(1, answer_last=False)
        text = tokenizer.decode(self.encode(infer_template, question)["input_ids"])
        assert self.system in text, f"template '{self.template}': the row's system prompt is not in {text!r}"
        bare = self.row(1, system=False, answer_last=False)
        flagged = self.make_template(tokenizer, "infer", "--system", self.system)
        text = tokenizer.decode(self.encode(flagged, bare)["input_ids"])
        assert self.system in text, f"template '{self.template}': --system is not in {text!r}"
        default = getattr(self.template_meta(template_host), "default_system", None)
        if default:
            text = tokenizer.decode(self.encode(infer_template, bare)["input_ids"])
            assert default in text, f"template '{self.template}': the default system {default!r} is not in {text!r}"

    def test_max_length_truncation(self, train_template: Any, tokenizer: Any) -> None:
        row = self.row()
        ids, labels = self.encode_train(train_template, row)
        limit = len(ids) - 3
        fits = self.make_template(tokenizer, "train", "--max_length", str(len(ids)))
        assert self.encode_train(fits, row) == (ids, labels), (
            f"template '{self.template}': a row of exactly --max_length tokens changed"
        )
        delete = self.make_template(tokenizer, "train", "--max_length", str(limit), "--truncation_strategy", "delete")
        with pytest.raises(ValueError):
            delete.encode(row)
        for strategy, cut in (("right", slice(0, limit)), ("left", slice(len(ids) - limit, len(ids)))):
            template = self.make_template(
                tokenizer, "train", "--max_length", str(limit), "--truncation_strategy", strategy
            )
            assert self.encode_train(template, row) == (ids[cut], labels[cut]), (
                f"template '{self.template}': --truncation_strategy {strategy} must keep tokens {cut}"
            )

    def test_data_collator_pads(self, train_template: Any, infer_template: Any, tokenizer: Any) -> None:
        batch = [self.encode(train_template, self.row(1)), self.encode(train_template, self.row())]
        lengths = [len(b["input_ids"]) for b in batch]
        out = train_template.data_collator(batch)
        width = max(lengths)
        assert tuple(out["input_ids"].shape) == (2, width) and tuple(out["labels"].shape) == (2, width)
        assert out["attention_mask"].sum(-1).tolist() == lengths
        short = lengths.index(min(lengths))
        assert out["labels"][short, min(lengths) :].eq(IGNORE).all(), "training batches pad labels with -100 (right)"
        assert out["input_ids"][short, : min(lengths)].tolist() == batch[short]["input_ids"]
        prompts = [
            self.encode(infer_template, self.row(1, answer_last=False)),
            self.encode(infer_template, self.row(answer_last=False)),
        ]
        lengths = [len(p["input_ids"]) for p in prompts]
        out = infer_template.data_collator(prompts)
        short = lengths.index(min(lengths))
        assert out["input_ids"][short, -min(lengths) :].tolist() == prompts[short]["input_ids"], (
            "inference batches pad on the left"
        )
        assert out["attention_mask"].sum(-1).tolist() == lengths
