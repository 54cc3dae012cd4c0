"""``swiftk infer``: an interactive chat in the terminal, or a run over a dataset written to jsonl."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Optional

from swiftk.api import InferRequest, RequestConfig

HELP = (
    "Commands: 'exit' quits, 'clear' clears the history, 'reset-system' sets a new system prompt, "
    "'multi-line' switches to multi-line input (end a message with '#'), 'single-line' switches back."
)


def apply_ckpt_dir(args: Any) -> None:
    """``--ckpt_dir``: an adapter folder joins ``--adapters``; a full checkpoint becomes ``--model``."""
    ckpt = args.get("ckpt_dir")
    if not ckpt:
        return
    from swiftk.api import UsageError

    if not os.path.isdir(ckpt):
        raise UsageError(f"--ckpt_dir {ckpt}: no such folder")
    if os.path.isfile(os.path.join(ckpt, "adapter_config.json")):
        adapters = list(args.get("adapters") or [])
        if ckpt not in adapters:
            args.adapters = [ckpt] + adapters
    elif os.path.isfile(os.path.join(ckpt, "config.json")):
        args.model = ckpt
    else:
        raise UsageError(f"--ckpt_dir {ckpt}: neither an adapter (adapter_config.json) nor a model (config.json)")


def merged_dir(adapter: str) -> str:
    """Where ``--merge_lora`` keeps a merged model: ``<adapter>-merged`` beside the adapter (ms-swift)."""
    return adapter.rstrip("/\\") + "-merged"


def is_complete_model(folder: str) -> bool:
    """A model folder with its config and every weight file (an index's shards included)."""
    if not os.path.isfile(os.path.join(folder, "config.json")):
        return False
    for index in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        path = os.path.join(folder, index)
        if os.path.isfile(path):
            try:
                with open(path, encoding="utf-8") as f:
                    shards = set(json.load(f)["weight_map"].values())
            except (OSError, ValueError, KeyError):
                return False
            return all(os.path.isfile(os.path.join(folder, shard)) for shard in shards)
    return any(os.path.isfile(os.path.join(folder, name)) for name in ("model.safetensors", "pytorch_model.bin"))


def use_merged_model(args: Any) -> None:
    """``--merge_lora true``: merge the unnamed ``--adapters`` into the weights once, save the result as
    ``<first adapter>-merged`` (``--safe_serialization``, ``--max_shard_size``; written atomically by the
    export pipeline), and run on that folder; a complete one from an earlier run is reused as is."""
    if not args.get("merge_lora"):
        return
    from swiftk.api import UsageError, apply_adapters, merge_tuned, save_model_folder, tuner_of
    from swiftk.api import load_model_and_processor, resolve_model, template_name
    from swiftk_infer.pt_engine import split_adapters

    plain, named = split_adapters(list(args.get("adapters") or []))
    if not plain:
        raise UsageError(
            "--merge_lora true merges the unnamed --adapters CHECKPOINT into the weights, and none is "
            "given" + (" (name=path adapters are served by name, unmerged)" if named else "")
        )
    info = resolve_model(args)  # the base's model type and template, kept for the merged folder
    target = merged_dir(plain[0])
    if is_complete_model(target):
        print(f"[swiftk] --merge_lora: using the merged model {os.path.abspath(target)}", flush=True)
    else:
        for path in plain:  # unknown or unmergeable tuners refuse before anything loads
            train_type, spec = tuner_of(path)
            if spec.merge is None:
                merge_tuned(None, train_type, spec)
        model, processor, _ = load_model_and_processor(args)
        model = apply_adapters(model, plain, args, merge=True)
        save_model_folder(
            model,
            processor,
            target,
            max_shard_size=args.get("max_shard_size") or "5GB",
            safe_serialization=bool(args.get("safe_serialization", True)),
        )
        del model
        import gc

        gc.collect()
        print(f"[swiftk] --merge_lora: merged model saved to {os.path.abspath(target)}", flush=True)
    args.model_type = args.get("model_type") or info.model_type
    args.template = args.get("template") or template_name(args, info)
    args.model = target
    args.adapters = [f"{name}={path}" for name, path in named.items()]


def prepare_model_args(args: Any) -> None:
    """``--ckpt_dir`` and ``--merge_lora`` applied to the arguments (once, before an engine is built)."""
    if "ckpt_dir" in args:
        apply_ckpt_dir(args)
    use_merged_model(args)


def saved_run(args: Any) -> dict:
    """The ``args.json`` of the checkpoint in use (the first unnamed ``--adapters``, else ``--model``): in its
    folder or the run folder above it; {} when there is none."""
    from swiftk_infer.pt_engine import split_adapters

    plain, _ = split_adapters(list(args.get("adapters") or []))
    for path in plain[:1] + [args.get("model")]:
        if not isinstance(path, str) or not os.path.isdir(path):
            continue
        folder = path.rstrip("/\\") or path
        for where in (folder, os.path.dirname(folder)):
            try:
                with open(os.path.join(where, "args.json"), encoding="utf-8") as f:
                    saved = json.load(f)
            except (OSError, ValueError):
                continue
            if isinstance(saved, dict):
                return saved
    return {}


#: Task types served by the engine a plugin registers under the same name (swift-plugin-embedding).
PLUGIN_TASKS = ("embedding", "reranker", "generative_reranker")


def model_task(args: Any) -> str:
    """What the checkpoint does: ``causal_lm``; ``seq_cls``, a classifier (its args.json's ``task_type``, or
    a ``*ForSequenceClassification`` config.json); or ``reward``, one trained by ``rlhf --rlhf_type rm``.
    A classifier's ``--problem_type``, recorded in args.json, is taken from there unless given."""
    from swiftk.api import resolve_model

    saved = saved_run(args)
    explicit = getattr(args, "explicit", set()) or set()
    if "task_type" not in explicit and saved.get("task_type") in PLUGIN_TASKS:
        args.task_type = saved["task_type"]  # an embedding or reranker run's checkpoint (swift-plugin-embedding)
    info = resolve_model(args)
    if info.task_type != "seq_cls":
        return info.task_type
    if "problem_type" in args and not args.get("problem_type") and saved.get("problem_type"):
        args.problem_type = saved["problem_type"]
    return "reward" if saved.get("command") == "rlhf" and saved.get("rlhf_type") == "rm" else "seq_cls"


def build_engine(args: Any, *, prepare: bool = True):
    """The engine ``--infer_backend`` names, built from the arguments; for ``pt`` (the default) a classifier
    or reward model gets the engine that scores it (:func:`model_task`)."""
    from swiftk.api import check_requires, get_host, is_lazy_reference, resolve_reference

    if prepare:
        prepare_model_args(args)
    if args.infer_backend not in ("pt",) + PLUGIN_TASKS and args.get("task_type") in PLUGIN_TASKS:
        from swiftk.api import UsageError

        raise UsageError(f"--infer_backend {args.infer_backend}: --task_type {args.task_type} is served by pt only")
    if args.infer_backend == "pt":
        task = model_task(args)
        if task in PLUGIN_TASKS or (task == "reward" and "reward" in get_host().registry("infer_engines")):
            args.infer_backend = task  # swift-plugin-rlhf's reward scorer, swift-plugin-embedding's engines
        elif task in ("seq_cls", "reward"):
            from swiftk_infer.classify import ClassifierEngine

            print(f"[swiftk] the model is a sequence classifier ({task}): each answer is its prediction", flush=True)
            return ClassifierEngine.from_args(args, task=task)
    spec = get_host().get("infer_engines", args.infer_backend)
    check_requires(getattr(spec, "requires", None) or [], f"--infer_backend {args.infer_backend}")
    engine_cls = resolve_reference(spec.engine_cls) if is_lazy_reference(spec.engine_cls) else spec.engine_cls
    return engine_cls.from_args(args)


def init_distributed(args: Any, dataset: bool) -> tuple[int, int]:
    """``(rank, world size)``. Under torchrun (``NPROC_PER_NODE``) with the pt backend over a dataset, the
    ranks share the rows and rank 0 gathers the answers through ``--ddp_backend`` (nccl on GPUs, else gloo)."""
    from swiftk.api import in_torchrun_worker as in_worker, UsageError

    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    backend = args.get("ddp_backend")
    if world <= 1:
        if backend and not in_worker():
            raise UsageError(
                f"--ddp_backend {backend}: used only when NPROC_PER_NODE=N (torchrun) shares a "
                f"--val_dataset among N pt ranks; set NPROC_PER_NODE or drop it"
            )
        return 0, 1
    if not dataset:
        raise UsageError(
            "NPROC_PER_NODE: the terminal chat runs in one process; ranks share a dataset (--val_dataset) only"
        )
    if args.infer_backend != "pt":
        raise UsageError(
            f"NPROC_PER_NODE with --infer_backend {args.infer_backend}: only the pt backend shares "
            f"a dataset among ranks; {args.infer_backend} spreads one model over GPUs with its own "
            f"options (--tensor_parallel_size, --tp)"
        )
    import torch
    import torch.distributed as dist

    cuda = torch.cuda.is_available()
    backend = backend or ("nccl" if cuda else "gloo")
    if backend == "nccl" and not cuda:
        raise UsageError("--ddp_backend nccl needs CUDA GPUs; on CPU use --ddp_backend gloo")
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend)
    return rank, world


