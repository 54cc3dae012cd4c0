"""Entry point of swift-plugin-multimodal: registrations only (the families' modules import no torch)."""

import dataclasses

import swiftk

GET_FUNCTION = "swiftk_multimodal.loader:load_vlm"


@swiftk.hookimpl
def register_models(register):
    from swiftk_multimodal.families import MODELS

    for meta in MODELS:
        register(meta.model_type, dataclasses.replace(meta, get_function=meta.get_function or GET_FUNCTION))


@swiftk.hookimpl
def register_templates(register):
    from swiftk_multimodal.families import TEMPLATES

    for meta in TEMPLATES:
        register(meta.template_type, meta)
