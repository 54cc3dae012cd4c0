"""``swiftk sample``: read the dataset (one ``--data_range`` shard of it), hand it batch by batch to the
``--sampler_type``, and write what it returns as jsonl in ``--output_dir``.

1. Everything that can be refused is, before a model loads: the sampler, the output file, the shard, the
   engine's keyword arguments, the rewards.
2. The rows: ``--dataset`` as ``swiftk sft`` reads it (no validation split), then shard ``I`` of ``N``:
   rows ``[I*len//N, (I+1)*len//N)``, so ``N`` shards cover the dataset exactly once. Under torchrun
   (``NPROC_PER_NODE``) each rank samples its part of that shard into ``<file>.rank<r>.jsonl``, and rank 0
   joins them into ``<file>`` at the end.
3. The engine (``--sampler_engine``) and the scorers (``--orm_model``, ``--prm_model``).
4. ``--num_sampling_per_gpu_batch_size`` rows per batch, at most ``--num_sampling_per_gpu_batches`` batches,
   each batch's lines appended as it ends (see :mod:`swiftk_sample.output`; ``--resume`` continues).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from datetime import datetime
from typing import Any

from swiftk.api import SampleContext, UsageError


def output_path(args: Any) -> str:
    """``--output_dir``/``--output_file`` (a timestamp when unset), checked: a name, not a path; jsonl."""
    name = args.get("output_file")
    if name is None:
        name = rank0_value(datetime.now().strftime("%Y-%m-%d-%H-%M-%S") + ".jsonl")
        args.output_file = name
    if "/" in name or "\\" in name:
        raise UsageError(f"--output_file {name}: give a file name only; the folder is --output_dir")
    if not name.endswith(".jsonl"):
        raise UsageError(f"--output_file {name}: the output is jsonl; name it {name}.jsonl")
    return os.path.join(args.output_dir, name)


def shard(args: Any) -> tuple[int, int]:
    """``--data_range I N`` as (I, N) (the kernel checked 0 <= I < N); (0, 1) when unset."""
    value = list(args.get("data_range") or [])
    return (int(value[0]), int(value[1])) if value else (0, 1)


def rank_and_world() -> tuple[int, int]:
    """(rank, ranks) under torchrun (``NPROC_PER_NODE``); (0, 1) otherwise."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def rank_path(path: str, rank: int) -> str:
    """``<name>.rank<r>.jsonl``: what rank ``r`` writes (and resumes) before rank 0 joins the ranks' files."""
    return f"{path[: -len('.jsonl')]}.rank{rank}.jsonl"


def start_ranks() -> None:
    """Under torchrun: this rank's GPU (``LOCAL_RANK``, where the pt engine loads the model) and a gloo group
    for the little the ranks exchange (a default file name, the end of sampling)."""
    import torch
    import torch.distributed as dist

    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group("gloo")


def rank0_value(value: Any) -> Any:
    """Under torchrun, rank 0's ``value`` on every rank (a default file name must not differ by a second)."""
    if rank_and_world()[1] == 1:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def join_ranks(path: str, rank: int, world: int) -> None:
    """Wait for every rank (gloo, over torchrun's rendezvous), then rank 0 writes ``path`` from the ranks'
    files in rank order (the rows' order) and removes them: one result, as one process would have written."""
    import torch.distributed as dist

    dist.barrier()
    if rank == 0:
        from swiftk.api import atomic_write_text

        parts = [rank_path(path, r) for r in range(world)]
        text = "".join(open(part, encoding="utf-8").read() for part in parts)
        atomic_write_text(path, text)
        for part in parts:
            os.remove(part)
    dist.barrier()
    dist.destroy_process_group()


def sampler_class(args: Any) -> Any:
    from swiftk.api import get_host

    entry = get_host().registry("samplers").entry(args.sampler_type)
    try:
        return entry.load()
    except ImportError as exc:
        raise UsageError(
            f"--sampler_type {args.sampler_type} (plugin '{entry.plugin}'): cannot import it: {exc}"
        ) from None


