"""``--rlhf_type grpo``: trl's ``GRPOTrainer`` with swift-plugin-sft's checkpoints, logs and summary.

What differs from trl's defaults, and why:

* **Rollouts go through the engine interface.**  trl's ``rollout_func`` hook hands each generation
  batch of prompts to :class:`swiftk_grpo.rollout.EngineRollout`, which encodes them with the run's
  template and generates with the pt engine (continuous batching) on the live policy; the prompt
  and completion token ids come back from the engine, so training scores exactly what was sampled.
  ``--use_vllm`` instead lets trl drive vLLM colocated on the GPUs (weights synced every step);
  ``--use_vllm --vllm_mode server`` takes rollouts from ``swiftk rollout`` servers
  (:class:`swiftk_grpo.server_rollout.ServerRollout`, or trl's NCCL-synced server mode on a GPU with vLLM).
* **The reference model is ms-swift's.**  For an adapter tuner it is the base model with the
  adapters disabled (trl would freeze a copy of the starting adapter); otherwise the model the
  ``rlhf`` pipeline loaded (``--ref_model``, or ``--model`` again) rather than one trl reloads
  from the policy's config.
* **Later ms-swift options** trl lacks (``--advantage_estimator``, ``--kl_in_reward``, ``--dynamic_sample``)
  come from :class:`swiftk_grpo.later_trainer.LaterGRPOMixin`; the others are trl's config fields.
* **Rows with images** (Qwen2-VL, Qwen2.5-VL) go to the rollouts and every log-prob pass with the
  template's own media: :class:`swiftk_grpo.media.MediaGRPOMixin`.
* **Rewards** are the registry's (:mod:`swiftk_grpo.reward_funcs`), checked on every call.
* ``--log_completions`` without wandb appends every rollout to ``<output_dir>/completions.jsonl``, copied
  into each checkpoint as it is saved.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from typing import Any

import trl
from trl.trainer.utils import add_fused_lm_head, disable_dropout_in_model

from swiftk_grpo.later_args import server_mode
from swiftk_grpo.later_trainer import LaterGRPOMixin
from swiftk_grpo.media import MediaGRPOMixin
from swiftk_grpo.reward_funcs import build_rewards, completion_text
from swiftk_grpo.rollout import EngineRollout
from swiftk_sft import plain_head
from swiftk_sft.rl_trainer import RLHFTrainerMixin
from swiftk_sft.trainer import SwiftTrainerMixin


class GRPOTrainer(RLHFTrainerMixin, SwiftTrainerMixin, LaterGRPOMixin, MediaGRPOMixin, trl.GRPOTrainer):
    """``--rlhf_type grpo``."""

    run_files_in_checkpoints = ("args.json", "completions.jsonl")  # the rollouts so far, with each checkpoint

    def __init__(
        self,
        model: Any = None,
        args: Any = None,
        *,
        template: Any = None,
        swift_args: Any = None,
        processing_class: Any = None,
        ref_model: Any = None,
        data_collator: Any = None,
        **kwargs: Any,
    ):
        tokenizer = getattr(processing_class, "tokenizer", processing_class)
        rewards = build_rewards(swift_args, tokenizer)
        self.rollout = self._rollout(args, template, processing_class, swift_args)
        # trl builds its own reference when beta != 0 (a frozen copy of a peft adapter, or the policy
        # reloaded from its config); built with beta 0 it builds none, and ours is set below
        beta, args.beta = args.beta, 0.0
        try:
            with warnings.catch_warnings():
                # we pin trl and test rollout_func against it: its "experimental feature" warning tells users nothing
                warnings.filterwarnings("ignore", message="You are using 'rollout_func'")
                super().__init__(
                    model=model,
                    reward_funcs=rewards,
                    args=args,
                    processing_class=processing_class,
                    rollout_func=self.rollout,
                    template=template,
                    swift_args=swift_args,
                    **kwargs,
                )
        finally:
            args.beta = beta
        self.beta = beta
        if beta != 0.0 and ref_model is not None:
            self.ref_model = self._prepare_reference(ref_model)
        self.setup_later_options(swift_args)
        self._completions_path = (
            os.path.join(args.output_dir, "completions.jsonl")
            if swift_args.get("log_completions") and not args.log_completions
            else None
        )

    @staticmethod
    def _rollout(args: Any, template: Any, processor: Any, swift_args: Any) -> Any:
        """Our ``rollout_func``: ``swiftk rollout`` servers over HTTP, or the pt engine; None where trl drives
        vLLM itself (colocated, or a server it syncs over NCCL)."""
        if args.use_vllm:
            return None
        if server_mode(swift_args):
            from swiftk_grpo.server_rollout import ServerRollout

            return ServerRollout(template, processor, swift_args)
        return EngineRollout(template, processor, swift_args)

    def _prepare_reference(self, ref_model: Any) -> Any:
        """What trl does to a reference it builds: no dropout, the fused log-prob head, device placement."""
        if self.args.disable_dropout:
            disable_dropout_in_model(ref_model)
        add_fused_lm_head(ref_model, temperature=self.temperature, cast_lm_head_to_fp32=self.args.cast_lm_head_to_fp32)
        plain_head.install(ref_model, temperature=self.temperature, cast_to_fp32=self.args.cast_lm_head_to_fp32)
        if self.is_deepspeed_enabled:
            from trl.models import prepare_deepspeed

            return prepare_deepspeed(ref_model, self.accelerator)
        return self.accelerator.prepare_model(ref_model, evaluation_mode=True)

    # -- rollouts, tokens and logged completions ---------------------------------------------
    def _generate_and_score_completions(self, inputs: list[dict]) -> dict:
        output = super()._generate_and_score_completions(inputs)
        mode = "train" if self.model.training else "eval"
        if self.rollout is not None:
            seconds, tokens = self.rollout.last
            self._metrics[mode]["rollout/seconds"].append(seconds)
            self._metrics[mode]["rollout/tokens_per_s"].append(tokens / seconds if seconds > 0 else 0.0)
        if self.model.training:
            self._tokens += int(output["prompt_mask"].sum()) + int(output["completion_mask"].sum())
        if self._completions_path and self.accelerator.is_main_process:
            self._append_completions(len(inputs) * self.accelerator.num_processes)
        return output

    def _append_completions(self, count: int) -> None:
        """The newest ``count`` rollouts (prompt, completion, each reward, advantage) as JSON lines."""
        logs = self._logs
        prompts, completions = list(logs["prompt"])[-count:], list(logs["completion"])[-count:]
        advantages = list(logs["advantages"])[-count:]
        rewards = {name: list(values)[-count:] for name, values in logs["rewards"].items()}
        step, mode = self.state.global_step, "train" if self.model.training else "eval"
        with open(self._completions_path, "a", encoding="utf-8") as f:
            for i, (prompt, completion) in enumerate(zip(prompts, completions)):
                row = {
                    "step": step,
                    "mode": mode,
                    "prompt": prompt,
                    "completion": completion_text(completion),
                    "rewards": {name: values[i] for name, values in rewards.items()},
                    "advantage": advantages[i],
                }
                f.write(json.dumps(row, ensure_ascii=False) + "\n")

    def train(self, resume_from_checkpoint: Any = None, *args: Any, **kwargs: Any):
        if self._completions_path and isinstance(resume_from_checkpoint, str) and self.args.should_save:
            # the rollouts up to that checkpoint, not those of the interrupted run after it
            saved = os.path.join(resume_from_checkpoint, "completions.jsonl")
            if os.path.isfile(saved):
                shutil.copyfile(saved, self._completions_path)
        try:
            return super().train(resume_from_checkpoint, *args, **kwargs)
        finally:
            if self.rollout is not None:
                self.rollout.close()
