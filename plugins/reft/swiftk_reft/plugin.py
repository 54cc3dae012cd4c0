"""Entry point of swift-plugin-reft: registrations only, every value a lazy reference."""

import swiftk
from swiftk.api import TunerSpec


@swiftk.hookimpl
def register_tuners(register):
    register("reft", TunerSpec(prepare="swiftk_reft.reft:prepare_reft", load="swiftk_reft.reft:load_reft", merge=None))
