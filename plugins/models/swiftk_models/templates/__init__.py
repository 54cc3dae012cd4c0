"""Every chat template of swift-plugin-models, as plain :class:`swiftk.specs.TemplateMeta` declarations."""

from swiftk_models.templates import chatml, deepseek, glm, llama, misc

TEMPLATE_METAS = [*chatml.METAS, *llama.METAS, *glm.METAS, *deepseek.METAS, *misc.METAS]
