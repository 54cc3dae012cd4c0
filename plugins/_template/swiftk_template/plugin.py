"""The entry-point module: hook implementations only, nothing heavy imported at the top.

Register lazy references ("swiftk_template.impl:thing") for anything that needs torch or
transformers, so that ``swiftk --help`` and ``swiftk plugins`` stay fast.
"""

import swiftk


@swiftk.hookimpl
def register_metrics(register):
    register("template_metric", "swiftk_template.impl:template_metric")
