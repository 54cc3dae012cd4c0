"""``--train_type adalora | vera | boft | fourierft | ia3 | bone``: peft tuners with the page's arguments (ia3: later
ms-swift's extra tuner, on the same targets as LoRA, its feed-forward layers being every linear of the MLP blocks;
bone: later ms-swift's Bone, which peft now calls MiSS, ranked by ``--reft_rank`` as ms-swift does).

They load, save and merge through peft like LoRA (:func:`swiftk_peft.lora.load_adapter`,
:func:`swiftk_peft.lora.merge_adapter`).  AdaLoRA needs ``update_and_allocate`` after every optimizer
step, which the Trainer does not call: :class:`AdaLoraCallback` does (registered with
``register_callbacks``, only for ``--train_type adalora``), and sets AdaLoRA's ``total_step`` to the
run's real number of steps when training starts.
"""

from __future__ import annotations

from typing import Any

from swiftk.api import UsageError
from swiftk_peft.lora import load_adapter, wrap
from swiftk_peft.targets import resolve_target_modules

#: AdaLoRA's total_step until the trainer knows the real one (on_train_begin sets it)
_PLACEHOLDER_STEPS = 10**9


def _task_type(args: Any):
    from peft import TaskType

    # a reranker (swift-plugin-embedding) is a one-label classifier: peft saves its score head whole
    return TaskType.SEQ_CLS if args.get("task_type") in ("seq_cls", "reranker") else TaskType.CAUSAL_LM


def _common(model: Any, args: Any) -> dict:
    return dict(
        task_type=_task_type(args),
        target_modules=resolve_target_modules(model, args),
        modules_to_save=list(args.get("modules_to_save") or []) or None,
    )


def _continue(model: Any, args: Any, what: str) -> Any:
    from swiftk_peft.common import report_trainable

    model = load_adapter(model, args.adapters[0], args, trainable=True)
    report_trainable(model, what)
    return model


def prepare_adalora(model: Any, args: Any) -> Any:
    from peft import AdaLoraConfig

    if args.get("adapters"):
        return _continue(model, args, "adalora")
    max_steps = int(args.get("max_steps") or -1)
    total = max_steps if max_steps > 0 else _PLACEHOLDER_STEPS
    tinit, tfinal = int(args.get("adalora_tinit") or 0), int(args.get("adalora_tfinal") or 0)
    if max_steps > 0 and tinit >= total - tfinal:
        raise UsageError(
            f"--adalora_tinit {tinit} and --adalora_tfinal {tfinal} leave no budgeting phase in "
            f"--max_steps {max_steps}: make adalora_tinit + adalora_tfinal < max_steps"
        )
    if args.adalora_init_r < args.adalora_target_r:
        raise UsageError(
            f"--adalora_init_r {args.adalora_init_r} must be >= --adalora_target_r "
            f"{args.adalora_target_r}: AdaLoRA starts at init_r and prunes down to target_r"
        )
    config = AdaLoraConfig(
        **_common(model, args),
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        target_r=args.adalora_target_r,
        init_r=args.adalora_init_r,
        tinit=tinit,
        tfinal=tfinal,
        deltaT=args.adalora_deltaT,
        beta1=args.adalora_beta1,
        beta2=args.adalora_beta2,
        orth_reg_weight=args.adalora_orth_reg_weight,
        total_step=total,
    )
    return wrap(model, config, args, "adalora")


#: IA3's feed-forward layers (scaled on their input): the linears inside a model's MLP block, whatever it is called
_FEEDFORWARD = r".*\.(mlp|feed_forward|ffn)\..*"


def prepare_ia3(model: Any, args: Any) -> Any:
    from peft import IA3Config

    if args.get("adapters"):
        return _continue(model, args, "ia3")
    return wrap(model, IA3Config(**_common(model, args), feedforward_modules=_FEEDFORWARD), args, "ia3")


#: --init_weights for bone (ms-swift's forms) -> MiSS's init_weights
_BONE_INITS = {"true": True, "false": False, "bat": "bat"}


