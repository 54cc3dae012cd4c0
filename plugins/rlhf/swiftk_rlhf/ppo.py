"""``--rlhf_type ppo``: PPO with a value model and a frozen reward model, on ``transformers.Trainer``.

The recipe and its defaults are those of trl ≤ 1.12's ``PPOTrainer`` (the "N implementation details
of RLHF with PPO" setup), which later trl versions dropped; this module implements it for swiftk.
One training step:

1. rollout: ``per_device_train_batch_size × gradient_accumulation_steps`` prompts, one response each,
   sampled at ``temperature`` for up to ``response_length`` tokens and cut after the first stop token;
2. scoring: the reward model scores each response (``missing_eos_penalty`` off the score of one
   without EOS); the reference model and the critic read every response token;
3. credit: per-token rewards ``-kl_coef × KL(policy ‖ reference)`` plus the score just after the last
   token (optionally whitened: ``whiten_rewards``), then GAE advantages and returns (``gamma``,
   ``lam``), the advantages whitened;
4. learning: ``num_ppo_epochs`` passes over ``num_mini_batches`` shuffled mini-batches, minimising
   the clipped policy loss (``cliprange``) plus ``vf_coef`` × the clipped value loss (``cliprange_value``).

Running inside a ``Trainer`` gives the rest: callbacks, logging.jsonl, atomic checkpoints (the policy
where ``swiftk infer`` looks for it, the value model in ``value_model/``) and exact resumption
(weights, optimizer, scheduler, RNG and the order of the prompts).  The value model starts as a copy
of the reward model, so the policy, the reward model and the critic share one tokenizer.  With an
adapter the reference is the policy with the adapter disabled; otherwise a frozen model.
"""

from __future__ import annotations

import copy
import itertools
import logging
import math
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from transformers import GenerationConfig, Trainer, TrainerState, TrainingArguments
from transformers.trainer_callback import ExportableState
from trl.models.utils import prepare_deepspeed, unwrap_model_for_generation
from trl.trainer.utils import selective_log_softmax

from swiftk_sft.rl_trainer import RLHFTrainerMixin
from swiftk_sft.trainer import SwiftTrainerMixin

logger = logging.getLogger("swiftk.rlhf.ppo")

#: log-probability stored at positions after a response's end; equal in every copy, so they cancel out
PADDING_LOGPROB = 1.0


@dataclass
class PPOConfig(TrainingArguments):
    """The PPO section of ms-swift's command line (same names and defaults), plus sampling settings."""

    num_ppo_epochs: int = field(default=4, metadata={"help": "Passes over each batch of rollouts."})
    whiten_rewards: bool = field(default=False, metadata={"help": "Whiten the per-token rewards."})
    kl_coef: float = field(default=0.05, metadata={"help": "Weight of the KL penalty in the rewards."})
    kl_estimator: str = field(default="k1", metadata={"help": "Per-token KL estimate: k1 or k3."})
    cliprange: float = field(default=0.2, metadata={"help": "Clip range of the policy ratio."})
    vf_coef: float = field(default=0.1, metadata={"help": "Weight of the value loss."})
    cliprange_value: float = field(default=0.2, metadata={"help": "Clip range of the value update."})
    gamma: float = field(default=1.0, metadata={"help": "Discount factor."})
    lam: float = field(default=0.95, metadata={"help": "GAE lambda."})
    num_mini_batches: int = field(default=1, metadata={"help": "Mini-batches per batch of rollouts."})
    total_episodes: Optional[int] = field(default=None, metadata={"help": "Rollouts in all; None: epochs x rows."})
    local_rollout_forward_batch_size: int = field(default=64, metadata={"help": "Rows per rollout forward."})
    num_sample_generations: int = field(default=10, metadata={"help": "Times sample answers are logged."})
    response_length: int = field(default=512, metadata={"help": "Most tokens sampled per response."})
    stop_token: Optional[str] = field(default="eos", metadata={"help": "'eos' (cut responses there) or None."})
    stop_token_id: Optional[int] = field(default=None, metadata={"help": "Cut responses at this id instead."})
    temperature: float = field(default=0.9, metadata={"help": "Sampling temperature."})
    missing_eos_penalty: Optional[float] = field(default=None, metadata={"help": "Score penalty without EOS."})
    ds3_gather_for_generation: bool = field(default=True, metadata={"help": "ZeRO-3: gather weights to sample."})
    dataset_num_proc: Optional[int] = field(default=None, metadata={"help": "Unused (prompts arrive encoded)."})


