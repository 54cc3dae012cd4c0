"""GRPO's rollouts from ``swiftk rollout`` servers (``--use_vllm true --vllm_mode server``), over HTTP.

trl's own server mode syncs weights over vLLM's NCCL engine, which needs vLLM and a CUDA GPU in the trainer;
where both are there, ``swiftk_grpo.args`` hands the run to it.  Elsewhere (the CPU, or a trainer environment
without vLLM) this ``rollout_func`` does the same job with nothing but HTTP and a file:

* **sync**: when the policy changed since the last rollout, the main process writes its full weights (LoRA
  merged in, Hugging Face names) to ``<output_dir>/.rollout-weights.safetensors`` and asks each server to load
  them (``/collective_rpc`` -> :class:`swiftk_vllm.rollout_worker.WeightSyncExtension`), then resets its prefix
  cache; the other processes wait.  The server must read the trainer's filesystem (same machine, or shared).
* **generate**: each run of equal prompts (trl repeats a prompt ``num_generations`` times; under several processes a
  group may be split between them) is one ``/v1/completions`` request with the template-encoded prompt ids and
  ``n``, seeded by the process's rank too; runs go to the servers in turn, concurrently, and the server's own token
  ids come back, so training scores exactly what was sampled.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional

from swiftk_grpo.rollout import runs_of_equal

SYNC_FILE = ".rollout-weights.safetensors"


def server_urls(args: Any) -> list[str]:
    """The servers' base URLs: ``--vllm_server_base_url``, else each ``--vllm_server_host`` with its port."""
    urls = [u.rstrip("/") for u in (args.get("vllm_server_base_url") or [])]
    if urls:
        return urls
    hosts = list(args.get("vllm_server_host") or [])
    ports = [int(p) for p in (args.get("vllm_server_port") or [8000])]
    if len(ports) == 1:
        ports = ports * len(hosts)
    return [f"http://{host}:{port}" for host, port in zip(hosts, ports)]


def hf_state_dict(model: Any) -> dict:
    """The model's weights under their checkpoint names, LoRA merged in (for a peft model), on the CPU.

    The merge is peft's own (``merge_adapter``/``unmerge_adapter``, in place, as trl's sync does): every process
    runs it, so the base weights of all ranks stay equal even where unmerging does not give them back bit for bit.
    transformers' in-memory names (fused MoE experts, renamed VLM keys) are converted back to the checkpoint's, as
    ``save_pretrained`` does, since vLLM loads checkpoint names."""
    peft = hasattr(model, "peft_config") and hasattr(model, "merge_adapter")
    if peft:
        model.merge_adapter()
    try:
        out, seen = {}, set()
        for name, tensor in model.state_dict().items():
            if peft:
                if ".lora_" in name or ".original_module." in name:
                    continue
                name = name.removeprefix("base_model.model.")
                name = name.replace(".base_layer.", ".").replace(".modules_to_save.default.", ".")
            tensor = tensor.detach()
            if tensor.device.type != "cpu":
                tensor = tensor.cpu()
            elif tensor.data_ptr() in seen or peft:  # tied weights share storage; merged ones are unmerged below
                tensor = tensor.clone()
            seen.add(tensor.data_ptr())
            out[name] = tensor.contiguous()
    finally:
        if peft:
            model.unmerge_adapter()
    base = model.get_base_model() if peft else model
    try:
        from transformers.core_model_loading import revert_weight_conversion
    except ImportError:  # transformers before 5: in-memory names are the checkpoint's
        return out
    return revert_weight_conversion(base, out)


