"""Entry point of swift-plugin-peft: registrations only, every value a lazy reference."""
import swiftk
from swiftk.specs import TunerSpec


@swiftk.hookimpl
def register_tuners(register):
    register("lora", TunerSpec(prepare="swiftk_peft.lora:prepare_lora", load="swiftk_peft.lora:load_adapter",
                               merge="swiftk_peft.lora:merge_adapter"))