def run_infer(args: Any) -> int:
    from swiftk.api import startup_phase

    dataset = bool(args.get("val_dataset") or args.get("dataset"))
    if dataset:
        text_scorer(args.get("metric"))  # a --metric that cannot score is refused before the model loads
    rank, world = init_distributed(args, dataset)
    try:
        with startup_phase(args):  # imports and the model: no garbage-collection passes over them
            if world > 1:  # rank 0 merges an adapter (--merge_lora) while the others wait, then uses it
                import torch.distributed as dist

                if rank == 0:
                    prepare_model_args(args)
                dist.barrier()
                if rank != 0:
                    prepare_model_args(args)
                engine = build_engine(args, prepare=False)
            else:
                engine = build_engine(args)
        try:
            if dataset:
                return infer_dataset(engine, args, rank, world)
            return chat(engine, args)
        finally:
            engine.close()
    finally:
        if world > 1:
            import torch.distributed as dist

            dist.destroy_process_group()


# --- a dataset -------------------------------------------------------------------------------


_MEDIA = (("images", "<image>", "image_url"), ("videos", "<video>", "video_url"), ("audios", "<audio>", "audio_url"))


def _media_url(value: Any) -> Any:
    """A media column's value as a URL: a path or URL as it is, a ``datasets`` Image/Audio by its path or bytes."""
    if isinstance(value, dict):
        if value.get("path"):
            return value["path"]
        if value.get("bytes"):
            import base64

            return "data:application/octet-stream;base64," + base64.b64encode(value["bytes"]).decode()
    return value


