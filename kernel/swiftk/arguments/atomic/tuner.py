"""The page's "Tuner参数" and every sub-group (全参, LoRA, LoRA-GA, FourierFt, BOFT, Vera, GaLore,
LISA, LLAMAPRO, AdaLoRA, ReFT, Liger).  UNSLOTH has no parameters of its own (it is selected with
``--tuner_backend unsloth``), so it has no group here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Literal, Optional, Union

from swiftk.arguments.fields import arg

PEFT = "swift-plugin-peft"
GALORE = "swift-plugin-galore"
LISA = "swift-plugin-lisa"
REFT = "swift-plugin-reft"
LIGER = "swift-plugin-liger"


@dataclass
class TunerArguments:
    """Tuner arguments (the seed page's "Tuner参数")."""

    SECTION = "Tuner arguments"
    SECTION_ZH = "Tuner参数"

    freeze_llm: bool = arg(
        False, "Multimodal models: freeze the LLM (full) or add no tuner to it (LoRA with all-linear).", hot=True
    )
    freeze_vit: bool = arg(True, "Multimodal models: freeze the vision tower / add no tuner to it.", hot=True)
    freeze_aligner: bool = arg(True, "Multimodal models: freeze the aligner / add no tuner to it.", hot=True)
    target_modules: List[str] = arg(
        ["all-linear"],
        "Modules to attach the tuner to; all-linear means every linear but lm_head "
        "(of the LLM only, for multimodal models).",
        hot=True,
    )
    target_regex: Optional[str] = arg(
        None, "Regex of the modules to attach the tuner to; overrides target_modules.", hot=True
    )
    init_weights: Union[bool, str] = arg(
        True, "Tuner weight init: LoRA true, false, gaussian, pissa, pissa_niter_<n>; Bone true, false, bat."
    )
    modules_to_save: List[str] = arg(list, "Extra original modules trained and saved alongside the tuner.", hot=True)


@dataclass
class FullArguments:
    """Full-parameter training arguments (the seed page's "全参")."""

    SECTION = "Full-parameter training arguments"
    SECTION_ZH = "全参"

    freeze_parameters: List[str] = arg(list, "Prefixes of parameters to freeze.")
    freeze_parameters_ratio: float = arg(0.0, "Fraction of parameters frozen from the bottom up (1 freezes all).")
    trainable_parameters: List[str] = arg(
        list, "Prefixes of parameters kept trainable; wins over freeze_parameters(_ratio)."
    )


@dataclass
class LoraArguments:
    """LoRA arguments (the seed page's "LoRA")."""

    SECTION = "LoRA arguments"
    SECTION_ZH = "LoRA"

    lora_rank: int = arg(8, "LoRA rank.", hot=True, plugin=PEFT)
    lora_alpha: int = arg(32, "LoRA alpha.", hot=True, plugin=PEFT)
    lora_dropout: float = arg(0.05, "LoRA dropout.", plugin=PEFT)
    lora_bias: Literal["none", "all"] = arg("none", "Which biases are trainable: none or all.", plugin=PEFT)
    lora_dtype: Optional[Literal["float16", "bfloat16", "float32"]] = arg(
        None, "dtype of the LoRA modules; None follows the model.", plugin=PEFT
    )
    use_dora: bool = arg(False, "Use DoRA.", hot=True, plugin=PEFT)
    use_rslora: bool = arg(False, "Use rank-stabilized LoRA.", plugin=PEFT)
    lorap_lr_ratio: Optional[float] = arg(
        None, "LoRA+ learning-rate ratio (suggested 10-16); set it to use LoRA+.", hot=True, plugin=PEFT
    )


@dataclass
class LoraGAArguments:
    """LoRA-GA arguments (the seed page's "LoRA-GA")."""

    SECTION = "LoRA-GA arguments"
    SECTION_ZH = "LoRA-GA"

    lora_ga_batch_size: int = arg(2, "LoRA-GA: batch size of the gradient estimation.", plugin=PEFT)
    lora_ga_iters: int = arg(2, "LoRA-GA: iterations of the gradient estimation.", plugin=PEFT)
    lora_ga_max_length: int = arg(1024, "LoRA-GA: max input length of the gradient estimation.", plugin=PEFT)
    lora_ga_direction: Literal["ArBr", "A2rBr", "ArB2r", "random"] = arg(
        "ArB2r", "LoRA-GA: initial direction.", plugin=PEFT
    )
    lora_ga_scale: Literal["gd", "unit", "stable", "weightS"] = arg(
        "stable", "LoRA-GA: initialization scaling.", plugin=PEFT
    )
    lora_ga_stable_gamma: int = arg(16, "LoRA-GA: gamma of the stable scaling.", plugin=PEFT)


@dataclass
class FourierFtArguments:
    """FourierFt arguments (the seed page's "FourierFt")."""

    SECTION = "FourierFt arguments"
    SECTION_ZH = "FourierFt"

    fourier_n_frequency: int = arg(2000, "FourierFT: number of frequencies (like LoRA's r).", plugin=PEFT)
    fourier_scaling: float = arg(300.0, "FourierFT: scaling of W (like lora_alpha).", plugin=PEFT)


@dataclass
class BoftArguments:
    """BOFT arguments (the seed page's "BOFT")."""

    SECTION = "BOFT arguments"
    SECTION_ZH = "BOFT"

    boft_block_size: int = arg(4, "BOFT block size.", plugin=PEFT)
    boft_block_num: int = arg(0, "BOFT block count; cannot be used together with boft_block_size.", plugin=PEFT)
    boft_dropout: float = arg(0.0, "BOFT dropout.", plugin=PEFT)


@dataclass
class VeraArguments:
    """Vera arguments (the seed page's "Vera")."""

    SECTION = "Vera arguments"
    SECTION_ZH = "Vera"

    vera_rank: int = arg(256, "VeRA rank.", plugin=PEFT)
    vera_projection_prng_key: bool = arg(True, "VeRA: save the projection matrices.", plugin=PEFT)
    vera_dropout: float = arg(0.0, "VeRA dropout.", plugin=PEFT)
    vera_d_initial: float = arg(0.1, "VeRA: initial value of the d vector.", plugin=PEFT)


@dataclass
class GaloreArguments:
    """GaLore arguments (the seed page's "GaLore")."""

    SECTION = "GaLore arguments"
    SECTION_ZH = "GaLore"

    use_galore: bool = arg(False, "Use GaLore.", hot=True, plugin=GALORE)
    galore_target_modules: Optional[List[str]] = arg(
        None, "Modules GaLore applies to; None means attention and MLP.", plugin=GALORE
    )
    galore_rank: int = arg(128, "GaLore rank.", plugin=GALORE)
    galore_update_proj_gap: int = arg(50, "Steps between projection updates.", plugin=GALORE)
    galore_scale: float = arg(1.0, "GaLore scale.", plugin=GALORE)
    galore_proj_type: str = arg("std", "GaLore projection type.", plugin=GALORE)
    galore_optim_per_parameter: bool = arg(False, "One optimizer per GaLore parameter.", plugin=GALORE)
    galore_with_embedding: bool = arg(False, "Apply GaLore to the embedding too.", plugin=GALORE)
    galore_quantization: bool = arg(False, "Use Q-GaLore.", plugin=GALORE)
    galore_proj_quant: bool = arg(False, "Quantize the SVD projection matrices.", plugin=GALORE)
    galore_proj_bits: int = arg(4, "Bits of the projection quantization.", plugin=GALORE)
    galore_proj_group_size: int = arg(256, "Group size of the projection quantization.", plugin=GALORE)
    galore_cos_threshold: float = arg(0.4, "Cosine-similarity threshold for updating the projection.", plugin=GALORE)
    galore_gamma_proj: int = arg(2, "Factor stretching the update gap once projections become similar.", plugin=GALORE)
    galore_queue_size: int = arg(5, "Queue length for projection similarity.", plugin=GALORE)


@dataclass
class LisaArguments:
    """LISA arguments (the seed page's "LISA")."""

    SECTION = "LISA arguments"
    SECTION_ZH = "LISA"

    lisa_activated_layers: int = arg(
        0, "LISA (full training only): layers activated at a time; 0 disables, 2 or 8 suggested.", hot=True, plugin=LISA
    )
    lisa_step_interval: int = arg(20, "LISA: steps between switching the activated layers.", plugin=LISA)


@dataclass
class LlamaproArguments:
    """LLaMA-Pro arguments (the seed page's "LLAMAPRO")."""

    SECTION = "LLaMA-Pro arguments"
    SECTION_ZH = "LLAMAPRO"

    llamapro_num_new_blocks: int = arg(4, "LLaMA-Pro: number of new layers inserted.", hot=True, plugin=PEFT)
    llamapro_num_groups: Optional[int] = arg(
        None, "LLaMA-Pro: groups the new blocks are inserted in; None means one per new block.", plugin=PEFT
    )


@dataclass
class AdaloraArguments:
    """AdaLoRA arguments (the seed page's "AdaLoRA")."""

    SECTION = "AdaLoRA arguments"
    SECTION_ZH = "AdaLoRA"

    adalora_target_r: int = arg(8, "AdaLoRA average target rank.", plugin=PEFT)
    adalora_init_r: int = arg(12, "AdaLoRA initial rank.", plugin=PEFT)
    adalora_tinit: int = arg(0, "AdaLoRA initial warmup steps.", plugin=PEFT)
    adalora_tfinal: int = arg(0, "AdaLoRA final warmup steps.", plugin=PEFT)
    adalora_deltaT: int = arg(1, "AdaLoRA steps between rank allocations.", plugin=PEFT)
    adalora_beta1: float = arg(0.85, "AdaLoRA EMA beta1.", plugin=PEFT)
    adalora_beta2: float = arg(0.85, "AdaLoRA EMA beta2.", plugin=PEFT)
    adalora_orth_reg_weight: float = arg(0.5, "AdaLoRA orthogonal regularization weight.", plugin=PEFT)


@dataclass
class ReftArguments:
    """ReFT arguments (the seed page's "ReFT")."""

    SECTION = "ReFT arguments"
    SECTION_ZH = "ReFT"

    reft_layers: Optional[List[int]] = arg(
        None, "Layers ReFT applies to, e.g. 1 2 3 4; None means all.", hot=True, plugin=REFT
    )
    reft_rank: int = arg(4, "ReFT rank.", hot=True, plugin=REFT)
    reft_intervention_type: Literal[
        "NoreftIntervention",
        "LoreftIntervention",
        "ConsreftIntervention",
        "LobireftIntervention",
        "DireftIntervention",
        "NodireftIntervention",
    ] = arg("LoreftIntervention", "ReFT intervention type.", plugin=REFT)
    reft_args: Optional[Dict[str, Any]] = arg(None, "Extra ReFT intervention arguments as JSON.", plugin=REFT)


@dataclass
class LigerArguments:
    """Liger arguments (the seed page's "Liger")."""

    SECTION = "Liger arguments"
    SECTION_ZH = "Liger"

    use_liger: bool = arg(False, "Train with liger-kernel.", plugin=LIGER)


TUNER_GROUPS = (
    TunerArguments,
    FullArguments,
    LoraArguments,
    LoraGAArguments,
    FourierFtArguments,
    BoftArguments,
    VeraArguments,
    GaloreArguments,
    LisaArguments,
    LlamaproArguments,
    AdaloraArguments,
    ReftArguments,
    LigerArguments,
)