class ServerRollout:
    """``rollout_func`` for trl: prompts in, the servers' ``prompt_ids``/``completion_ids`` out."""

    def __init__(self, template: Any, processor: Any, args: Any):
        import requests

        self.template = template
        self.processor = processor
        self.urls = server_urls(args)
        self.timeout = float(args.get("vllm_server_timeout") or 240.0)
        self.sampling = {
            "max_tokens": int(args.max_completion_length),
            "temperature": float(args.temperature),
            "top_p": float(args.top_p or 1.0),
            "top_k": int(args.top_k or 0) or -1,
            "repetition_penalty": float(args.repetition_penalty or 1.0),
        }
        self.seed = int(args.get("seed") or 42)
        self.session = requests.Session()
        self.step = -1
        self.rank = 0
        self.calls = 0
        self.syncs = 0
        self.last: tuple[float, int] = (0.0, 0)
        self.images: Optional[list] = None  # the trainer's media hooks: text only here
        self.media: list[dict] = []
        self.models = [self._wait(url) for url in self.urls]
        tokenizer = getattr(processor, "tokenizer", processor)
        self.stop_ids = sorted(
            {
                int(t)
                for t in [tokenizer.eos_token_id, *(getattr(template, "stop_token_ids", None) or [])]
                if t is not None
            }
        )

    # -- HTTP ---------------------------------------------------------------------------------
    def _wait(self, url: str) -> str:
        """Wait up to ``--vllm_server_timeout`` for a server to answer; its served model name."""
        import requests

        deadline = time.monotonic() + self.timeout
        while True:
            try:
                response = self.session.get(f"{url}/v1/models", timeout=10)
                if response.status_code == 200:
                    return response.json()["data"][0]["id"]
                problem = f"HTTP {response.status_code}: {response.text[:200]}"
            except requests.RequestException as exc:
                problem = type(exc).__name__
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"--vllm_mode server: no rollout server answered at {url} within --vllm_server_timeout "
                    f"{self.timeout:g} s ({problem}); start one with `swiftk rollout --model ...`"
                )
            time.sleep(1.0)

    def _post(self, url: str, path: str, payload: dict) -> Any:
        # no timeout: --vllm_server_timeout bounds the wait for a server at the start (as trl's client), while a
        # long generation or a big model's reload may take longer
        response = self.session.post(f"{url}{path}", json=payload)
        if response.status_code != 200:
            hint = ""
            if path == "/collective_rpc" and response.status_code == 404:
                hint = " (is it `swiftk rollout`? plain `vllm serve` has no weight sync without VLLM_SERVER_DEV_MODE=1)"
            raise RuntimeError(f"rollout server {url}{path}: HTTP {response.status_code}{hint}: {response.text[:300]}")
        return response.json() if response.content else None

    # -- weights ------------------------------------------------------------------------------
    def sync(self, trainer: Any, model: Any) -> None:
        """The servers load the policy's current weights (main process writes; every process waits)."""
        accelerator = trainer.accelerator
        state = hf_state_dict(model)  # on every rank: the in-place merge keeps their base weights equal
        if accelerator.is_main_process:
            from safetensors.torch import save_file

            path = os.path.abspath(os.path.join(trainer.args.output_dir, SYNC_FILE))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            try:
                save_file(state, path)
                for url in self.urls:
                    self._post(url, "/collective_rpc", {"method": "swiftk_load_weights", "args": [path]})
                    self._post(url, "/reset_prefix_cache", {})
            finally:
                if os.path.exists(path):
                    os.remove(path)
            self.syncs += 1
        del state
        accelerator.wait_for_everyone()

    # -- rollouts -----------------------------------------------------------------------------
    def _complete(self, index: int, prompt_ids: list[int], n: int) -> dict:
        server = index % len(self.urls)
        payload = {
            "model": self.models[server],
            "prompt": prompt_ids,
            "n": n,
            **self.sampling,
            # each process samples its own share of a group: its rank in the seed keeps the shares apart
            "seed": self.seed + self.calls * 7919 + index + self.rank * 104729,
            "stop_token_ids": self.stop_ids,
            "skip_special_tokens": False,
            "include_stop_str_in_output": True,
            "return_token_ids": True,
        }
        return self._post(self.urls[server], "/v1/completions", payload)

    def __call__(self, prompts: list, trainer: Any) -> dict:
        from trl.models import unwrap_model_for_generation

        if self.images is not None and any(self.images):
            raise RuntimeError("--vllm_mode server: rows with images are not supported; train on text rows")
        self.rank = int(trainer.accelerator.process_index)
        if trainer.state.global_step != self.step:  # the policy was updated since the last rollout
            with unwrap_model_for_generation(
                trainer.model_wrapped,
                trainer.accelerator,
                gather_deepspeed3_params=trainer.args.ds3_gather_for_generation,
            ) as unwrapped:
                self.sync(trainer, unwrapped)
            self.step = trainer.state.global_step
        runs = runs_of_equal(prompts)
        self.calls += 1  # the rollout round: with the run's index and the rank, each request's seed
        encoded = [
            list(self.template.encode({"messages": list(p)}, add_generation_prompt=True)["input_ids"]) for p, _ in runs
        ]
        start = time.perf_counter()
        workers = max(1, min(len(runs), 8 * len(self.urls)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            responses = list(pool.map(lambda i: self._complete(i, encoded[i], runs[i][1]), range(len(runs))))
        seconds = time.perf_counter() - start
        prompt_ids, completion_ids = [], []
        for ids, (_, count), response in zip(encoded, runs, responses):
            choices = sorted(response["choices"], key=lambda c: c["index"])[:count]
            for choice in choices:
                prompt_ids.append(ids)
                completion_ids.append(list(choice["token_ids"]))
        self.last = (seconds, sum(len(c) for c in completion_ids))
        self.media = [{} for _ in completion_ids]
        return {"prompt_ids": prompt_ids, "completion_ids": completion_ids, "logprobs": None}

    def close(self) -> None:
        self.session.close()
