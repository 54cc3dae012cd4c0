"""Which argument groups each command has, in order, as the seed page says each inherits.

``COMMANDS[cmd]`` is the ordered tuple of dataclasses whose fields are the command's arguments.
When two groups of one command declare the same name (``temperature`` in the generation group and
in the training group), the LATER group's field wins, like a subclass overriding its base.

Also the page's environment variables: :data:`ENV_VARS` ("其他环境变量") and
:data:`MODEL_ENV_VARS` ("特定模型参数", read through
:func:`swiftk.arguments.model_env.get_model_arg`).  Importing this module imports no third-party
package.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from swiftk.arguments.atomic.hf_training import HfTrainingArguments
from swiftk.arguments.atomic.lmdeploy import LmdeployArguments
from swiftk.arguments.atomic.merge import MergeArguments
from swiftk.arguments.atomic.seq2seq import Seq2SeqTrainerArguments
from swiftk.arguments.atomic.tuner import TUNER_GROUPS
from swiftk.arguments.atomic.vllm import VllmArguments
from swiftk.arguments.base.basic import BasicArguments
from swiftk.arguments.base.data import DataArguments
from swiftk.arguments.base.generation import GenerationArguments
from swiftk.arguments.base.model import ModelArguments
from swiftk.arguments.base.quantization import QuantizeArguments
from swiftk.arguments.base.template import TemplateArguments
from swiftk.arguments.integration.app import AppArguments
from swiftk.arguments.integration.deploy import DeployArguments
from swiftk.arguments.integration.eval import EvalArguments
from swiftk.arguments.integration.export import ExportArguments
from swiftk.arguments.integration.infer import InferArguments
from swiftk.arguments.integration.rlhf import (
    GRPOArguments,
    PPOArguments,
    RewardModelArguments,
    RLHFArguments,
    SwanlabArguments,
)
from swiftk.arguments.integration.sample import MCTSArguments, SamplingArguments
from swiftk.arguments.integration.train import TrainArguments
from swiftk.arguments.integration.webui import WebUIArguments

__all__ = ["COMMANDS", "BASIC_GROUPS", "TRAIN_COMMANDS", "ENV_VARS", "MODEL_ENV_VARS", "HOT_MODEL_ENV_VARS"]

# 基本参数: the top-level basic arguments, then model, data, template, generation, quantization.
BASIC_GROUPS: Tuple[type, ...] = (
    BasicArguments,
    ModelArguments,
    DataArguments,
    TemplateArguments,
    GenerationArguments,
    QuantizeArguments,
)

# 训练参数 = 基本参数 + Seq2SeqTrainer参数 (+ the rest of transformers' fields) + tuner参数 + its own.
_TRAIN = BASIC_GROUPS + (Seq2SeqTrainerArguments, HfTrainingArguments) + TUNER_GROUPS + (TrainArguments,)
# RLHF参数 inherits 训练参数; reward model, PPO and GRPO are its sub-groups; SwanLab follows.
_RLHF = _TRAIN + (RLHFArguments, RewardModelArguments, PPOArguments, GRPOArguments, SwanlabArguments)
# 推理参数 = 基本参数 + 合并参数 + vLLM参数 + LMDeploy参数 + its own.
_INFER = BASIC_GROUPS + (MergeArguments, VllmArguments, LmdeployArguments, InferArguments)
# 部署参数 inherits 推理参数.
_DEPLOY = _INFER + (DeployArguments,)
# 导出参数 = 基本参数 + 合并参数 + its own.
_EXPORT = BASIC_GROUPS + (MergeArguments, ExportArguments)

COMMANDS: Dict[str, Tuple[type, ...]] = {
    "sft": _TRAIN,
    "pt": _TRAIN,
    "rlhf": _RLHF,
    "infer": _INFER,
    "deploy": _DEPLOY,
    "web-ui": (WebUIArguments,),
    # App参数 inherits 部署参数 and Web-UI参数 (and overrides lang).
    "app": _DEPLOY + (WebUIArguments, AppArguments),
    # 评测参数 inherits 部署参数 (and overrides temperature, verbose).
    "eval": _DEPLOY + (EvalArguments,),
    "export": _EXPORT,
    "merge-lora": _EXPORT,
    "sample": BASIC_GROUPS + (SamplingArguments, MCTSArguments),
    # later ms-swift's `swift rollout` (RolloutArguments inherits 部署参数; its own arguments are swift-plugin-vllm's)
    "rollout": _DEPLOY,
}

TRAIN_COMMANDS = frozenset({"sft", "pt", "rlhf"})

# 其他环境变量: (name, default, help).  None means unset.
ENV_VARS: List[Tuple[str, Optional[Any], str]] = [
    ("CUDA_VISIBLE_DEVICES", None, "GPUs to use; default all."),
    ("ASCEND_RT_VISIBLE_DEVICES", None, "Ascend NPUs to use; default all."),
    ("MODELSCOPE_CACHE", None, "Cache folder."),
    ("NPROC_PER_NODE", 1, "torchrun --nproc_per_node; setting it or NNODES launches with torchrun."),
    ("MASTER_PORT", 29500, "torchrun --master_port."),
    ("MASTER_ADDR", None, "torchrun --master_addr."),
    ("NNODES", None, "torchrun --nnodes; setting it or NPROC_PER_NODE launches with torchrun."),
    ("NODE_RANK", None, "torchrun --node_rank."),
]

_QWEN2_VL = [
    ("IMAGE_FACTOR", 28, "Image size factor."),
    ("MIN_PIXELS", 4 * 28 * 28, "Min pixels of an image (4 * 28 * 28)."),
    ("MAX_PIXELS", 16384 * 28 * 28, "Max pixels of an image (16384 * 28 * 28)."),
    ("MAX_RATIO", 200, "Max aspect ratio of an image."),
    ("VIDEO_MIN_PIXELS", 128 * 28 * 28, "Min pixels of a video frame (128 * 28 * 28)."),
    ("VIDEO_MAX_PIXELS", 768 * 28 * 28, "Max pixels of a video frame (768 * 28 * 28)."),
    ("VIDEO_TOTAL_PIXELS", 24576 * 28 * 28, "Max total pixels of a video (24576 * 28 * 28)."),
    ("FRAME_FACTOR", 2, "Video frame count factor."),
    ("FPS", 2.0, "Video sampling frames per second."),
    ("FPS_MIN_FRAMES", 4, "Min frames sampled from a video."),
    ("FPS_MAX_FRAMES", 768, "Max frames sampled from a video."),
]
_INTERNVL = [
    ("MAX_NUM", 12, "Max image tiles."),
    ("INPUT_SIZE", 448, "Tile input size."),
]
_INTERNVL2 = _INTERNVL + [
    ("VIDEO_MAX_NUM", 1, "MAX_NUM for video frames."),
    ("VIDEO_SEGMENTS", 8, "Video segments."),
]
_MINICPMV = [
    ("MAX_SLICE_NUMS", 9, "Max image slices."),
    ("VIDEO_MAX_SLICE_NUMS", 1, "MAX_SLICE_NUMS for video."),
    ("MAX_NUM_FRAMES", 64, "Max video frames."),
]
_MINICPMO = [
    ("INIT_TTS", False, "Initialize the TTS module."),
    ("INIT_AUDIO", False, "Initialize the audio module."),
]

# 特定模型参数: model_type -> [(name, default, help)]; set through --model_kwargs or the environment.
MODEL_ENV_VARS: Dict[str, List[Tuple[str, Optional[Any], str]]] = {
    "qwen2_vl": _QWEN2_VL,
    "qvq": _QWEN2_VL,
    "qwen2_5_vl": _QWEN2_VL,
    "qwen2_audio": [("SAMPLING_RATE", 16000, "Audio sampling rate.")],
    "internvl": _INTERNVL,
    "internvl_phi3": _INTERNVL,
    "internvl2": _INTERNVL2,
    "internvl2_phi3": _INTERNVL2,
    "internvl2_5": _INTERNVL2,
    "minicpmv2_6": _MINICPMV,
    "minicpmo2_6": _MINICPMV + _MINICPMO,
    "ovis1_6": [("MAX_PARTITION", 9, "Max image partitions.")],
    "ovis2": [("MAX_PARTITION", 9, "Max image partitions.")],
    "mplug_owl3": [("MAX_NUM_FRAMES", 16, "Max video frames.")],
    "mplug_owl3_241101": [("MAX_NUM_FRAMES", 16, "Max video frames.")],
    "xcomposer2_4khd": [("HD_NUM", 55, "Number of HD patches.")],
    "xcomposer2_5": [("HD_NUM", None, "Number of HD patches; None means 24 for one image, 6 for several.")],
    "video_cogvlm2": [("NUM_FRAMES", 24, "Video frames.")],
    "phi3_vision": [("NUM_CROPS", 4, "Image crops.")],
    "llama3_1_omni": [("N_MELS", 128, "Mel bins of the audio features.")],
    "video_llava": [("NUM_FRAMES", 16, "Video frames.")],
}

# The 🔥 model-specific parameters.
HOT_MODEL_ENV_VARS = frozenset({"MAX_PIXELS", "VIDEO_MAX_PIXELS", "FPS_MAX_FRAMES"})
