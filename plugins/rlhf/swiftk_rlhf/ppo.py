"""``--rlhf_type ppo``: PPO with a value head and a frozen reward model, on trl 1.16's pieces.

trl removed its ``PPOTrainer`` after 1.12.0.  This module is that trainer's algorithm (the
"N implementation details of RLHF with PPO" recipe of trl ≤ 1.12, Apache-2.0, © The HuggingFace
Team), rebuilt on what trl 1.16 still ships (``selective_log_softmax``, ``first_true_indices``,
``get_reward``, ``disable_dropout_in_model``, ``unwrap_model_for_generation``,
``prepare_deepspeed``) and on ``transformers.Trainer`` itself, so that checkpoints, resume,
callbacks and ``SwiftTrainerMixin`` work as for every other trainer.  What changed from trl 1.12:

* ``Trainer.__init__`` builds the accelerator, callbacks and state; ``train`` is the PPO loop.
* checkpoints hold the policy (adapter or full model, what ``swiftk infer`` loads) and, in
  ``value_model/``, the value model; ``--resume_from_checkpoint`` restores both, the optimizer,
  the scheduler, the RNG states and the step.
* the reward model is any sequence classifier with one output (``swiftk rlhf --rlhf_type rm``),
  optionally with ``--reward_adapters``; the value model starts as a copy of it.
* every metric is also logged as ``loss`` (policy + vf_coef * value loss) and ``reward`` (the mean
  reward-model score of the rollouts) so that logging.jsonl and the curves read like other runs.

Each step: sample ``per_device_train_batch_size * gradient_accumulation_steps`` prompts, generate
``response_length`` tokens at ``temperature``, cut each response after its first EOS, score it with
the reward model (minus ``missing_eos_penalty`` without EOS), add the per-token KL penalty
``kl_coef * (logp - logp_ref)``, compute GAE advantages (``gamma``, ``lam``; ``whiten_rewards``),
then ``num_ppo_epochs`` epochs over ``num_mini_batches`` mini-batches of the clipped policy loss
(``cliprange``) plus ``vf_coef`` times the clipped value loss (``cliprange_value``).
"""
from __future__ import annotations

import gc
import logging
import math
import os
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np
import torch
import torch.nn as nn
from transformers import GenerationConfig, Trainer, TrainerState, TrainingArguments
from transformers.trainer_callback import ExportableState
from trl.experimental.utils import first_true_indices, get_reward
from trl.models.utils import prepare_deepspeed, unwrap_model_for_generation
from trl.trainer.utils import disable_dropout_in_model, pad, selective_log_softmax

from swiftk_rlhf.trainers import RLHFTrainerMixin
from swiftk_sft.trainer import SwiftTrainerMixin

logger = logging.getLogger("swiftk.rlhf.ppo")

INVALID_LOGPROB = 1.0


@dataclass
class PPOConfig(TrainingArguments):
    """trl 1.12's ``PPOConfig`` fields, with the page's defaults (filled from the same-named arguments)."""

    num_ppo_epochs: int = field(default=4, metadata={"help": "PPO epochs per batch of rollouts."})
    whiten_rewards: bool = field(default=False, metadata={"help": "Whiten the rewards."})
    kl_coef: float = field(default=0.05, metadata={"help": "KL coefficient."})
    kl_estimator: str = field(default="k1", metadata={"help": "KL estimator: k1 or k3."})
    cliprange: float = field(default=0.2, metadata={"help": "Policy clip range."})
    vf_coef: float = field(default=0.1, metadata={"help": "Value loss coefficient."})
    cliprange_value: float = field(default=0.2, metadata={"help": "Value clip range."})
    gamma: float = field(default=1.0, metadata={"help": "Discount factor."})
    lam: float = field(default=0.95, metadata={"help": "GAE lambda."})
    num_mini_batches: int = field(default=1, metadata={"help": "Mini-batches per batch of rollouts."})
    total_episodes: Optional[int] = field(default=None, metadata={"help": "Rollouts in all; None: epochs * rows."})
    local_rollout_forward_batch_size: int = field(default=64, metadata={"help": "Batch size of rollout forwards."})
    num_sample_generations: int = field(default=10, metadata={"help": "Sample generations logged during training."})
    response_length: int = field(default=512, metadata={"help": "Max response length."})
    stop_token: Optional[str] = field(default="eos", metadata={"help": "'eos' or None."})
    stop_token_id: Optional[int] = field(default=None, metadata={"help": "A stop token id instead of eos."})
    temperature: float = field(default=0.9, metadata={"help": "Sampling temperature."})
    missing_eos_penalty: Optional[float] = field(default=None, metadata={"help": "Penalty without EOS."})
    ds3_gather_for_generation: bool = field(default=True, metadata={"help": "ZeRO-3: gather weights to generate."})
    dataset_num_proc: Optional[int] = field(default=None, metadata={"help": "Unused (data arrive encoded)."})