def with_media_parts(row: dict) -> list[dict]:
    """The row's messages with its ``images``/``videos``/``audios`` as OpenAI content parts where their tags
    are (media without a tag go in front of the first user message, as ms-swift puts them): the form an engine
    and a server take."""
    import re

    queues = {tag: [_media_url(v) for v in (row.get(column) or [])] for column, tag, _ in _MEDIA}
    if not any(queues.values()):
        return list(row["messages"])
    kinds = {tag: part for _, tag, part in _MEDIA}
    messages = []
    for message in row["messages"]:
        content = message.get("content")
        if not isinstance(content, str) or not any(tag in content for tag in kinds):
            messages.append(message)
            continue
        parts: list[dict] = []
        for piece in re.split(r"(<image>|<video>|<audio>)", content):
            if piece in kinds and queues[piece]:
                parts.append({"type": kinds[piece], kinds[piece]: {"url": queues[piece].pop(0)}})
            elif piece:
                parts.append({"type": "text", "text": piece})
        messages.append({**message, "content": parts})
    left = [{"type": kinds[tag], kinds[tag]: {"url": url}} for tag, urls in queues.items() for url in urls]
    first = next((i for i, m in enumerate(messages) if m.get("role") == "user"), None)
    if left and first is not None:
        content = messages[first]["content"]
        text = content if isinstance(content, list) else [{"type": "text", "text": content or ""}]
        messages[first] = {**messages[first], "content": left + text}
    return messages


