"""Entry point of swift-plugin-webui: registrations only, every value a lazy reference (gradio imports in ~2 s)."""

import swiftk


@swiftk.hookimpl
def register_commands(register):
    register("app", "swiftk_webui.app:run_app")
    register("web-ui", "swiftk_webui.web_ui:run_web_ui")