# --- token bookkeeping ----------------------------------------------------------------------------


def first_true(mask: torch.Tensor) -> torch.Tensor:
    """Per row, the column of the first True; the row width where there is none."""
    width = mask.shape[-1]
    columns = torch.arange(width, device=mask.device)
    return torch.where(mask, columns, width).amin(-1)


def cut_after_stop(responses: torch.Tensor, stop_id: int, pad_id: int) -> torch.Tensor:
    """Responses with every token after the first ``stop_id`` turned into padding (the stop token stays:
    the reward model reads it)."""
    columns = torch.arange(responses.shape[1], device=responses.device)
    beyond = columns[None, :] > first_true(responses == stop_id)[:, None]
    return responses.masked_fill(beyond, pad_id)


def last_token(responses: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Per row, the column of the last token before the padding (-1 for an empty response)."""
    return first_true(responses == pad_id) - 1


def model_inputs(ids: torch.Tensor, pad_id: int) -> dict:
    """Forward inputs for rows padded on either side: padding masked (its ids zeroed, for models without
    a pad embedding) and each token positioned by the number of real tokens before it."""
    real = ids != pad_id
    position_ids = F.pad(real.long().cumsum(1)[:, :-1], (1, 0))
    return {
        "input_ids": ids.masked_fill(~real, 0),
        "attention_mask": real,
        "position_ids": position_ids,
        "use_cache": False,
    }


def response_masks(last: torch.Tensor, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The response tokens up to ``last`` (what the policy is trained on), and the same plus one position
    (what the critic is trained on: the score is credited there)."""
    columns = torch.arange(width, device=last.device)[None, :]
    return columns <= last[:, None], columns <= last[:, None] + 1


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum()


def whiten(x: torch.Tensor, mask: torch.Tensor, keep_mean: bool = False) -> torch.Tensor:
    """``x`` scaled to unit (unbiased) variance over the masked entries; centred unless ``keep_mean``."""
    count = mask.sum()
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    if count > 1:
        var = var * count / (count - 1)
    scaled = (x - mean) * torch.rsqrt(var + 1e-8)
    return scaled + mean if keep_mean else scaled


# --- what the models say about a rollout ----------------------------------------------------------


@torch.no_grad()
def sample_responses(
    policy: nn.Module, prompts: torch.Tensor, pad_id: int, config: GenerationConfig, chunk: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """One sampled response per left-padded prompt, ``chunk`` prompts per ``generate`` call.  Returns the
    response ids, right-padded to the longest, and the (temperature-scaled) logits each was drawn from,
    which give the sampling policy's log-probabilities without a second forward."""
    responses, logits = [], []
    for start in range(0, prompts.shape[0], chunk):
        part = prompts[start : start + chunk]
        real = part != pad_id
        out = policy.generate(input_ids=part.masked_fill(~real, 0), attention_mask=real, generation_config=config)
        responses.append(out.sequences[:, part.shape[1] :])
        logits.append(torch.stack(out.scores, 1))
    width = max(r.shape[1] for r in responses)
    responses = [F.pad(r, (0, width - r.shape[1]), value=pad_id) for r in responses]
    logits = [F.pad(lg, (0, 0, 0, width - lg.shape[1])) for lg in logits]
    return torch.cat(responses), torch.cat(logits)


def response_logits(
    model: nn.Module, sequences: torch.Tensor, pad_id: int, prompt_width: int, temperature: float
) -> torch.Tensor:
    """The logits that predict each response token, at the sampling temperature."""
    logits = model(**model_inputs(sequences, pad_id)).logits
    return logits[:, prompt_width - 1 : -1] / (temperature + 1e-7)


def token_values(classifier: nn.Module, inputs: dict) -> torch.Tensor:
    """A one-output sequence classifier's score at every position (its backbone, then its ``score`` head,
    as its own forward does for the last token): the reward model's reading, the critic's values."""
    backbone = getattr(classifier, classifier.base_model_prefix)
    return classifier.score(backbone(**inputs).last_hidden_state).squeeze(-1)


def reward_scores(reward_model: nn.Module, prompts: torch.Tensor, responses: torch.Tensor, pad_id: int) -> torch.Tensor:
    """The reward of each prompt + response: the reward model's score at the response's last token."""
    scores = token_values(reward_model, model_inputs(torch.cat((prompts, responses), 1), pad_id))
    at = prompts.shape[1] + last_token(responses, pad_id)
    return scores.gather(1, at[:, None]).squeeze(1)


# --- credit assignment ----------------------------------------------------------------------------


def kl_per_token(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, estimator: str) -> torch.Tensor:
    """KL(policy ‖ reference) per sampled token: k1 is the log ratio itself; k3, ``exp(-r) - 1 + r``, is
    never negative and has lower variance."""
    log_ratio = logprobs - ref_logprobs
    if estimator == "k1":
        return log_ratio
    return ((-log_ratio).exp() - 1) + log_ratio


def shaped_rewards(penalties: torch.Tensor, scores: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """Per-token rewards: the KL penalties, plus each sequence's score one position past its last token
    (the position the critic values last; on the last token when the response fills the width)."""
    rewards = penalties.clone()
    credit_at = (last + 1).clamp(max=rewards.shape[1] - 1)
    rewards[torch.arange(rewards.shape[0], device=rewards.device), credit_at] += scores
    return rewards


def gae(rewards: torch.Tensor, values: torch.Tensor, gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimates, and the returns the critic learns (advantages + values)."""
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[:, 0])
    value_after = torch.zeros_like(values[:, 0])
    for t in range(rewards.shape[1] - 1, -1, -1):
        td_error = rewards[:, t] + gamma * value_after - values[:, t]
        running = td_error + gamma * lam * running
        advantages[:, t] = running
        value_after = values[:, t]
    return advantages, advantages + values


# --- the losses -----------------------------------------------------------------------------------


def clipped_policy_loss(
    logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor, clip: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PPO's pessimistic surrogate: per token, the worse of the ratio-weighted advantage and its clipped
    form.  Returns the loss, the share of tokens where clipping decided, and the ratios."""
    ratio = (logprobs - old_logprobs).exp()
    unclipped = -advantages * ratio
    clipped = -advantages * ratio.clamp(1.0 - clip, 1.0 + clip)
    loss = masked_mean(torch.maximum(unclipped, clipped), mask)
    return loss, masked_mean((clipped > unclipped).float(), mask), ratio


def clipped_value_loss(
    values: torch.Tensor, old_values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor, clip: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Half the squared error to the returns, the worse of the new values and of values kept within
    ``clip`` of the rollout's.  Returns the loss and the share of positions where clipping decided."""
    error = (values - returns) ** 2
    clipped_error = (values.clamp(old_values - clip, old_values + clip) - returns) ** 2
    loss = 0.5 * masked_mean(torch.maximum(error, clipped_error), mask)
    return loss, masked_mean((clipped_error > error).float(), mask)


# --- the modules ----------------------------------------------------------------------------------


class ActorCritic(nn.Module):
    """The policy and the critic as one module, so that one optimizer, one ``accelerator.prepare`` and one
    DDP wrapper cover both; a forward gives the policy's logits and the critic's value at every position."""

    def __init__(self, actor: nn.Module, critic: nn.Module):
        super().__init__()
        self.actor = actor
        self.critic = critic
        self.config = actor.config

    # trl's unwrap_model_for_generation switches checkpointing off while sampling, through these
    @property
    def is_gradient_checkpointing(self) -> bool:
        return bool(getattr(self.actor, "is_gradient_checkpointing", False))

    def gradient_checkpointing_enable(self, **kwargs: Any) -> None:
        self.actor.gradient_checkpointing_enable(**kwargs)

    def gradient_checkpointing_disable(self) -> None:
        self.actor.gradient_checkpointing_disable()

    def forward(self, **inputs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        return self.actor(**inputs).logits, token_values(self.critic, inputs)


class LeftPadPrompts:
    """Collates encoded prompts, padded on the left so that sampling continues them at the right edge."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, rows: list[dict]) -> dict:
        width = max(len(r["input_ids"]) for r in rows)
        ids = [[self.pad_id] * (width - len(r["input_ids"])) + list(r["input_ids"]) for r in rows]
        return {"input_ids": torch.tensor(ids, dtype=torch.long)}


@dataclass
class Rollout:
    """What one step learns from: one row per prompt, response positions only (except ``sequences``)."""

    sequences: torch.Tensor  # prompt + response ids
    responses: torch.Tensor  # the sampled response ids
    logprobs: torch.Tensor  # of each response token under the sampling policy
    values: torch.Tensor  # the critic's estimate before each response token
    advantages: torch.Tensor
    returns: torch.Tensor
    token_mask: torch.Tensor  # response tokens up to the stop token
    value_mask: torch.Tensor  # the same plus one position (where the score is credited)

    @property
    def prompt_width(self) -> int:
        return self.sequences.shape[1] - self.responses.shape[1]


def without_dropout(model: nn.Module) -> None:
    """Dropout off: PPO's ratios compare forwards that must differ only by the weights."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0


def frozen_copy(model: nn.Module) -> nn.Module:
    """The reference of a full-parameter run given none: the starting weights, frozen."""
    reference = copy.deepcopy(model).eval()
    reference.requires_grad_(False)
    return reference


class _PPOLoop(Trainer):
    """The PPO loop in a ``transformers.Trainer`` (see the module docstring)."""

    def __init__(
        self,
        model: Any,
        args: PPOConfig,
        train_dataset: Any,
        processing_class: Any,
        ref_model: Any = None,
        reward_model: Any = None,
        value_model: Any = None,
        eval_dataset: Any = None,
        data_collator: Any = None,
        callbacks: Any = None,
        **kwargs: Any,
    ):
        from peft import PeftModel

        if reward_model is None:
            raise ValueError("PPO needs a reward model")
        if args.stop_token and args.stop_token_id is not None:
            raise ValueError("set one of stop_token and stop_token_id")
        if args.kl_estimator not in ("k1", "k3"):
            raise ValueError("kl_estimator must be k1 or k3")
        self.tokenizer_ = getattr(processing_class, "tokenizer", processing_class)
        self.pad_id = self.tokenizer_.pad_token_id
        self.stop_id = self.tokenizer_.eos_token_id if args.stop_token == "eos" else args.stop_token_id
        self.adapter = isinstance(model, PeftModel)
        self.reference_is_base = self.adapter and ref_model is None
        if ref_model is None and not self.adapter:
            ref_model = frozen_copy(model)
        critic = value_model if value_model is not None else copy.deepcopy(reward_model).requires_grad_(True)
        for module in [m for m in (model, ref_model, critic, reward_model) if m is not None]:
            without_dropout(module)
        super().__init__(
            model=ActorCritic(model, critic),
            args=args,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset,
            data_collator=data_collator or LeftPadPrompts(self.pad_id),
            processing_class=processing_class,
            callbacks=callbacks,
            **kwargs,
        )
        self.reward_model = self._frozen_on_device(reward_model)
        self.ref_model = self._frozen_on_device(ref_model) if ref_model is not None else None

    def _frozen_on_device(self, model: nn.Module) -> Any:
        """A model that only runs forwards, placed like the trained one (ZeRO-sharded under DeepSpeed)."""
        return (
            prepare_deepspeed(model, self.accelerator)
            if self.is_deepspeed_enabled
            else model.to(self.accelerator.device).eval()
        )

    @property
    def _parts(self) -> ActorCritic:
        """The ActorCritic inside whatever accelerate wrapped it in."""
        return self.accelerator.unwrap_model(self.model)

    # -- saving and resuming -------------------------------------------------------------------
    def save_model(self, output_dir: Optional[str] = None, _internal_call: bool = False) -> None:
        """The policy where ``swiftk infer`` finds it (adapter or full weights); the critic in ``value_model/``."""
        output_dir = output_dir or self.args.output_dir
        with self._trainer_sees(self._parts.actor):
            super().save_model(output_dir, _internal_call=_internal_call)
        if self.args.should_save:
            self._parts.critic.save_pretrained(os.path.join(output_dir, "value_model"), safe_serialization=True)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
        actor = self._parts.actor
        with self._trainer_sees(actor):
            super()._load_from_checkpoint(resume_from_checkpoint, model=actor)
        critic_file = os.path.join(resume_from_checkpoint, "value_model", "model.safetensors")
        if os.path.isfile(critic_file):
            from safetensors.torch import load_file

            self._parts.critic.load_state_dict(load_file(critic_file), strict=False)

    @contextmanager
    def _trainer_sees(self, module: nn.Module) -> Iterator[None]:
        """``Trainer``'s save and load read ``self.model``: point it at ``module`` for the duration."""
        wrapped, self.model = self.model, module
        try:
            yield
        finally:
            self.model = wrapped

    # -- the loop ------------------------------------------------------------------------------
    def train(self, resume_from_checkpoint: Optional[str] = None, **kwargs: Any):
        self._plan_steps()
        if self.args.gradient_checkpointing:
            self._checkpoint_actor_activations()
        self.create_optimizer_and_scheduler(num_training_steps=self.total_steps)
        prompts = self._prompt_stream()
        self.state = self._fresh_state()
        first = self._resume(resume_from_checkpoint, prompts) + 1 if resume_from_checkpoint else 1
        self._notify("on_train_begin")
        self.model.train()
        for step in range(first, self.total_steps + 1):
            self._notify("on_step_begin")
            metrics = self._ppo_step(next(prompts)["input_ids"].to(self.accelerator.device))
            self._end_step(step, metrics)
            if self.control.should_training_stop:
                break
        self._notify("on_train_end")

    def _notify(self, event: str) -> None:
        """Run every callback's ``event`` handler; they answer through ``self.control``."""
        self.control = getattr(self.callback_handler, event)(self.args, self.state, self.control)

    def _plan_steps(self) -> None:
        """Prompts per step (this process: ``rollout_size``; all: ``global_rollout_size``), per mini-batch,
        and the number of steps (``max_steps``, else ``total_episodes`` or the epochs over the prompts)."""
        args = self.args
        self.rollout_size = args.per_device_train_batch_size * args.gradient_accumulation_steps
        if self.rollout_size % args.num_mini_batches:
            raise ValueError(
                "per_device_train_batch_size * gradient_accumulation_steps must be a multiple of num_mini_batches"
            )
        self.mini_batch_size = self.rollout_size // args.num_mini_batches
        self.global_rollout_size = self.rollout_size * self.accelerator.num_processes
        if args.max_steps and args.max_steps > 0:
            self.total_steps = int(args.max_steps)
        else:
            episodes = args.total_episodes or int(args.num_train_epochs * len(self.train_dataset))
            self.total_steps = max(1, math.ceil(episodes / self.global_rollout_size))

    @property
    def _checkpointing_kwargs(self) -> dict:
        return self.args.gradient_checkpointing_kwargs or {"use_reentrant": False}

    def _checkpoint_actor_activations(self) -> None:
        actor = self.model.actor
        actor.gradient_checkpointing_enable(gradient_checkpointing_kwargs=self._checkpointing_kwargs)
        if self.adapter:
            actor.enable_input_require_grads()  # frozen embeddings: checkpointed blocks still get a grad

    def _prompt_stream(self) -> Iterator[dict]:
        """Prepare the modules, then yield batches of ``rollout_size`` prompts forever, reshuffled each epoch.
        The seed is set before ``prepare`` (the shuffling derives from it, so a resumed run can skip the
        batches it has seen) and again after it, different in each process (the sampling)."""
        loader = torch.utils.data.DataLoader(
            self.train_dataset,
            batch_size=self.rollout_size,
            shuffle=True,
            collate_fn=self.data_collator,
            drop_last=True,
        )
        if len(loader) == 0:
            raise ValueError(
                f"PPO needs at least {self.rollout_size} prompts (per_device_train_batch_size * "
                f"gradient_accumulation_steps), got {len(self.train_dataset)}"
            )
        torch.manual_seed(self.args.seed)
        model, self.optimizer, loader = self.accelerator.prepare(self.model, self.optimizer, loader)
        self.model = self.model_wrapped = model
        torch.manual_seed(self.args.seed + self.accelerator.process_index * 100003)
        return itertools.chain.from_iterable(itertools.repeat(loader))

    def _fresh_state(self) -> TrainerState:
        """The state callbacks read: the step budget and logging/eval/save intervals (fractions resolved)."""
        state = TrainerState(
            is_local_process_zero=self.accelerator.is_local_main_process,
            is_world_process_zero=self.accelerator.is_main_process,
            stateful_callbacks=[
                c for c in self.callback_handler.callbacks + [self.control] if isinstance(c, ExportableState)
            ],
        )
        state.max_steps = self.total_steps
        state.num_train_epochs = self.total_steps * self.global_rollout_size / max(1, len(self.train_dataset))
        for name in ("logging_steps", "eval_steps", "save_steps"):
            interval = getattr(self.args, name)
            if interval is not None:
                setattr(state, name, math.ceil(state.max_steps * interval) if interval < 1 else interval)
        return state

    def _resume(self, checkpoint: str, prompts: Iterator[dict]) -> int:
        """Weights, optimizer, scheduler, step and log history from ``checkpoint``; the prompt batches
        already used are skipped before the RNG states are restored, so the run goes on exactly as an
        uninterrupted one would.  Returns the step reached."""
        self._load_from_checkpoint(checkpoint)
        self._load_optimizer_and_scheduler(checkpoint)
        saved = TrainerState.load_from_json(os.path.join(checkpoint, "trainer_state.json"))
        self.state.global_step = saved.global_step
        self.state.log_history = saved.log_history
        for _ in range(saved.global_step):
            next(prompts)
        self._load_rng_state(checkpoint)
        return saved.global_step

    def _end_step(self, step: int, metrics: dict) -> None:
        """Advance the state and the schedule; log, show samples and save when due."""
        self.state.global_step = step
        self.state.epoch = step * self.global_rollout_size / max(1, len(self.train_dataset))
        self.lr_scheduler.step()
        self._notify("on_step_end")
        if self.control.should_log:
            self.log({**metrics, "learning_rate": self.lr_scheduler.get_last_lr()[0]})
            self.control.should_log = False
        shows = self.args.num_sample_generations
        if shows > 0 and (step - 1) % max(1, self.total_steps // shows) == 0:
            self._show_samples()
        if self.control.should_save:
            self._save_checkpoint(self.model, trial=None)
            self._notify("on_save")

    # -- one PPO step ---------------------------------------------------------------------------
    def _ppo_step(self, prompts: torch.Tensor) -> dict:
        """Roll out, learn, and report; ``loss`` (policy + vf_coef × value loss) and ``reward`` (the mean raw
        score) make logging.jsonl and the curves read like those of the other types."""
        rollout, rollout_metrics = self._rollout(prompts)
        loss_metrics = self._learn(rollout)
        loss = loss_metrics["loss/policy_avg"] + self.args.vf_coef * loss_metrics["loss/value_avg"]
        episodes = (self.state.global_step + 1) * self.global_rollout_size
        return {"loss": loss, **rollout_metrics, **loss_metrics, "episode": episodes}

    @torch.no_grad()
    def _rollout(self, prompts: torch.Tensor) -> tuple[Rollout, dict]:
        """Sample, score and credit one batch of prompts; also the rollout's metrics."""
        responses, sample_logits = self._generate(prompts)
        sequences = torch.cat((prompts, responses), 1)
        cut = cut_after_stop(responses, self.stop_id, self.pad_id) if self.stop_id is not None else responses
        logprobs, ref_logprobs, values, raw_scores = self._read_rollout(
            prompts, sequences, responses, cut, sample_logits
        )
        last = last_token(cut, self.pad_id)
        token_mask, value_mask = response_masks(last, responses.shape[1])
        logprobs = logprobs.masked_fill(~token_mask, PADDING_LOGPROB)
        ref_logprobs = ref_logprobs.masked_fill(~token_mask, PADDING_LOGPROB)
        values = values.masked_fill(~value_mask, 0)
        eos = cut == self.tokenizer_.eos_token_id
        scores = raw_scores.clone()
        if self.args.missing_eos_penalty is not None:
            scores[~eos.any(1)] -= self.args.missing_eos_penalty
        kl = kl_per_token(logprobs, ref_logprobs, self.args.kl_estimator)
        penalties = -self.args.kl_coef * kl
        advantages, returns = self._advantages(shaped_rewards(penalties, scores, last), values, token_mask, value_mask)
        rollout = Rollout(sequences, responses, logprobs, values, advantages, returns, token_mask, value_mask)
        penalty = penalties.sum(1).mean()
        gather = self._gathered_mean
        return rollout, {
            "reward": gather(raw_scores.mean()),
            "objective/kl": gather(kl.sum(1).mean()),
            "objective/entropy": gather((-logprobs * token_mask).sum(1).mean()),
            "objective/non_score_reward": gather(penalty),
            "objective/rlhf_reward": gather(penalty + scores.mean()),
            "objective/scores": gather(scores.mean()),
            "val/num_eos_tokens": int(eos.sum()),
        }

    def _generate(self, prompts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The policy's sampled responses and their sampling logits (see :func:`sample_responses`), with the
        weights gathered (ZeRO-3) and activation checkpointing off while sampling."""
        args = self.args
        sampling = {
            "max_new_tokens": args.response_length,
            "temperature": args.temperature + 1e-7,
            "top_k": 0,
            "top_p": 1.0,
            "do_sample": True,
        }  # plain sampling: top-k/p would bias the ratios
        config = GenerationConfig(
            **sampling, pad_token_id=self.pad_id, return_dict_in_generate=True, output_scores=True
        )
        with unwrap_model_for_generation(
            self.model,
            self.accelerator,
            gather_deepspeed3_params=args.ds3_gather_for_generation,
            generation_kwargs=sampling,
            gradient_checkpointing_kwargs=self._checkpointing_kwargs,
        ) as unwrapped:
            return sample_responses(
                unwrapped.actor, prompts, self.pad_id, config, args.local_rollout_forward_batch_size
            )

    def _advantages(
        self, rewards: torch.Tensor, values: torch.Tensor, token_mask: torch.Tensor, value_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """GAE over the (optionally whitened) rewards; the advantages whitened over the response tokens."""
        if self.args.whiten_rewards:
            rewards = whiten(rewards, value_mask, keep_mean=True).masked_fill(~value_mask, 0)
        advantages, returns = gae(rewards, values, self.args.gamma, self.args.lam)
        return whiten(advantages, token_mask).masked_fill(~token_mask, 0), returns

    def _read_rollout(
        self,
        prompts: torch.Tensor,
        sequences: torch.Tensor,
        responses: torch.Tensor,
        cut: torch.Tensor,
        sample_logits: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        """Per response token: the sampling log-probabilities, the reference's, the critic's values; per row:
        the reward model's score of the cut response.  ``local_rollout_forward_batch_size`` rows at a time."""
        chunk = self.args.local_rollout_forward_batch_size
        parts = [
            self._read_rows(slice(start, start + chunk), prompts, sequences, responses, cut, sample_logits)
            for start in range(0, sequences.shape[0], chunk)
        ]
        return tuple(torch.cat(column) for column in zip(*parts))

    def _read_rows(
        self,
        rows: slice,
        prompts: torch.Tensor,
        sequences: torch.Tensor,
        responses: torch.Tensor,
        cut: torch.Tensor,
        sample_logits: torch.Tensor,
    ) -> tuple[torch.Tensor, ...]:
        """:meth:`_read_rollout` for one chunk of rows."""
        width = prompts.shape[1]
        with self._reference() as reference:
            ref_logits = response_logits(reference, sequences[rows], self.pad_id, width, self.args.temperature)
        critic_inputs = model_inputs(sequences[rows], self.pad_id)
        return (
            selective_log_softmax(sample_logits[rows], responses[rows]),
            selective_log_softmax(ref_logits, responses[rows]),
            token_values(self._parts.critic, critic_inputs)[:, width - 1 : -1],
            reward_scores(self.reward_model, prompts[rows], cut[rows], self.pad_id),
        )

    @contextmanager
    def _reference(self) -> Iterator[nn.Module]:
        """The reference policy: the frozen model, or the policy with its adapter disabled."""
        if not self.reference_is_base:
            yield self.ref_model
            return
        actor = self._parts.actor
        with actor.disable_adapter():
            yield actor

    def _learn(self, rollout: Rollout) -> dict:
        """``num_ppo_epochs`` passes over the rollout in shuffled mini-batches, each split into micro-batches
        of ``per_device_train_batch_size`` rows (one optimizer step per mini-batch when they divide evenly);
        returns the mean of every micro-batch's loss statistics."""
        history: dict[str, list[torch.Tensor]] = {}
        micro = self.args.per_device_train_batch_size
        for _ in range(self.args.num_ppo_epochs):
            order = np.random.permutation(self.rollout_size)
            for start in range(0, self.rollout_size, self.mini_batch_size):
                mini_batch = order[start : start + self.mini_batch_size]
                for offset in range(0, len(mini_batch), micro):
                    stats = self._learn_from(rollout, mini_batch[offset : offset + micro])
                    for name, value in stats.items():
                        history.setdefault(name, []).append(value)
        return {name: self._gathered_mean(torch.stack(values)) for name, values in history.items()}

    def _learn_from(self, rollout: Rollout, rows: np.ndarray) -> dict:
        """Forward and backward on some rows of the rollout (the optimizer steps at the end of each
        gradient-accumulation window); that micro-batch's loss statistics."""
        args, accelerator = self.args, self.accelerator
        width, token_mask, value_mask = rollout.prompt_width, rollout.token_mask[rows], rollout.value_mask[rows]
        with accelerator.accumulate(self.model):
            sequences = rollout.sequences[rows]
            self._tokens += int((sequences != self.pad_id).sum())
            logits, values = self.model(**model_inputs(sequences, self.pad_id))
            logits = logits[:, width - 1 : -1] / (args.temperature + 1e-7)
            logprobs = selective_log_softmax(logits, rollout.responses[rows]).masked_fill(~token_mask, PADDING_LOGPROB)
            values = values[:, width - 1 : -1].masked_fill(~value_mask, 0)
            policy_loss, policy_clipped, ratio = clipped_policy_loss(
                logprobs, rollout.logprobs[rows], rollout.advantages[rows], token_mask, args.cliprange
            )
            value_loss, value_clipped = clipped_value_loss(
                values, rollout.values[rows], rollout.returns[rows], value_mask, args.cliprange_value
            )
            accelerator.backward(policy_loss + args.vf_coef * value_loss)
            if accelerator.sync_gradients and args.max_grad_norm:
                accelerator.clip_grad_norm_(self.model.parameters(), args.max_grad_norm)
            self.optimizer.step()
            self.optimizer.zero_grad()
        with torch.no_grad():
            return {
                "policy/approxkl_avg": 0.5 * ((logprobs - rollout.logprobs[rows]) ** 2).mean(),
                "policy/clipfrac_avg": policy_clipped,
                "loss/policy_avg": policy_loss.detach(),
                "loss/value_avg": value_loss.detach(),
                "val/clipfrac_avg": value_clipped,
                "policy/entropy_avg": torch.distributions.Categorical(logits=logits).entropy().mean(),
                "val/ratio": ratio.mean(),
            }

    def _gathered_mean(self, value: torch.Tensor) -> float:
        return self.accelerator.gather_for_metrics(value).mean().item()

    def _show_samples(self, count: int = 2) -> None:
        """Log near-greedy answers to the first validation prompts with their rewards, to watch the policy."""
        if self.eval_dataset is None or not self.is_world_process_zero():
            return
        rows = [self.eval_dataset[i] for i in range(min(count, len(self.eval_dataset)))]
        prompts = self.data_collator(rows)["input_ids"].to(self.accelerator.device)
        config = GenerationConfig(
            max_new_tokens=self.args.response_length,
            temperature=0.01 + 1e-7,
            top_k=0,
            top_p=1.0,
            do_sample=True,
            pad_token_id=self.pad_id,
            return_dict_in_generate=True,
            output_scores=True,
        )
        with (
            torch.no_grad(),
            unwrap_model_for_generation(
                self.model, self.accelerator, gradient_checkpointing_kwargs=self._checkpointing_kwargs
            ) as unwrapped,
        ):
            responses, _ = sample_responses(unwrapped.actor, prompts, self.pad_id, config, len(rows))
            if self.stop_id is not None:
                responses = cut_after_stop(responses, self.stop_id, self.pad_id)
            rewards = reward_scores(self.reward_model, prompts, responses, self.pad_id).tolist()
        decode = self.tokenizer_.decode
        for prompt, response, reward in zip(prompts, responses, rewards):
            logger.info(
                "[ppo sample] %r -> %r (reward %.3f)",
                decode(prompt, skip_special_tokens=True),
                decode(response, skip_special_tokens=True),
                reward,
            )


class PPOTrainer(RLHFTrainerMixin, SwiftTrainerMixin, _PPOLoop):
    """``--rlhf_type ppo``: the reward model comes from ``--reward_model`` (+ ``--reward_adapters``) in
    ``swift_args`` unless one is passed."""

    def __init__(self, *args: Any, swift_args: Any = None, reward_model: Any = None, **kwargs: Any):
        if reward_model is None:
            from swiftk_rlhf.reward_model import load_reward_model

            reward_model = load_reward_model(swift_args)
        super().__init__(*args, swift_args=swift_args, reward_model=reward_model, **kwargs)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        raise NotImplementedError("PPO computes its losses in its own loop")

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        return None, None, None

    def evaluate(self, *args: Any, **kwargs: Any) -> dict:
        return {}