def split_row(row: dict, label_text: Any = None) -> tuple[InferRequest, Optional[str]]:
    """The conversation up to the last user turn, and the reference answer if the row has one; for a
    classifier (``label_text``, its engine's) the row's ``label`` as the engine writes predictions."""
    messages = with_media_parts(row)
    label = None
    if label_text is not None:
        label = label_text(row.get("label"))
    elif messages and messages[-1]["role"] == "assistant":
        label = messages.pop()["content"]
    tools = row.get("tools")
    if isinstance(tools, str) and tools:
        tools = json.loads(tools)
    return InferRequest(messages, tools or None), label


def infer_dataset(engine: Any, args: Any, rank: int = 0, world: int = 1) -> int:
    """Answer every row (rank ``r`` of ``world`` answers rows r, r + world, ... of each chunk; rank 0 gathers them)
    and write them, in the dataset's order, to ``--result_path``. Rows are answered ``--write_batch_size`` at a time
    (ms-swift's later argument; -1: all at once): each finished chunk is appended to ``<result_path>.partial``
    (complete lines only), which becomes ``--result_path`` when every row is answered. ``--stream`` changes
    nothing here (ms-swift does not stream a dataset either): each row is printed whole."""
    from swiftk.api import load_datasets, startup_phase

    score_texts = text_scorer(args.get("metric"))
    with startup_phase():  # the datasets library and the rows
        train, val = load_datasets(args)
    rows = list(val if val is not None else train)
    if args.get("val_dataset_sample"):
        rows = rows[: args.val_dataset_sample]
    label_text = getattr(engine, "label_text", None)  # a classifier: the rows' labels, not their answers
    requests, labels = zip(*(split_row(r, label_text) for r in rows)) if rows else ((), ())
    chunk = write_batch_size(args, len(requests))
    if world > 1:
        share = len(range(rank, len(requests), world))
        print(f"[swiftk] rank {rank} of {world}: answering {share} of {len(requests)} rows", flush=True)
    path = args.result_path
    partial = f"{path}.partial"
    if rank == 0:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        open(partial, "w").close()
    config = RequestConfig.from_args(args)
    all_texts: list = []
    for start in range(0, len(requests), chunk):
        texts, scores = _answer_chunk(engine, requests, config, start, min(start + chunk, len(requests)), rank, world)
        if rank != 0:
            continue
        all_texts += texts
        lines = []
        for request, label, text, score in zip(requests[start:], labels[start:], texts, scores):
            line = {
                "messages": request.messages + [{"role": "assistant", "content": text}],
                "response": text,
                "labels": label,
            }
            if label_text is not None:
                line["logprobs"] = score  # as ms-swift writes a classifier's
            lines.append(json.dumps(line, ensure_ascii=False) + "\n")
            if args.get("verbose", True):
                print(f"[QUERY] {request.messages[-1]['content']}\n[RESPONSE] {text}\n[LABELS] {label}\n" + "-" * 40)
        with open(partial, "a", encoding="utf-8") as f:
            f.writelines(lines)
            f.flush()
            os.fsync(f.fileno())
    if rank != 0:
        return 0
    os.replace(partial, path)
    print(f"[swiftk] result_path: {os.path.abspath(path)}")
    if score_texts is not None:
        metrics = score_texts(list(all_texts), [l or "" for l in labels])
        print(f"[swiftk] {args.metric}: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
    return 0


def write_batch_size(args: Any, total: int) -> int:
    """Rows answered and written at a time: ``--write_batch_size`` (default 1000; -1 or 0: all of them)."""
    from swiftk.api import UsageError

    value = args.get("write_batch_size") if "write_batch_size" in args else -1
    if value is None or value in (-1, 0):
        return max(total, 1)
    if value < -1:
        raise UsageError(f"--write_batch_size {value}: give a positive number of rows, or -1 for all at once")
    return int(value)


def _answer_chunk(engine: Any, requests: tuple, config: Any, start: int, stop: int, rank: int, world: int):
    """The answers (texts, per-label log-probabilities) of rows ``start:stop``; under torchrun each rank answers
    its rows of the chunk and rank 0 gathers them in order (others get empty lists)."""
    mine = list(range(start + rank, stop, world))
    responses = engine.infer([requests[i] for i in mine], config, use_tqdm=rank == 0)
    texts = [r.choices[0].message["content"] for r in responses]
    scores = [r.choices[0].logprobs for r in responses]
    if world == 1:
        return texts, scores
    import torch.distributed as dist

    parts: Optional[list] = [None] * world if rank == 0 else None
    dist.gather_object(list(zip(mine, zip(texts, scores))), parts, dst=0)
    if rank != 0:
        return [], []
    answers = dict(pair for part in parts for pair in part)
    ordered = [answers[i] for i in range(start, stop)]
    return [t for t, _ in ordered], [s for _, s in ordered]


#: ``--metric`` of ``swiftk infer`` (ms-swift's values) -> the registered metric whose ``score_texts`` scores
#: the answers: ``acc`` is exact match (``{"acc": ...}``), ``rouge`` ROUGE-L and BLEU-4 (``{"rouge-l", "bleu-4"}``).
#: Any other name is a registered metric's own.
INFER_METRICS = {"acc": "acc", "rouge": "nlg"}


def text_scorer(metric: Optional[str]):
    """``score_texts(predictions, references) -> dict[str, float]`` of the metric ``--metric`` names (registered
    with ``register_metrics``' ``score_texts`` option; swift-plugin-sft provides acc and nlg), or None without
    ``--metric``."""
    if not metric:
        return None
    from swiftk.api import UsageError, get_host, load_reference

    name = INFER_METRICS.get(metric, metric)
    entry = get_host().registry("metrics").entry_or_none(name)
    if entry is None:
        raise UsageError(
            f"--metric {metric}: scoring the answers needs the metric '{name}', which no loaded plugin "
            f"registers (`swiftk plugins` lists them); install swift-plugin-sft (it registers acc and "
            f"nlg), or leave out --metric"
        )
    score_texts = entry.meta.get("score_texts")
    if score_texts is None:
        remedy = f"install swift-plugin-sft, whose '{name}' can" if metric in INFER_METRICS else "choose acc or rouge"
        raise UsageError(
            f"--metric {metric}: the metric '{name}' of plugin '{entry.plugin}' cannot score answer "
            f"texts (it was registered without score_texts=); {remedy}, or leave out --metric"
        )
    return load_reference(score_texts)


# --- the terminal ----------------------------------------------------------------------------


def _read(multi_line: bool) -> Optional[str]:
    try:
        if not multi_line:
            return input("<<< ")
        lines = []
        prompt = "<<<[M] "
        while True:
            line = input(prompt)
            prompt = ""
            if line.endswith("#"):
                lines.append(line[:-1])
                return "\n".join(lines)
            lines.append(line)
    except EOFError:
        return None


def _read_media(query: str) -> Optional[dict[str, list[str]]]:
    """For each ``<image>``/``<video>``/``<audio>`` tag of a multimodal model's query, ask for its path or URL
    (as ms-swift's interactive mode does); a missing local file is asked again. None when input ends."""
    import re

    media: dict[str, list[str]] = {}
    for tag in re.findall(r"<image>|<video>|<audio>", query):
        kind = tag[1:-1]
        while True:
            try:
                value = input(f"Input {'an' if kind[0] in 'ia' else 'a'} {kind} path or URL <<< ").strip()
            except EOFError:
                return None
            if value.startswith(("http://", "https://", "data:")) or os.path.isfile(os.path.expanduser(value)):
                break
            print(f"(no such file: {value!r}; give a path to an existing file, or a URL)")
        media.setdefault(f"{kind}s", []).append(
            value if "://" in value or value.startswith("data:") else os.path.expanduser(value)
        )
    return media


def _is_multimodal(engine: Any) -> bool:
    return bool(getattr(getattr(engine, "template", None), "is_multimodal", False))


def _answer(engine: Any, messages: list[dict], config: RequestConfig, stream: bool) -> str:
    """Print the answer, chunk by chunk with ``--stream true``, else whole once done."""
    print(">>> ", end="", flush=True)
    if not stream:
        text = engine.infer([InferRequest(messages)], config)[0].choices[0].message["content"]
        print(text, flush=True)
        return text
    parts = []
    for chunk in engine.infer_stream(InferRequest(messages), config):
        delta = chunk.choices[0].delta.get("content") if chunk.choices else None
        if delta:
            parts.append(delta)
            sys.stdout.write(delta)
            sys.stdout.flush()
    print()
    return "".join(parts)


def chat(engine: Any, args: Any) -> int:
    """The terminal chat; each turn (the conversation with its answer) is appended to ``--result_path``."""
    from swiftk_infer.results import append_jsonl

    print(HELP)
    system = args.get("system")
    history: list[dict] = []
    multi_line = False
    config = RequestConfig.from_args(args)
    stream = bool(args.get("stream"))
    if stream and (args.get("num_beams") or 1) > 1:
        print("[swiftk] --stream true: answers print whole with --num_beams > 1 (beam search has no partial answer)")
        stream = False
    path = args.get("result_path")
    if path:
        print(f"[swiftk] result_path: {os.path.abspath(path)} (one line per answer)", flush=True)
    multimodal = _is_multimodal(engine)
    if multimodal:
        print(
            "[swiftk] a multimodal model: put <image>, <video> or <audio> in a message, then give each its path or URL"
        )
    plain_history: list[dict] = []  # the conversation as text with tags, for --result_path
    saved_media: dict[str, list[str]] = {}
    while True:
        query = _read(multi_line)
        if query is None or query.strip() == "exit":
            return 0
        command = query.strip()
        if command == "clear":
            history, plain_history, saved_media = [], [], {}
            print("(history cleared)")
            continue
        if command == "multi-line":
            multi_line = True
            continue
        if command == "single-line":
            multi_line = False
            continue
        if command == "reset-system":
            system = _read(multi_line) or None
            history, plain_history, saved_media = [], [], {}
            continue
        turn = {"role": "user", "content": query}
        media: dict[str, list[str]] = {}
        if multimodal:
            media = _read_media(query)
            if media is None:
                return 0
            # the tags become OpenAI content parts, the form every engine takes
            turn = with_media_parts({"messages": [turn], **media})[0]
        messages = ([{"role": "system", "content": system}] if system else []) + history + [turn]
        text = _answer(engine, messages, config, stream)
        history += [turn, {"role": "assistant", "content": text}]
        plain_history += [{"role": "user", "content": query}, {"role": "assistant", "content": text}]
        for key, values in media.items():
            saved_media.setdefault(key, []).extend(values)
        if path:
            # ms-swift's row form: tags in the text, the files of the whole conversation in images/videos/audios
            plain = ([{"role": "system", "content": system}] if system else []) + plain_history
            append_jsonl(path, {"messages": plain, "response": text, **saved_media})
