"""The template engine: a conversation → ``input_ids``, ``labels`` and loss weights.

:class:`Template` encodes the ms-swift ``TemplateMeta`` form (prefix, prompt, chat_sep, suffix,
system_prefix, placeholders) for any registered template; families whose official chat template
does more (tool calls, dates, reasoning) subclass it and override the ``render_*`` steps.  Rendering
produces :class:`~swiftk_models.encoding.Segment` s; they are tokenized in one piece, so the ids are
those of the rendered text, and the loss-scale strategy turns segment kinds into per-token weights.

Used by the training, RLHF and inference pipelines: ``encode``, ``data_collator``, ``decode``,
``stop_words``/``stop_token_ids``, ``mode`` ("train", "pt", "infer").
"""

from __future__ import annotations

import datetime
import json
from typing import Any, Optional

from swiftk.api import UsageError, TemplateMeta
from swiftk_models.conversation import Conversation, ConversationError, to_conversation
from swiftk_models.encoding import CONTEXT, END, OBSERVATION, RESPONSE, Segment, merge_segments, tokenize_segments

__all__ = ["Template", "MaxLengthError", "ConversationError"]


class MaxLengthError(ValueError):
    """A row longer than ``max_length`` under ``truncation_strategy delete`` (the caller drops it)."""


def _registry_object(kind: str, name: str, flag: str) -> Any:
    import swiftk

    registry = swiftk.get_host().registry(kind)
    if name not in registry:
        raise UsageError(f"{flag} {name}: unknown; valid: {', '.join(sorted(registry.names()))}")
    obj = registry.get(name)
    return obj() if isinstance(obj, type) else obj


