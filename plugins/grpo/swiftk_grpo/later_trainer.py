"""What trl 1.16's GRPOTrainer lacks of later ms-swift's GRPO, as a mixin placed right before it:

* ``--advantage_estimator rloo|reinforce_plus_plus`` and ``--kl_in_reward``: trl's advantages are replaced
  by :func:`swiftk_grpo.advantages.group_advantages` of the (KL-penalised) rewards trl computed;
  with the KL in the reward it leaves the loss.
* ``--dynamic_sample`` (DAPO): groups whose rewards are all equal are dropped and new prompts drawn,
  for at most ``--max_resample_times`` more generation rounds, until the generation batch is full of
  groups that carry a signal; if it never fills, the first batch is trained on (as in ms-swift).

Everything else (loss types, clipping, GSPO ratios, truncation masks) is trl's own.
"""

from __future__ import annotations

import warnings
from typing import Any, Optional

import torch

from swiftk.api import UsageError
from swiftk_grpo.advantages import group_advantages, sequence_kl, zero_std_groups
from swiftk_grpo.batches import concat_rows, select_rows, unsupported_keys
from swiftk_grpo.later_args import kl_in_reward
from swiftk_grpo.media import MEDIA_KEYS


class LaterGRPOMixin:
    advantage_estimator = "grpo"
    kl_in_reward = False
    dynamic_sample = False
    max_resample_times = 3

    def setup_later_options(self, swift_args: Any) -> None:
        self.advantage_estimator = swift_args.get("advantage_estimator") or "grpo"
        self.kl_in_reward = kl_in_reward(swift_args) and self.beta != 0.0
        self.dynamic_sample = bool(swift_args.get("dynamic_sample"))
        self.max_resample_times = int(swift_args.get("max_resample_times") or 3)
        #: totals over the run: extra generation rounds, and zero-variance groups dropped
        self.dynamic_sample_counts = {"rounds": 0, "dropped_groups": 0}
        self._resample_seed = int(swift_args.get("seed") or 42) + 1
        self._prompt_order: list[int] = []
        self._rewards_per_func: Optional[torch.Tensor] = None
        if self.dynamic_sample and not hasattr(self.train_dataset, "__getitem__"):
            raise UsageError(
                "--dynamic_sample true needs a dataset that is not streamed (new prompts are drawn from it)"
            )

    # -- rewards and advantages ---------------------------------------------------------------
    def _calculate_rewards(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        self._rewards_per_func = super()._calculate_rewards(*args, **kwargs)
        return self._rewards_per_func

    def _group_size(self) -> int:
        return self.num_generations if self.model.training else self.num_generations_eval

    def _scored(self, inputs: list) -> tuple[dict, torch.Tensor, torch.Tensor]:
        """trl's scored batch, its rewards (all processes), and the rewards its advantages are made of."""
        output = super()._generate_and_score_completions(inputs)
        weights = self.reward_weights.to(self._rewards_per_func.device).unsqueeze(0)
        rewards = (self._rewards_per_func * weights).nansum(dim=1)
        penalised = rewards
        if self.kl_in_reward:
            kl = self.accelerator.gather(
                sequence_kl(self._old_logps(output), output["ref_per_token_logps"], output["completion_mask"])
            )
            self._metrics["train" if self.model.training else "eval"]["kl"].append(kl.float().mean().item())
            penalised = rewards - self.beta * kl.to(rewards.device)
        if self.advantage_estimator != "grpo" or self.kl_in_reward:
            self._set_advantages(output, penalised, len(inputs), log=True)
        return output, rewards, penalised

    def _set_advantages(self, output: dict, rewards: torch.Tensor, local: int, *, log: bool) -> None:
        advantages = group_advantages(rewards, self._group_size(), self.advantage_estimator, self.scale_rewards)
        start = self.accelerator.process_index * local
        output["advantages"] = advantages[start : start + local].to(output["advantages"])
        if log:  # trl logged its own advantages for these completions last
            logged = self._logs["advantages"]  # a deque: it may hold fewer than an eval batch
            n = min(len(logged), len(advantages))
            for i, value in enumerate(advantages.tolist()[len(advantages) - n :]):
                logged[len(logged) - n + i] = value

    def _old_logps(self, output: dict) -> torch.Tensor:
        """The sampling policy's token log-probabilities (trl skips them when training is on-policy)."""
        if output.get("old_per_token_logps") is not None:
            return output["old_per_token_logps"]
        ids = torch.cat([output["prompt_ids"], output["completion_ids"]], dim=1)
        mask = torch.cat([output["prompt_mask"], output["completion_mask"]], dim=1)
        batch = self.args.per_device_train_batch_size if self.model.training else self.args.per_device_eval_batch_size
        with torch.no_grad():
            media = {k: output[k] for k in MEDIA_KEYS if output.get(k) is not None}  # rows with images
            logps, _, _ = self._get_per_token_logps_and_entropies(
                self.model, ids, mask, output["completion_ids"].size(1), batch_size=batch, **media
            )
        return logps

    def _compute_loss(self, model: Any, inputs: dict) -> torch.Tensor:
        if not self.kl_in_reward:
            return super()._compute_loss(model, inputs)
        beta, self.beta = self.beta, 0.0  # the KL is in the reward, so not in the loss
        try:
            return super()._compute_loss(model, inputs)
        finally:
            self.beta = beta

    # -- dynamic sampling -----------------------------------------------------------------------
    def _generate_and_score_completions(self, inputs: list) -> dict:
        scored = self._scored(inputs)
        if self.dynamic_sample and self.model.training:
            return self._dynamically_sampled(len(inputs), scored)
        return scored[0]

    def _dynamically_sampled(self, need: int, scored: tuple) -> dict:
        group = self._group_size()
        first = output = scored[0]
        if unsupported_keys(output):
            raise UsageError(
                f"--dynamic_sample true: batches with {', '.join(unsupported_keys(output))} are not supported"
            )
        kept, kept_rewards, count, rounds, dropped = [], [], 0, 0, 0
        while True:
            output, raw, penalised = scored
            zero = zero_std_groups(raw, group)
            dropped += int(zero.sum())
            rows = (~zero).repeat_interleave(group)
            if rows.any():
                kept.append(select_rows(output, rows))
                kept_rewards.append(penalised[rows])
                count += int(rows.sum())
            if count >= need or rounds >= self.max_resample_times:
                break
            rounds += 1
            scored = self._scored(self._new_prompts(need))
        self.dynamic_sample_counts["rounds"] += rounds
        self.dynamic_sample_counts["dropped_groups"] += dropped
        self._metrics["train"]["dynamic_sample/rounds"].append(float(rounds))
        self._metrics["train"]["dynamic_sample/zero_std_groups"].append(float(dropped))
        if count < need:
            warnings.warn(
                f"--dynamic_sample: groups with equal rewards remain after {rounds} resampling round(s) "
                f"(--max_resample_times {self.max_resample_times}); training on the first batch",
                stacklevel=2,
            )
            return first
        batch = {k: v[:need] for k, v in concat_rows(kept, self._tokenizer.pad_token_id).items()}
        self._set_advantages(batch, torch.cat(kept_rewards)[:need], need, log=False)
        batch["num_items_in_batch"] = batch["completion_mask"].sum()
        return batch

    def _new_prompts(self, count: int) -> list:
        """``count`` rows: ``count / num_generations`` prompts drawn without replacement, each repeated."""
        group = self.num_generations
        rows = []
        for _ in range(count // group):
            if not self._prompt_order:
                generator = torch.Generator().manual_seed(self._resample_seed)
                self._resample_seed += 1
                self._prompt_order = torch.randperm(len(self.train_dataset), generator=generator).tolist()
            row = self.train_dataset[self._prompt_order.pop()]
            rows.extend(dict(row) for _ in range(group))
        return rows
