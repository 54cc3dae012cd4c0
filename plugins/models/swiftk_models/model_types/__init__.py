"""Every model type of swift-plugin-models, as plain :class:`swiftk.specs.ModelMeta` declarations."""

from swiftk_models.model_types import deepseek, gemma, glm, internlm, llama, misc, mistral, phi, qwen

MODEL_METAS = [
    *qwen.METAS,
    *llama.METAS,
    *mistral.METAS,
    *glm.METAS,
    *internlm.METAS,
    *deepseek.METAS,
    *phi.METAS,
    *gemma.METAS,
    *misc.METAS,
]