class Template:
    """Encode conversations for one chat template (see the module docstring)."""

    #: Agent (tool) formats this class renders exactly like the official template.
    native_agents: tuple[str, ...] = ()
    template_meta: Optional[TemplateMeta] = None
    #: A classifier's (``task_type seq_cls``) labels and problem type, set by the pipeline that builds it.
    num_labels: Optional[int] = None
    problem_type: Optional[str] = None

    def __init__(
        self,
        processor: Any,
        template_meta: Optional[TemplateMeta] = None,
        *,
        mode: str = "train",
        system: Optional[str] = None,
        max_length: Optional[int] = None,
        truncation_strategy: str = "delete",
        padding_side: str = "right",
        loss_scale: str = "default",
        use_chat_template: bool = True,
        template_backend: str = "swift",
        tools_prompt: Optional[str] = None,
        norm_bbox: Optional[str] = None,
        enable_thinking: Optional[bool] = None,
        date_string: Optional[str] = None,
        task_type: str = "causal_lm",
    ):
        meta = template_meta or self.template_meta
        if meta is None:
            raise UsageError(f"{type(self).__name__} needs a TemplateMeta")
        if mode not in ("train", "pt", "infer"):
            raise ValueError(f"mode must be train, pt or infer, got {mode!r}")
        if truncation_strategy not in ("delete", "left", "right"):
            raise UsageError(f"--truncation_strategy {truncation_strategy}: valid: delete, left, right")
        if template_backend not in ("swift", "jinja"):
            raise UsageError(f"--template_backend {template_backend}: valid: swift, jinja")
        self.meta = meta
        self.task_type = task_type
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.mode = "pt" if (mode == "train" and not use_chat_template) else mode
        self.use_chat_template = use_chat_template
        self.template_backend = template_backend
        if template_backend == "jinja" and self.mode != "infer":
            raise UsageError(
                "--template_backend jinja is for inference only (transformers' apply_chat_template "
                "gives no loss mask); train with --template_backend swift"
            )
        if template_backend == "jinja" and not use_chat_template:
            raise UsageError(
                "--use_chat_template false: the generation template is plain text, with no jinja "
                "form; drop --template_backend jinja"
            )
        self.default_system = system if system is not None else meta.default_system
        self.max_length = max_length
        self.truncation_strategy = truncation_strategy
        self.padding_side = padding_side
        self.norm_bbox = norm_bbox
        self.enable_thinking = enable_thinking
        self.date_string = date_string
        self.agent = _registry_object("agent_templates", tools_prompt or meta.agent_template, "--tools_prompt")
        self.loss_scale = _registry_object("loss_scales", loss_scale, "--loss_scale")
        self.is_multimodal = False
        self._check_tokenizer()

    # -- public API ---------------------------------------------------------------------------
    @property
    def template_type(self) -> str:
        return self.meta.template_type

    @property
    def stop_words(self) -> list[str]:
        """Strings that end a generated answer (the template's end-of-turn and the EOS token)."""
        words = list(self.meta.stop_words)
        for item in list(self.meta.suffix or []):  # a suffix that is one token ends answers too
            text = self._fill(item).strip() if isinstance(item, str) else ""
            if text and len(self.tokenizer(text, add_special_tokens=False)["input_ids"]) == 1:
                words.append(text)
        if self.tokenizer.eos_token:
            words.append(self.tokenizer.eos_token)
        return list(dict.fromkeys(w for w in words if w))

    @property
    def stop_token_ids(self) -> list[int]:
        ids = []
        for word in self.stop_words:
            piece = self.tokenizer(word, add_special_tokens=False)["input_ids"]
            if len(piece) == 1:
                ids.append(piece[0])
        return list(dict.fromkeys(ids))

    def encode(self, row: dict, add_generation_prompt: bool = False) -> dict:
        """``{"input_ids", "labels", "loss_scale", "length"}``; with ``add_generation_prompt`` (or in
        ``infer`` mode) only the prompt, ending with the assistant prefix, and ``labels`` None."""
        generate = add_generation_prompt or self.mode == "infer"
        if self.task_type == "seq_cls":
            return self._encode_seq_cls(row)
        if self.template_backend == "jinja":
            ids = self._jinja_ids(row)
            return self._truncate({"input_ids": ids, "labels": None, "loss_scale": None, "length": len(ids)})
        segments = self.render_segments(row, generate)
        if generate:
            ids, _ = tokenize_segments(self.tokenizer, segments)
            return self._truncate({"input_ids": ids, "labels": None, "loss_scale": None, "length": len(ids)})
        segments, seg_weights = self.loss_scale.apply(segments)
        ids, owner = tokenize_segments(self.tokenizer, segments)
        weights = [seg_weights[k] for k in owner]
        labels = [tok if w > 0 else -100 for tok, w in zip(ids, weights)]
        scale = None if getattr(self.loss_scale, "is_binary", True) else weights
        return self._truncate({"input_ids": ids, "labels": labels, "loss_scale": scale, "length": len(ids)})

    def _encode_seq_cls(self, row: dict) -> dict:
        """A classifier's input: the conversation up to the answer; ``labels`` is the row's class."""
        ids, _ = tokenize_segments(self.tokenizer, self.render_segments(row, True))
        label = row.get("label")
        if label is None and self.mode != "infer":
            raise ValueError("--task_type seq_cls: the row has no 'label' column")
        labels = None if label is None else self.seq_cls_label(label)
        return self._truncate({"input_ids": ids, "labels": labels, "loss_scale": None, "length": len(ids)})

    def seq_cls_label(self, label: Any) -> Any:
        """A row's ``label`` as the classifier's loss takes it: a class index (single-label), a number
        (regression), or ``num_labels`` 0/1 floats (multi-label, from a list of class indices or a
        multi-hot list as long as ``num_labels``)."""
        problem = self.problem_type
        listed = isinstance(label, (list, tuple))
        if problem == "multi_label_classification" or (problem is None and listed):
            return self._multi_hot(list(label) if listed else [label])
        if listed:
            raise ValueError(f"label {label} is a list, which only --problem_type multi_label_classification reads")
        if problem == "regression" or (problem is None and isinstance(label, float) and not label.is_integer()):
            return float(label)
        index = int(label)
        if index != label or (self.num_labels and not 0 <= index < self.num_labels):
            raise ValueError(f"label {label} is not a class index 0..{(self.num_labels or 2) - 1}")
        return index

    def _multi_hot(self, label: list) -> list[float]:
        n = self.num_labels or 2
        if len(label) == n and all(v in (0, 1) for v in label) and (n > 2 or any(isinstance(v, float) for v in label)):
            return [float(v) for v in label]  # multi-hot (with two labels only as floats: [0, 1] are indices)
        hot = [0.0] * n
        for index in label:
            if int(index) != index or not 0 <= int(index) < n:
                raise ValueError(f"label {label}: {index} is not a class index 0..{n - 1}")
            hot[int(index)] = 1.0
        return hot

    def render(self, row: dict, add_generation_prompt: bool = False) -> str:
        """The rendered text (ids segments decoded): what the template feeds the tokenizer."""
        parts = []
        for seg in self.render_segments(row, add_generation_prompt or self.mode == "infer"):
            parts.append(seg.content if seg.is_text else self.tokenizer.decode(seg.content))
        return "".join(parts)

    def decode(self, ids: Any, skip_special_tokens: bool = False) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=skip_special_tokens)

    def data_collator(self, batch: list[dict], padding_to: Optional[int] = None) -> dict:
        """Pad a batch of ``encode`` outputs into tensors (left-padded in infer mode)."""
        import torch

        pad_id = self.tokenizer.pad_token_id
        if pad_id is None:
            pad_id = self.tokenizer.eos_token_id if self.tokenizer.eos_token_id is not None else 0
        side = "left" if self.mode == "infer" else self.padding_side
        length = max(len(b["input_ids"]) for b in batch)
        if padding_to:
            length = max(length, padding_to)

        def pad(seq: list, value: Any) -> list:
            fill = [value] * (length - len(seq))
            return fill + list(seq) if side == "left" else list(seq) + fill

        out = {
            "input_ids": torch.tensor([pad(b["input_ids"], pad_id) for b in batch], dtype=torch.long),
            "attention_mask": torch.tensor([pad([1] * len(b["input_ids"]), 0) for b in batch], dtype=torch.long),
        }
        if self.task_type == "seq_cls" and any(b.get("labels") is not None for b in batch):  # a classifier's
            labels = [b["labels"] for b in batch]  # classes (long), values or multi-hot rows (float)
            floats = self.problem_type in ("regression", "multi_label_classification") or any(
                isinstance(v, (float, list)) for v in labels
            )
            out["labels"] = torch.tensor(labels, dtype=torch.float if floats else torch.long)
        elif any(isinstance(b.get("labels"), (int, float)) for b in batch):  # a classifier's classes
            out["labels"] = torch.tensor([b["labels"] for b in batch])
        elif any(b.get("labels") is not None for b in batch):
            out["labels"] = torch.tensor(
                [pad(b.get("labels") or [-100] * len(b["input_ids"]), -100) for b in batch], dtype=torch.long
            )
        if any(b.get("loss_scale") is not None for b in batch):
            out["loss_scale"] = torch.tensor(
                [pad(b.get("loss_scale") or [0.0] * len(b["input_ids"]), 0.0) for b in batch], dtype=torch.float
            )
        return out

    # -- rendering ------------------------------------------------------------------------------
    def render_segments(self, row: dict, generate: bool) -> list[Segment]:
        """The segments of ``row``: ``pt`` mode concatenates, otherwise the chat template applies."""
        row = self._apply_bbox(row)
        if self.mode == "pt" or not self.use_chat_template:
            segments = self._pt_segments(to_conversation(row, strict=False))
            if generate and self.mode == "infer" and self.task_type != "seq_cls":
                segments = [s for s in segments if s.kind != END]  # the answer continues the text
            return merge_segments(segments)
        conv = to_conversation(row)
        if generate:
            while conv.messages and conv.messages[-1].role == "assistant":
                conv.messages.pop()
            if not conv.messages:
                raise ConversationError("the conversation has no user message to answer")
        elif conv.messages[-1].role != "assistant":
            raise ConversationError("for training the last message must be the assistant's answer")
        system = conv.system if conv.system is not None else self.default_system
        return merge_segments(self.build(conv, system, generate))

    def build(self, conv: Conversation, system: Optional[str], generate: bool) -> list[Segment]:
        """Walk the conversation, calling the ``render_*`` steps (what subclasses override)."""
        native = self.agent.name in self.native_agents
        tools = conv.tools if native else []
        if conv.tools and not native:
            system = self.agent.format_system(conv.tools, system)
        system = self._strip(system, "system") if system else system
        segs = self.render_head(system or None, tools)
        msgs = conv.messages
        last_user = max((i for i, m in enumerate(msgs) if m.role == "user"), default=-1)
        rnd, query, i = -1, None, 0
        while i < len(msgs):
            m = msgs[i]
            if m.role == "user":
                rnd, query = rnd + 1, m.content
                segs += self.render_query(m.content, rnd, first=rnd == 0, system=system, tools=tools)
                i += 1
                continue
            if m.role == "tool":
                j = i
                while j < len(msgs) and msgs[j].role == "tool":
                    j += 1
                results = [t.content for t in msgs[i:j]]
                if native:
                    rnd += 1
                    query = "\n".join(results)
                    segs += self.render_tool_results(results, rnd)
                elif self.agent.inline_results and i > 0 and msgs[i - 1].role == "assistant":
                    segs.append(Segment(self.agent.format_inline_results(results), OBSERVATION, rnd, query))
                else:
                    rnd += 1
                    query = self.agent.format_tool_results(results)
                    segs += self.render_query(query, rnd, first=False, system=system, tools=tools, kind="tool")
                i = j
                continue
            # assistant
            text, calls = m.content, m.tool_calls
            next_is_tool = i + 1 < len(msgs) and msgs[i + 1].role == "tool"
            inline_next = next_is_tool and not native and self.agent.inline_results
            if calls and not native:
                text, calls = self.agent.format_tool_calls(calls, text), []
            if inline_next:
                text = self.agent.close_for_results(text)
            continuing = bool(segs) and segs[-1].kind == OBSERVATION
            segs += self.render_response(
                text,
                calls,
                rnd,
                query,
                last=i == len(msgs) - 1,
                after_last_query=i > last_user,
                continuing=continuing,
                open_turn=inline_next,
            )
            i += 1
        if generate and not (segs and segs[-1].kind == OBSERVATION):
            segs += self.render_generation()
        return segs

    # The steps of `build`, in ms-swift's TemplateMeta form; subclasses override what differs.
    def render_head(self, system: Optional[str], tools: list[dict]) -> list[Segment]:
        if system and not self.meta.extra.get("system_in_query"):
            pattern = self.meta.system_prefix if self.meta.system_prefix is not None else self.meta.prefix
            if not any(isinstance(p, str) and "{{SYSTEM}}" in p for p in pattern or []):
                raise ConversationError(
                    f"template {self.template_type} has no place for a system prompt "
                    f"(no {{{{SYSTEM}}}} in its prefix / system_prefix)"
                )
            return self._pattern(pattern, SYSTEM=system)
        return self._pattern(self.meta.prefix, SYSTEM="")

    def render_query(
        self, content: str, rnd: int, *, first: bool, system: Optional[str], tools: list[dict], kind: str = "user"
    ) -> list[Segment]:
        query = self._strip(content, "all")
        inside = self.meta.extra.get("system_in_query")
        if first and system and inside:
            query = inside.replace("{{SYSTEM}}", system).replace("{{QUERY}}", query)
        pattern = self.meta.extra.get("tool_prompt") if kind == "tool" else None
        return self._pattern(
            pattern or self.meta.prompt, QUERY=query, ROUND0=str(rnd), ROUND1=str(rnd + 1), round=rnd, query=content
        )

    def render_response(
        self,
        text: str,
        calls: list[dict],
        rnd: int,
        query: Optional[str],
        *,
        last: bool,
        after_last_query: bool,
        continuing: bool,
        open_turn: bool,
    ) -> list[Segment]:
        if not last:
            text = self._drop_history_think(text)
        text = self._strip(text, "all") if not (continuing or open_turn) else text
        lead = "" if continuing else self.meta.extra.get("response_lead", "")
        segs = [Segment(lead + text, RESPONSE, rnd, query)]
        if not open_turn:
            segs += self.render_end(rnd, last)
        return segs

    def render_end(self, rnd: int, last: bool) -> list[Segment]:
        pattern = self.meta.suffix if last else (self.meta.chat_sep or [])
        return self._pattern(pattern, kind=END, round=rnd)

    def render_tool_results(self, results: list[str], rnd: int) -> list[Segment]:
        query = self.agent.format_tool_results(results)
        return self.render_query(query, rnd, first=False, system=None, tools=[], kind="tool")

    def render_generation(self) -> list[Segment]:
        return [Segment(self.meta.response_prefix or "", CONTEXT)]

    # -- helpers ------------------------------------------------------------------------------
    def _fill(self, text: str, **values: str) -> str:
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", value)
        return text.replace("{{bos_token}}", self.tokenizer.bos_token or "").replace(
            "{{eos_token}}", self.tokenizer.eos_token or ""
        )

    def _pattern(
        self, pattern: Any, kind: str = CONTEXT, round: int = -1, query: Optional[str] = None, **values: str
    ) -> list[Segment]:
        """Segments of a ms-swift pattern: strings with placeholders, or lists of (names of) token ids."""
        if isinstance(pattern, str):
            pattern = [pattern]
        segs = []
        for item in pattern or []:
            if isinstance(item, str):
                segs.append(Segment(self._fill(item, **values), kind, round, query))
            else:
                ids = []
                for x in item:
                    value = getattr(self.tokenizer, x) if isinstance(x, str) else x
                    ids.extend(value if isinstance(value, list) else [value])
                segs.append(Segment([i for i in ids if i is not None], kind, round, query))
        return segs

    def _strip(self, text: Optional[str], what: str) -> Optional[str]:
        mode = self.meta.extra.get("strip")
        if text is None or not mode:
            return text
        return text.strip() if (mode == "all" or mode == what) else text

    def _drop_history_think(self, text: str) -> str:
        how = self.meta.extra.get("history_think")
        if how and "</think>" in text:
            text = text.split("</think>")[-1]
            if how == "drop_lstrip":
                text = text.lstrip("\n")
        return text

    def _pt_segments(self, conv: Conversation) -> list[Segment]:
        """The generation template (``swiftk pt``, ``--use_chat_template false``): contents back to back,
        then EOS (left out of an inference prompt, which the answer continues)."""
        tok = self.tokenizer
        segs = []
        probe = tok("a")["input_ids"]
        if tok.bos_token_id is not None and probe and probe[0] == tok.bos_token_id:
            segs.append(Segment([tok.bos_token_id], CONTEXT, 0))
        if conv.system:
            segs.append(Segment(conv.system, CONTEXT, 0))
        for m in conv.messages:
            segs.append(Segment(m.content, RESPONSE if m.role == "assistant" else CONTEXT, 0))
        if tok.eos_token_id is not None:
            segs.append(Segment([tok.eos_token_id], END, 0))
        return segs

    def _truncate(self, encoded: dict) -> dict:
        limit = self.max_length
        n = len(encoded["input_ids"])
        if not limit or n <= limit:
            return encoded
        if self.truncation_strategy == "delete":
            raise MaxLengthError(
                f"the row has {n} tokens, more than --max_length {limit} "
                f"(--truncation_strategy delete drops it; left/right cut it)"
            )
        cut = slice(n - limit, n) if self.truncation_strategy == "left" else slice(0, limit)
        for key in ("input_ids", "labels", "loss_scale"):
            if isinstance(encoded.get(key), list):  # a classifier's label is one number
                encoded[key] = encoded[key][cut]
        encoded["length"] = limit
        return encoded

    def _check_tokenizer(self) -> None:
        """Every special token the template writes must be one token of this tokenizer."""
        tok = self.tokenizer
        missing = []
        for token in self.meta.extra.get("special_tokens", []):
            ids = tok(token, add_special_tokens=False)["input_ids"]
            if len(ids) != 1 or (tok.unk_token_id is not None and ids[0] == tok.unk_token_id):
                missing.append(token)
        if missing:
            where = getattr(tok, "name_or_path", "") or "the model"
            raise UsageError(
                f"--template {self.template_type}: the tokenizer of {where} lacks the special "
                f"token(s) {', '.join(missing)} this template writes; pass the --template of the "
                f"model's own family"
            )

    def _jinja_ids(self, row: dict) -> list[int]:
        """``template_backend jinja``: transformers' ``apply_chat_template`` with the tokenizer's template."""
        if not getattr(self.tokenizer, "chat_template", None):
            raise UsageError(
                "--template_backend jinja: this tokenizer has no chat_template; use --template_backend swift"
            )
        conv = to_conversation(row)
        while conv.messages and conv.messages[-1].role == "assistant":
            conv.messages.pop()
        system = conv.system if conv.system is not None else self.default_system
        text = self.tokenizer.apply_chat_template(
            to_openai_messages(conv, system), tools=conv.tools or None, add_generation_prompt=True, tokenize=False
        )
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _apply_bbox(self, row: dict) -> dict:
        """Write ``objects`` boxes into ``<bbox>`` placeholders (``norm1000`` scales to 0..1000)."""
        objects = row.get("objects")
        if not objects or not isinstance(objects, dict) or not objects.get("bbox"):
            return row
        boxes = list(objects["bbox"])
        refs = list(objects.get("ref") or [])
        width, height = objects.get("width"), objects.get("height")

        def fmt(box: list) -> str:
            if self.norm_bbox == "norm1000" and width and height:
                box = [round(v / (width if k % 2 == 0 else height) * 1000) for k, v in enumerate(box)]
            return "[" + ", ".join(str(int(v)) if float(v).is_integer() else str(v) for v in box) + "]"

        messages = []
        for m in row["messages"]:
            content = m.get("content") or ""
            while "<bbox>" in content and boxes:
                content = content.replace("<bbox>", fmt(boxes.pop(0)), 1)
            while "<ref-object>" in content and refs:
                content = content.replace("<ref-object>", str(refs.pop(0)), 1)
            messages.append({**m, "content": content})
        return {**row, "messages": messages}

    def today(self) -> str:
        """The date official templates print (``strftime_now("%d %b %Y")``)."""
        return datetime.date.today().strftime("%d %b %Y")


def to_openai_messages(conv: Conversation, system: Optional[str]) -> list[dict]:
    """A conversation in the OpenAI/transformers message form ``apply_chat_template`` reads."""
    out: list[dict] = []
    if system is not None:
        out.append({"role": "system", "content": system})
    for m in conv.messages:
        item: dict = {"role": m.role, "content": m.content}
        if m.tool_calls:
            item["tool_calls"] = [
                {"type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}} for c in m.tool_calls
            ]
        out.append(item)
    return out


def dumps(obj: Any, indent: Optional[int] = None) -> str:
    """JSON as the official templates' ``tojson`` writes it."""
    return json.dumps(obj, ensure_ascii=False, indent=indent)