def shard_rows(args: Any, index: int, count: int) -> list[dict]:
    from swiftk.api import derived_args, load_datasets, startup_phase

    with startup_phase():
        train, _ = load_datasets(
            derived_args(args, split_dataset_ratio=0.0, val_dataset=[], remove_unused_columns=False)
        )
    rows = list(train)
    rows = rows[index * len(rows) // count : (index + 1) * len(rows) // count]
    rank, world = rank_and_world()  # under torchrun each rank takes its part of the shard
    return rows[rank * len(rows) // world : (rank + 1) * len(rows) // world]


def sampling_config(args: Any) -> Any:
    """The generation arguments as a request config; ``--seed`` seeds the engine once (pt, vllm)."""
    from swiftk.api import RequestConfig

    return dataclasses.replace(RequestConfig.from_args(args), stream=False, n=1)


def fingerprint(args: Any, rows: list[dict], row_id: Any) -> dict[str, Any]:
    """What a resumed run must share with the one it continues."""
    ids = hashlib.md5("".join(row_id(r) for r in rows).encode()).hexdigest()
    keys = ("sampler_type", "model", "adapters", "num_return_sequences", "num_sampling_per_gpu_batch_size")
    keys += ("orm_model", "prm_model", "seed", "temperature", "data_range")
    return {"rows": ids, **{k: args.get(k) for k in keys}}


def run_sample(args: Any) -> int:
    from swiftk_sample import records
    from swiftk_sample.engines import check_engine_kwargs
    from swiftk_sample.output import SampleOutput, lock_output, release_output

    # 1. refusals first
    sampler_cls = sampler_class(args)
    rank, world = rank_and_world()
    if world > 1:
        start_ranks()
    final = output_path(args)
    path = rank_path(final, rank) if world > 1 else final
    index, count = shard(args)
    check_engine_kwargs(args)
    batch = int(args.num_sampling_per_gpu_batch_size)
    if batch < 1:
        raise UsageError(f"--num_sampling_per_gpu_batch_size {batch}: at least one row per batch")
    if os.path.exists(final) and not args.get("override_exist_file"):
        print(f"[swiftk] {final} exists: nothing to do (--override_exist_file true samples it again)", flush=True)
        if world > 1:
            import torch.distributed as dist

            dist.destroy_process_group()
        return 0
    os.makedirs(args.output_dir, exist_ok=True)
    lock_output(path)
    context = None
    try:
        cache = records.read_cache(list(args.get("cache_files") or []))
        # 2. the rows
        rows = shard_rows(args, index, count)
        batches = -(-len(rows) // batch)
        if args.get("num_sampling_per_gpu_batches") is not None:
            batches = min(batches, int(args.num_sampling_per_gpu_batches))
        output = SampleOutput(path, fingerprint(args, rows, records.row_id))
        point = output.resume_point(bool(args.get("resume")))
        # 3. the engine, the scorers and the sampler
        context = build_context(args, cache)
        sampler = sampler_cls(context)
        done = output.start(point)
        if rank == 0:
            _save_record(args, final)
        # 4. the batches
        from tqdm import tqdm

        started, written = time.time(), 0
        for b in tqdm(range(done, batches), initial=done, total=batches, desc="sample", unit="batch"):
            lines = sampler.sample(rows[b * batch : (b + 1) * batch])
            output.append(b + 1, lines)
            written += len(lines)
        output.finish()
        if world > 1:
            join_ranks(final, rank, world)
    finally:
        release_output(path)
        for closable in (context.engine, context.orm, context.prm) if context is not None else ():
            close = getattr(closable, "close", None)
            if close is not None:
                close()
    prompts = min(len(rows), batches * batch) - done * batch
    seconds = time.time() - started
    print(
        f"[swiftk] sampled {prompts} prompts in {seconds:.1f} s ({prompts / max(seconds, 1e-9):.2f} prompts/s), "
        f"{written} lines: {os.path.abspath(final if rank == 0 else path)}",
        flush=True,
    )
    return 0


def build_context(args: Any, cache: dict) -> SampleContext:
    """The engine and the scorers, with the helpers a sampler uses (:class:`swiftk.api.SampleContext`)."""
    from swiftk_sample import records
    from swiftk_sample.engines import answer_continuation, build_engine
    from swiftk_sample.scoring import build_scorer

    engine = build_engine(args)
    system = args.get("system")
    tokenizer = getattr(getattr(engine, "template", None), "tokenizer", None)
    return SampleContext(
        args=args,
        engine=engine,
        config=sampling_config(args),
        orm=build_scorer(args.get("orm_model"), args, "--orm_model", tokenizer),
        prm=build_scorer(args.get("prm_model"), args, "--prm_model", tokenizer),
        cache=cache,
        row_id=records.row_id,
        prompt=lambda row: records.prompt(row, system),
        continue_answer=answer_continuation(engine, system) if engine is not None else None,
    )


def _save_record(args: Any, path: str) -> None:
    """``<output>.args.json``: this run's arguments and what they resolved (runs sharing a folder keep theirs)."""
    from swiftk.api import atomic_write_text, record_resolution

    record_resolution(args, model=args.sampler_engine not in ("client", "no"))  # client, no: no local model
    record = args.to_record()
    atomic_write_text(path[: -len(".jsonl")] + ".args.json", json.dumps(record, ensure_ascii=False, indent=2) + "\n")
