import copy

import pytest
import torch
from torch import nn

from arabic_ner.device import cpu_description
from arabic_ner.int8 import (
    KERNELS,
    Int8Linear,
    choose,
    fp32,
    int8_layers,
    probe,
    quantize_int8,
)


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("shape, bias", [((1, 384), True), ((3, 7, 384), True), ((2, 5, 384), False),
                                         ((64, 384), True)])
def test_close_to_fp32(shape, bias, kernel):
    torch.manual_seed(0)
    linear = nn.Linear(384, 96, bias=bias)
    x = torch.randn(*shape)
    out = Int8Linear(linear, kernel)(x)
    assert out.shape == linear(x).shape and out.dtype == torch.float32
    assert relative_error(out, linear(x)) < 0.02


@pytest.mark.parametrize("kernel", KERNELS)
def test_small_weight_rows_keep_their_precision(kernel):
    # One scale per output channel: rows 1000x smaller than others keep their own precision
    # (with one scale for the whole matrix they would round to zero).
    torch.manual_seed(0)
    linear = nn.Linear(384, 64)
    with torch.no_grad():
        linear.weight *= torch.logspace(-3, 0, 64)[:, None]
        linear.bias.zero_()
    x = torch.randn(16, 384)
    small = slice(0, 8)
    assert relative_error(Int8Linear(linear, kernel)(x)[:, small], linear(x)[:, small]) < 0.02


@pytest.mark.parametrize("kernel", KERNELS)
def test_one_loud_token_costs_the_others_nothing(kernel):
    # Per-token scales: a token with huge activations in the batch must not coarsen the others'
    # quantization (a single per-batch scale would: their error grows ~1000x here). int_mm scales
    # each row alone, so the quiet rows are bit-identical; qlinear's one range over the scaled rows
    # may move by a step.
    torch.manual_seed(0)
    linear = nn.Linear(384, 96)
    quiet = torch.randn(8, 384)
    loud = torch.cat([quiet, 1000 * torch.randn(1, 384)])
    layer = Int8Linear(linear, kernel)
    if kernel == "int_mm":
        assert torch.equal(layer(loud)[:8], layer(quiet))
    assert relative_error(layer(loud)[:8], linear(quiet)) < 0.02


@pytest.mark.parametrize("kernel", KERNELS)
def test_quantize_replaces_every_linear(kernel):
    model = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Sequential(nn.Linear(16, 4)), nn.LayerNorm(4))
    x = torch.randn(5, 8)
    expected = model(x)
    quantize_int8(model, kernel)
    assert sum(isinstance(m, Int8Linear) for m in model.modules()) == 2
    assert not any(isinstance(m, nn.Linear) for m in [model[0], *model[2]])  # the fp32 ones only inside
    assert relative_error(model(x), expected) < 0.05


@pytest.mark.parametrize("kernel", KERNELS)
def test_fp32_context_restores_the_exact_model(kernel):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 4))
    x = torch.randn(5, 8)
    expected = model(x)
    quantize_int8(model, kernel)
    int8_out = model(x)
    assert not torch.equal(int8_out, expected)
    with fp32(model):
        assert torch.equal(model(x), expected)
    assert torch.equal(model(x), int8_out)


@pytest.mark.parametrize("times, force, kernel", [
    ({"fp32": 1.0, "int_mm": 0.5, "qlinear": 0.6}, False, "int_mm"),  # int8 faster: the fastest kernel
    ({"fp32": 1.0, "int_mm": 30.0, "qlinear": 0.55}, False, "qlinear"),  # AVX2: int_mm's slow fallback
    ({"fp32": 1.0, "int_mm": 30.0, "qlinear": 2.0}, False, None),  # int8 slower: fp32
    ({"fp32": 1.0, "int_mm": 30.0, "qlinear": 2.0}, True, "qlinear"),  # ... unless forced
    ({"fp32": 1.0, "int_mm": 0.95, "qlinear": 1.05}, False, None),  # within noise: fp32
    ({"fp32": 1.0, "int_mm": 0.83, "qlinear": None}, False, "int_mm"),  # 1.2x: just past the noise
    ({"fp32": 1.0, "int_mm": 0.85, "qlinear": None}, False, None),  # 1.18x: not yet
    ({"fp32": 1.0, "int_mm": None, "qlinear": None}, True, None),  # no int8 kernel runs here
    ({"fp32": 1.0, "int_mm": 0.0, "qlinear": None}, False, "int_mm"),  # a clock too coarse: no division by 0
])
def test_choose(times, force, kernel):
    chosen, why = choose(times, force)
    assert chosen == kernel
    assert "\n" not in why and ("--int8 --force" in why) == (kernel is None and any(times[k] is not None for k in KERNELS))
    assert ("tagging in fp32" in why) == (kernel is None)


def test_probe_times_every_kernel_and_leaves_the_random_state_alone():
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    times = probe(48, 96, rows=8)
    assert torch.equal(torch.rand(3), expected)
    assert set(times) == {"fp32", *KERNELS} and all(t is None or 0 < t < 10 for t in times.values())


def test_kernels_agree_on_a_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 64), nn.GELU(), nn.Linear(64, 8))
    x = torch.randn(20, 32)
    outs = {}
    for kernel in KERNELS:
        quantized = quantize_int8(copy.deepcopy(model), kernel)
        assert {layer.kernel for layer in int8_layers(quantized)} == {kernel}
        outs[kernel] = quantized(x)
    assert relative_error(outs["qlinear"], outs["int_mm"]) < 0.05


AVX2_EPYC = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse sse2 avx fma avx2 sha_ni\n"
SAPPHIRE = "model name\t: Intel Xeon\nflags\t\t: avx2 fma avx512f avx512_vnni avx512_bf16 amx_tile\n"
GRAVITON = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes asimddp sve i8mm\n"


@pytest.mark.parametrize("cpuinfo, has, lacks", [
    (AVX2_EPYC, "AVX2, FMA;", "no AVX-512, AVX-512 VNNI, AVX-VNNI, AVX-512 BF16, AMX)"),
    (SAPPHIRE, "AVX2, FMA, AVX-512, AVX-512 VNNI, AVX-512 BF16, AMX;", "no AVX-VNNI)"),
    (GRAVITON, "NEON, NEON dot product, Arm I8MM, SVE)", None),
    ("", "instruction sets not known", None),
])
def test_cpu_description(cpuinfo, has, lacks):
    description = cpu_description(cpuinfo)
    assert has in description and (lacks is None or description.endswith(lacks))
    assert description.startswith({AVX2_EPYC: "AMD EPYC (", SAPPHIRE: "Intel Xeon ("}.get(cpuinfo, ""))