def prepare_bone(model: Any, args: Any) -> Any:
    from peft import MissConfig

    if args.get("adapters"):
        return _continue(model, args, "bone")
    init = str(args.get("init_weights") or "true").lower()
    if init not in _BONE_INITS:
        raise UsageError(f"--init_weights {args.get('init_weights')}: --train_type bone takes true, false or bat")
    config = MissConfig(**_common(model, args), r=int(args.get("reft_rank") or 4), init_weights=_BONE_INITS[init])
    return wrap(model, config, args, "bone")


def prepare_vera(model: Any, args: Any) -> Any:
    from peft import VeraConfig

    if args.get("adapters"):
        return _continue(model, args, "vera")
    config = VeraConfig(
        **_common(model, args),
        r=args.vera_rank,
        vera_dropout=args.vera_dropout,
        d_initial=args.vera_d_initial,
        save_projection=bool(args.vera_projection_prng_key),
        projection_prng_key=0,
    )
    return wrap(model, config, args, "vera")


def prepare_boft(model: Any, args: Any) -> Any:
    from peft import BOFTConfig

    if args.get("adapters"):
        return _continue(model, args, "boft")
    size, num = int(args.boft_block_size or 0), int(args.boft_block_num or 0)
    if (size == 0) == (num == 0):
        raise UsageError(f"--boft_block_size {size} and --boft_block_num {num}: set exactly one of them (the other 0)")
    config = BOFTConfig(
        **_common(model, args), boft_block_size=size, boft_block_num=num, boft_dropout=args.boft_dropout
    )
    _check_boft(model, config, size, num)
    return wrap(model, config, args, "boft")


def _check_boft(model: Any, config: Any, size: int, num: int) -> None:
    """BOFT needs every targeted layer's input size divisible by the block size (or count)."""
    from peft.tuners.tuners_utils import check_target_module_exists

    for name, module in model.named_modules():
        features = getattr(module, "in_features", None)
        if features is None or not check_target_module_exists(config, name):
            continue
        div = size or num
        if features % div:
            flag = "--boft_block_size" if size else "--boft_block_num"
            raise UsageError(
                f"{flag} {div}: must divide the input size of every targeted layer; {name} has {features} inputs"
            )


def prepare_fourierft(model: Any, args: Any) -> Any:
    from peft import FourierFTConfig
    from peft.tuners.tuners_utils import check_target_module_exists

    if args.get("adapters"):
        return _continue(model, args, "fourierft")
    config = FourierFTConfig(**_common(model, args), n_frequency=args.fourier_n_frequency, scaling=args.fourier_scaling)
    for name, module in model.named_modules():
        shape = getattr(module, "weight", None)
        if getattr(module, "in_features", None) and check_target_module_exists(config, name):
            size = module.in_features * module.out_features
            if args.fourier_n_frequency > size:
                raise UsageError(
                    f"--fourier_n_frequency {args.fourier_n_frequency}: more than the {size} "
                    f"entries of {name}'s weight ({module.out_features}x{module.in_features}); "
                    f"use at most {size}"
                )
        del shape
    return wrap(model, config, args, "fourierft")


# --- AdaLoRA's rank allocation ----------------------------------------------------------------


def _adalora_model(model: Any) -> Any:
    """The peft AdaLoraModel inside whatever wraps it (DDP, the PeftModel)."""
    inner = getattr(model, "module", model)
    base = getattr(inner, "base_model", None)
    return base if base is not None and hasattr(base, "update_and_allocate") else None


def adalora_callback():
    from transformers import TrainerCallback

    class AdaLoraCallback(TrainerCallback):
        """Sets AdaLoRA's total_step from the run and calls ``update_and_allocate`` after each optimizer step
        (before the gradients are zeroed: the rank budget reads them)."""

        def on_train_begin(self, args, state, control, model=None, **kwargs):
            ada = _adalora_model(model)
            if ada is None:
                return
            config = ada.peft_config[ada.trainable_adapter_name]
            config.total_step = state.max_steps
            if config.tinit >= config.total_step - config.tfinal:
                raise UsageError(
                    f"--adalora_tinit {config.tinit} and --adalora_tfinal {config.tfinal} leave no "
                    f"budgeting phase in this run's {state.max_steps} steps: lower them"
                )

        def on_optimizer_step(self, args, state, control, model=None, **kwargs):
            ada = _adalora_model(model)
            if ada is not None:
                ada.update_and_allocate(state.global_step)

    return AdaLoraCallback()