# --- small pieces of trl 1.12's PPO that trl 1.16 no longer has ----------------------------------

def masked_mean(values: torch.Tensor, mask: torch.Tensor, axis: Optional[int] = None) -> torch.Tensor:
    if axis is not None:
        return (values * mask).sum(axis=axis) / mask.sum(axis=axis)
    return (values * mask).sum() / mask.sum()


def masked_var(values: torch.Tensor, mask: torch.Tensor, unbiased: bool = True) -> torch.Tensor:
    mean = masked_mean(values, mask)
    variance = masked_mean((values - mean) ** 2, mask)
    if unbiased:
        count = mask.sum()
        if count > 1:
            variance = variance * count / (count - 1)
    return variance


def masked_whiten(values: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    mean, var = masked_mean(values, mask), masked_var(values, mask)
    whitened = (values - mean) * torch.rsqrt(var + 1e-8)
    return whitened if shift_mean else whitened + mean


def truncate_response(stop_token_id: int, pad_token_id: int, responses: torch.Tensor) -> torch.Tensor:
    """Everything after the first ``stop_token_id`` becomes padding."""
    trunc = first_true_indices(responses == stop_token_id).unsqueeze(-1)
    idxs = torch.arange(responses.shape[1], device=responses.device).view(1, -1)
    return torch.masked_fill(responses, idxs > trunc, pad_token_id)


def forward(model: nn.Module, query_responses: torch.Tensor, pad_token_id: int) -> Any:
    attention_mask = query_responses != pad_token_id
    position_ids = attention_mask.cumsum(1) - attention_mask.long()
    input_ids = torch.masked_fill(query_responses, ~attention_mask, 0)
    return model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, return_dict=True,
                 output_hidden_states=True, use_cache=False)


