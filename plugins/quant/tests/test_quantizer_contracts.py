"""swift-plugin-quant's in-process quantizers pass the kernel's quantizer contract suite
(:mod:`swiftk.testing.quantizers`), as a third party's would.

Floors: about 0.07 below the agreement measured on the suite's eight chat turns (361 positions) with
tiny-chat: fp8 0.961, w8a8 0.992, bnb nf4 0.906, bnb int8 0.994.  gptq/awq run GPTQModel in its own
environment and are checked by test_export_gptq.py; hqq and eetq by test_quant_load_time.py.
"""

from __future__ import annotations

from swiftk.testing.quantizers import QuantizerContract


class TestFp8(QuantizerContract):
    quant_method = "fp8"
    refused = [(("--quant_bits", "4"), "--quant_method fp8 quantizes to 8 bits")]
    min_agreement = 0.89


class TestW8A8(QuantizerContract):
    quant_method = "w8a8"
    refused = [(("--quant_bits", "4"), "--quant_method w8a8 quantizes to 8 bits")]
    min_agreement = 0.92


class TestBnb4(QuantizerContract):
    quant_method = "bnb"
    arguments = ("--quant_bits", "4")
    refused = [(("--quant_bits", "3"), "--quant_method bnb needs --quant_bits 4 or 8, got 3")]
    min_agreement = 0.83


class TestBnb8(QuantizerContract):
    quant_method = "bnb"
    arguments = ("--quant_bits", "8")
    min_agreement = 0.92