@torch.no_grad()
def batch_generation(model: nn.Module, queries: torch.Tensor, batch_size: int, pad_token_id: int,
                     generation_config: GenerationConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """``(query + response ids, the sampling logits of each response token)``, ``batch_size`` rows at a time."""
    context_length = queries.shape[1]
    query_responses, logitss = [], []
    for i in range(0, queries.shape[0], batch_size):
        query = queries[i:i + batch_size]
        attention_mask = query != pad_token_id
        output = model.generate(input_ids=torch.masked_fill(query, ~attention_mask, 0), attention_mask=attention_mask,
                                generation_config=generation_config)
        query_responses.append(torch.cat((query, output.sequences[:, context_length:]), dim=1))
        logitss.append(torch.stack(output.scores, 1))
    padded = pad(query_responses, padding_value=pad_token_id, padding_side="right")
    padded_logits = pad(logitss, padding_value=0, padding_side="right")
    return (padded.view(-1, padded.shape[-1])[:queries.shape[0]],
            padded_logits.view(-1, *padded_logits.shape[2:])[:queries.shape[0]])


class PolicyAndValueWrapper(nn.Module):
    """One module for the optimizer and accelerate: the policy and the value model."""

    def __init__(self, policy: nn.Module, value_model: nn.Module):
        super().__init__()
        self.policy = policy
        self.value_model = value_model
        self.critic_backbone = getattr(value_model, value_model.base_model_prefix)
        self.config = policy.config

    @property
    def is_gradient_checkpointing(self) -> bool:
        return bool(getattr(self.policy, "is_gradient_checkpointing", False))

    def gradient_checkpointing_enable(self, **kwargs: Any) -> None:
        self.policy.gradient_checkpointing_enable(**kwargs)

    def gradient_checkpointing_disable(self) -> None:
        self.policy.gradient_checkpointing_disable()

    def forward(self, **kwargs: Any):
        output = self.critic_backbone(**kwargs)
        values = self.value_model.score(output.hidden_states[-1])
        return self.policy(**kwargs), values


class PromptCollator:
    """Left-pads prompt ids (generation continues at the right edge)."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, rows: list[dict]) -> dict:
        width = max(len(r["input_ids"]) for r in rows)
        ids = [[self.pad_token_id] * (width - len(r["input_ids"])) + list(r["input_ids"]) for r in rows]
        return {"input_ids": torch.tensor(ids, dtype=torch.long)}


class _PPOTrainer(Trainer):
    """The PPO loop on a ``transformers.Trainer`` (see the module docstring)."""

    def __init__(self, model: Any, args: PPOConfig, train_dataset: Any, processing_class: Any,
                 ref_model: Any = None, reward_model: Any = None, value_model: Any = None,
                 eval_dataset: Any = None, data_collator: Any = None, callbacks: Any = None, **kwargs: Any):
        from peft import PeftModel

        tokenizer = getattr(processing_class, "tokenizer", processing_class)
        if reward_model is None:
            raise ValueError("PPO needs a reward model")
        self.policy_model = model
        self.is_peft_model = isinstance(model, PeftModel)
        if args.stop_token and args.stop_token_id is not None:
            raise ValueError("set one of stop_token and stop_token_id")
        self.stop_token_id = tokenizer.eos_token_id if args.stop_token == "eos" else args.stop_token_id
        if args.kl_estimator not in ("k1", "k3"):
            raise ValueError("kl_estimator must be k1 or k3")
        if ref_model is None and not self.is_peft_model:
            from trl.experimental.utils import create_reference_model

            ref_model = create_reference_model(model)
        self.ref_model = ref_model
        self.reward_model = reward_model
        value_model = value_model if value_model is not None else _copy_model(reward_model)
        for param in value_model.parameters():
            param.requires_grad_(True)
        self.value_model = value_model
        for module in (model, ref_model, value_model, reward_model):
            if module is not None:
                disable_dropout_in_model(module)
        wrapper = PolicyAndValueWrapper(model, value_model)
        super().__init__(model=wrapper, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset,
                         data_collator=data_collator or PromptCollator(tokenizer.pad_token_id),
                         processing_class=processing_class, callbacks=callbacks, **kwargs)
        self.tokenizer_ = tokenizer
        device = self.accelerator.device
        if self.is_deepspeed_enabled:
            self.reward_model = prepare_deepspeed(self.reward_model, self.accelerator)
            if self.ref_model is not None:
                self.ref_model = prepare_deepspeed(self.ref_model, self.accelerator)
        else:
            self.reward_model = self.reward_model.to(device).eval()
            if self.ref_model is not None:
                self.ref_model = self.ref_model.to(device).eval()

    # -- batch sizes -------------------------------------------------------------------------------
    def _sizes(self) -> None:
        args = self.args
        self.world_size = self.accelerator.num_processes
        self.local_batch_size = args.per_device_train_batch_size * args.gradient_accumulation_steps
        self.batch_size = self.local_batch_size * self.world_size
        if self.local_batch_size % args.num_mini_batches:
            raise ValueError("per_device_train_batch_size * gradient_accumulation_steps must be a multiple of "
                             "num_mini_batches")
        self.local_mini_batch_size = self.local_batch_size // args.num_mini_batches
        rows = len(self.train_dataset)
        if args.max_steps and args.max_steps > 0:
            self.num_total_batches = int(args.max_steps)
        else:
            episodes = args.total_episodes or int(args.num_train_epochs * rows)
            self.num_total_batches = max(1, math.ceil(episodes / self.batch_size))

    @contextmanager
    def null_ref_context(self):
        """With an adapter, the reference model is the policy with its adapter disabled."""
        policy = self.accelerator.unwrap_model(self.model).policy
        with policy.disable_adapter() if self.is_peft_model and self.ref_model is None else nullcontext():
            yield

    # -- saving and resuming ---------------------------------------------------------------------
    def save_model(self, output_dir: Optional[str] = None, _internal_call: bool = False) -> None:
        """The policy where ``swiftk infer`` finds it; the value model in ``value_model/``."""
        output_dir = output_dir or self.args.output_dir
        wrapper = self.model
        unwrapped = self.accelerator.unwrap_model(wrapper)
        self.model = unwrapped.policy
        try:
            super().save_model(output_dir, _internal_call)
        finally:
            self.model = wrapper
        if self.args.should_save:
            unwrapped.value_model.save_pretrained(os.path.join(output_dir, "value_model"), safe_serialization=True)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
        wrapper = self.model
        unwrapped = self.accelerator.unwrap_model(wrapper)
        self.model = unwrapped.policy      # the Trainer's loader (full weights or an adapter) reads self.model
        try:
            super()._load_from_checkpoint(resume_from_checkpoint, model=unwrapped.policy)
        finally:
            self.model = wrapper
        value_file = os.path.join(resume_from_checkpoint, "value_model", "model.safetensors")
        if os.path.isfile(value_file):
            from safetensors.torch import load_file

            unwrapped.value_model.load_state_dict(load_file(value_file), strict=False)

    # -- the PPO loop ------------------------------------------------------------------------------
    def train(self, resume_from_checkpoint: Optional[str] = None, **kwargs: Any):
        args = self.args
        self._sizes()
        accelerator = self.accelerator
        device = accelerator.device
        pad_id = self.tokenizer_.pad_token_id
        if args.gradient_checkpointing:
            policy = self.model.policy
            policy.gradient_checkpointing_enable(gradient_checkpointing_kwargs=args.gradient_checkpointing_kwargs
                                                 or {"use_reentrant": False})
            if self.is_peft_model:
                policy.enable_input_require_grads()
        self.create_optimizer_and_scheduler(num_training_steps=self.num_total_batches)
        dataloader = torch.utils.data.DataLoader(self.train_dataset, batch_size=self.local_batch_size, shuffle=True,
                                                 collate_fn=self.data_collator, drop_last=True)
        if len(dataloader) == 0:
            raise ValueError(f"PPO needs at least {self.local_batch_size} prompts (per_device_train_batch_size * "
                             f"gradient_accumulation_steps), got {len(self.train_dataset)}")
        torch.manual_seed(args.seed)
        self.model, self.optimizer, dataloader = accelerator.prepare(self.model, self.optimizer, dataloader)
        self.model_wrapped = self.model
        torch.manual_seed(args.seed + accelerator.process_index * 100003)

        def batches():
            while True:
                yield from dataloader

        stream = iter(batches())
        self.state = TrainerState(is_local_process_zero=self.is_local_process_zero(),
                                  is_world_process_zero=self.is_world_process_zero(),
                                  stateful_callbacks=[cb for cb in self.callback_handler.callbacks + [self.control]
                                                      if isinstance(cb, ExportableState)])
        self.state.max_steps = self.num_total_batches
        self.state.num_train_epochs = self.num_total_batches * self.batch_size / max(1, len(self.train_dataset))
        for name in ("logging_steps", "eval_steps", "save_steps"):
            value = getattr(args, name)
            if value is not None:
                setattr(self.state, name, math.ceil(self.state.max_steps * value) if value < 1 else value)
        start = 0
        if resume_from_checkpoint:
            self._load_from_checkpoint(resume_from_checkpoint)
            self._load_optimizer_and_scheduler(resume_from_checkpoint)
            saved = TrainerState.load_from_json(os.path.join(resume_from_checkpoint, "trainer_state.json"))
            start = saved.global_step
            self.state.global_step = start
            self.state.log_history = saved.log_history
            for _ in range(start):      # the same prompts as an uninterrupted run
                next(stream)
            self._load_rng_state(resume_from_checkpoint)
        self.control = self.callback_handler.on_train_begin(args, self.state, self.control)
        generation_kwargs = {"max_new_tokens": args.response_length, "temperature": args.temperature + 1e-7,
                             "top_k": 0, "top_p": 1.0, "do_sample": True}
        generation_config = GenerationConfig(**generation_kwargs, pad_token_id=pad_id, return_dict_in_generate=True,
                                             output_scores=True)
        self._start_time = time.time()
        self.model.train()
        for update in range(start + 1, self.num_total_batches + 1):
            self.control = self.callback_handler.on_step_begin(args, self.state, self.control)
            data = next(stream)
            metrics = self._ppo_step(data["input_ids"].to(device), generation_config, generation_kwargs)
            self.state.global_step = update
            self.state.epoch = update * self.batch_size / max(1, len(self.train_dataset))
            self.lr_scheduler.step()
            self.control = self.callback_handler.on_step_end(args, self.state, self.control)
            if self.control.should_log:
                metrics["learning_rate"] = self.lr_scheduler.get_last_lr()[0]
                self.log(metrics)
                self.control.should_log = False
            if args.num_sample_generations > 0 and (update - 1) % max(
                    1, self.num_total_batches // args.num_sample_generations) == 0:
                self._log_samples()
            if self.control.should_save:
                self._save_checkpoint(self.model, trial=None)
                self.control = self.callback_handler.on_save(args, self.state, self.control)
            gc.collect()
            if self.control.should_training_stop:
                break
        self.control = self.callback_handler.on_train_end(args, self.state, self.control)
        return None

    def _ppo_step(self, queries: torch.Tensor, generation_config: GenerationConfig,
                  generation_kwargs: dict) -> dict:
        args, accelerator, model = self.args, self.accelerator, self.model
        pad_id, eos_id = self.tokenizer_.pad_token_id, self.tokenizer_.eos_token_id
        context_length = queries.shape[1]
        rollout = args.local_rollout_forward_batch_size
        with torch.no_grad():
            with unwrap_model_for_generation(model, accelerator,
                                             gather_deepspeed3_params=args.ds3_gather_for_generation,
                                             generation_kwargs=generation_kwargs) as unwrapped:
                query_responses, logitss = batch_generation(unwrapped.policy, queries, rollout, pad_id,
                                                            generation_config)
            responses, post, logprobs, ref_logprobs, seq_lengths, scores, values = [], [], [], [], [], [], []
            for i in range(0, queries.shape[0], rollout):
                query_response = query_responses[i:i + rollout]
                response = query_response[:, context_length:]
                logits = logitss[i:i + rollout]
                logprob = selective_log_softmax(logits, response)
                if self.ref_model is None:
                    with self.null_ref_context():
                        ref_output = forward(accelerator.unwrap_model(model).policy, query_response, pad_id)
                else:
                    ref_output = forward(self.ref_model, query_response, pad_id)
                ref_logits = ref_output.logits[:, context_length - 1:-1] / (args.temperature + 1e-7)
                ref_logprob = selective_log_softmax(ref_logits, response)
                post_response = response
                if self.stop_token_id is not None:
                    post_response = truncate_response(self.stop_token_id, pad_id, response)
                post_query_response = torch.cat((query_response[:, :context_length], post_response), 1)
                seq_length = first_true_indices(post_response == pad_id) - 1
                full_value, _, _ = get_reward(accelerator.unwrap_model(model).value_model, query_response, pad_id,
                                              context_length)
                _, score, _ = get_reward(self.reward_model, post_query_response, pad_id, context_length)
                responses.append(response)
                post.append(post_response)
                logprobs.append(logprob)
                ref_logprobs.append(ref_logprob)
                seq_lengths.append(seq_length)
                scores.append(score)
                values.append(full_value[:, context_length - 1:-1].squeeze(-1))
            responses, post = torch.cat(responses), torch.cat(post)
            logprobs, ref_logprobs = torch.cat(logprobs), torch.cat(ref_logprobs)
            seq_lengths, scores, values = torch.cat(seq_lengths), torch.cat(scores), torch.cat(values)
            raw_scores = scores.clone()
            contain_eos = torch.any(post == eos_id, dim=-1)
            if args.missing_eos_penalty is not None:
                scores[~contain_eos] -= args.missing_eos_penalty
            response_idxs = torch.arange(responses.shape[1], device=responses.device).repeat(responses.shape[0], 1)
            padding_mask = response_idxs > seq_lengths.unsqueeze(1)
            logprobs = torch.masked_fill(logprobs, padding_mask, INVALID_LOGPROB)
            ref_logprobs = torch.masked_fill(ref_logprobs, padding_mask, INVALID_LOGPROB)
            seq_lengths_p1 = seq_lengths + 1
            padding_mask_p1 = response_idxs > seq_lengths_p1.unsqueeze(1)
            values = torch.masked_fill(values, padding_mask_p1, 0)
            # rewards: the KL penalty on every token, the score on the last one
            logr = ref_logprobs - logprobs
            kl = -logr if args.kl_estimator == "k1" else (logr.exp() - 1) - logr
            non_score_reward = -args.kl_coef * kl
            rewards = non_score_reward.clone()
            rows = torch.arange(rewards.size(0), device=rewards.device)
            ends = torch.where(seq_lengths_p1 < rewards.size(1), seq_lengths_p1, seq_lengths)
            rewards[rows, ends] += scores
            if args.whiten_rewards:
                rewards = masked_whiten(rewards, mask=~padding_mask_p1, shift_mean=False)
                rewards = torch.masked_fill(rewards, padding_mask_p1, 0)
            # GAE
            lastgaelam, advantages_reversed = 0, []
            length = responses.shape[1]
            for t in reversed(range(length)):
                next_values = values[:, t + 1] if t < length - 1 else 0.0
                delta = rewards[:, t] + args.gamma * next_values - values[:, t]
                lastgaelam = delta + args.gamma * args.lam * lastgaelam
                advantages_reversed.append(lastgaelam)
            advantages = torch.stack(advantages_reversed[::-1], axis=1)
            returns = advantages + values
            advantages = masked_whiten(advantages, ~padding_mask)
            advantages = torch.masked_fill(advantages, padding_mask, 0)

        shape = (args.num_ppo_epochs, args.num_mini_batches, args.gradient_accumulation_steps)
        stats = {k: torch.zeros(shape, device=queries.device)
                 for k in ("approxkl", "pg_clipfrac", "pg_loss", "vf_loss", "vf_clipfrac", "entropy", "ratio")}
        micro = args.per_device_train_batch_size
        for epoch in range(args.num_ppo_epochs):
            order = np.random.permutation(self.local_batch_size)
            for mb, mb_start in enumerate(range(0, self.local_batch_size, self.local_mini_batch_size)):
                mini = order[mb_start:mb_start + self.local_mini_batch_size]
                for ga, mc_start in enumerate(range(0, self.local_mini_batch_size, micro)):
                    with accelerator.accumulate(model):
                        idx = mini[mc_start:mc_start + micro]
                        self._tokens += int((query_responses[idx] != pad_id).sum())
                        output, vpred_temp = forward(model, query_responses[idx], pad_id)
                        logits = output.logits[:, context_length - 1:-1] / (args.temperature + 1e-7)
                        new_logprobs = selective_log_softmax(logits, responses[idx])
                        new_logprobs = torch.masked_fill(new_logprobs, padding_mask[idx], INVALID_LOGPROB)
                        vpred = vpred_temp[:, context_length - 1:-1].squeeze(-1)
                        vpred = torch.masked_fill(vpred, padding_mask_p1[idx], 0)
                        vpred_clipped = torch.clamp(vpred, values[idx] - args.cliprange_value,
                                                    values[idx] + args.cliprange_value)
                        vf_losses1 = torch.square(vpred - returns[idx])
                        vf_losses2 = torch.square(vpred_clipped - returns[idx])
                        vf_loss = 0.5 * masked_mean(torch.max(vf_losses1, vf_losses2), ~padding_mask_p1[idx])
                        vf_clipfrac = masked_mean((vf_losses2 > vf_losses1).float(), ~padding_mask_p1[idx])
                        logprobs_diff = new_logprobs - logprobs[idx]
                        ratio = torch.exp(logprobs_diff)
                        pg_losses = -advantages[idx] * ratio
                        pg_losses2 = -advantages[idx] * torch.clamp(ratio, 1.0 - args.cliprange, 1.0 + args.cliprange)
                        pg_loss = masked_mean(torch.max(pg_losses, pg_losses2), ~padding_mask[idx])
                        loss = pg_loss + args.vf_coef * vf_loss
                        accelerator.backward(loss)
                        if accelerator.sync_gradients and args.max_grad_norm:
                            accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                        self.optimizer.step()
                        self.optimizer.zero_grad()
                        with torch.no_grad():
                            probs = torch.softmax(logits, dim=-1)
                            entropy = torch.logsumexp(logits, dim=-1) - torch.sum(probs * logits, dim=-1)
                            at = (epoch, mb, ga)
                            stats["approxkl"][at] = 0.5 * (logprobs_diff ** 2).mean()
                            stats["pg_clipfrac"][at] = masked_mean((pg_losses2 > pg_losses).float(), ~padding_mask[idx])
                            stats["pg_loss"][at] = pg_loss
                            stats["vf_loss"][at] = vf_loss
                            stats["vf_clipfrac"][at] = vf_clipfrac
                            stats["entropy"][at] = entropy.mean()
                            stats["ratio"][at] = ratio.mean()
        gather = accelerator.gather_for_metrics
        with torch.no_grad():
            mean_kl = kl.sum(1).mean()
            mean_entropy = ((-logprobs) * (~padding_mask).float()).sum(1).mean()
            mean_non_score = non_score_reward.sum(1).mean()
            policy_loss = gather(stats["pg_loss"]).mean().item()
            value_loss = gather(stats["vf_loss"]).mean().item()
            return {
                "loss": policy_loss + args.vf_coef * value_loss,
                "reward": gather(raw_scores.mean()).mean().item(),
                "objective/kl": gather(mean_kl).mean().item(),
                "objective/entropy": gather(mean_entropy).mean().item(),
                "objective/non_score_reward": gather(mean_non_score).mean().item(),
                "objective/rlhf_reward": gather(mean_non_score + scores.mean()).mean().item(),
                "objective/scores": gather(scores.mean()).mean().item(),
                "policy/approxkl_avg": gather(stats["approxkl"]).mean().item(),
                "policy/clipfrac_avg": gather(stats["pg_clipfrac"]).mean().item(),
                "loss/policy_avg": policy_loss,
                "loss/value_avg": value_loss,
                "val/clipfrac_avg": gather(stats["vf_clipfrac"]).mean().item(),
                "policy/entropy_avg": gather(stats["entropy"]).mean().item(),
                "val/ratio": gather(stats["ratio"]).mean().item(),
                "val/num_eos_tokens": int((post == eos_id).sum().item()),
                "episode": self.state.global_step * self.batch_size + self.batch_size,
            }

    def _log_samples(self, n: int = 2) -> None:
        """A few greedy-ish completions of the validation prompts, with their scores (``num_sample_generations``)."""
        if self.eval_dataset is None or not self.is_world_process_zero():
            return
        rows = [self.eval_dataset[i] for i in range(min(n, len(self.eval_dataset)))]
        queries = self.data_collator(rows)["input_ids"].to(self.accelerator.device)
        config = GenerationConfig(max_new_tokens=self.args.response_length, temperature=0.01 + 1e-7, top_k=0,
                                  top_p=1.0, do_sample=True, pad_token_id=self.tokenizer_.pad_token_id,
                                  return_dict_in_generate=True, output_scores=True)
        with torch.no_grad(), unwrap_model_for_generation(self.model, self.accelerator) as unwrapped:
            query_responses, _ = batch_generation(unwrapped.policy, queries, len(rows), self.tokenizer_.pad_token_id,
                                                  config)
            response = query_responses[:, queries.shape[1]:]
            if self.stop_token_id is not None:
                response = truncate_response(self.stop_token_id, self.tokenizer_.pad_token_id, response)
            _, score, _ = get_reward(self.reward_model, torch.cat((queries, response), 1),
                                     self.tokenizer_.pad_token_id, queries.shape[1])
        for query, resp, s in zip(queries, response, score.tolist()):
            logger.info("[ppo sample] %r -> %r (score %.3f)", self.tokenizer_.decode(query, skip_special_tokens=True),
                        self.tokenizer_.decode(resp, skip_special_tokens=True), s)


def _copy_model(model: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(model)


class PPOTrainer(RLHFTrainerMixin, SwiftTrainerMixin, _PPOTrainer):
    """``--rlhf_type ppo``: loads ``--reward_model`` (+ ``--reward_adapters``) from ``swift_args``."""

    def __init__(self, *args: Any, swift_args: Any = None, reward_model: Any = None, **kwargs: Any):
        if reward_model is None:
            from swiftk_rlhf.reward_model import load_reward_model

            reward_model = load_reward_model(swift_args)
        super().__init__(*args, swift_args=swift_args, reward_model=reward_model, **kwargs)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        raise NotImplementedError("PPO computes its loss in its own loop")

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        return None, None, None

    def evaluate(self, *args: Any, **kwargs: Any) -> dict:
        return {}
