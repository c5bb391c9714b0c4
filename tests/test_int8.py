import pytest
import torch
from torch import nn

from arabic_ner.int8 import Int8Linear, fp32, quantize_int8


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


@pytest.mark.parametrize("shape, bias", [((1, 384), True), ((3, 7, 384), True), ((2, 5, 384), False),
                                         ((64, 384), True)])
def test_close_to_fp32(shape, bias):
    torch.manual_seed(0)
    linear = nn.Linear(384, 96, bias=bias)
    x = torch.randn(*shape)
    out = Int8Linear(linear)(x)
    assert out.shape == linear(x).shape and out.dtype == torch.float32
    assert relative_error(out, linear(x)) < 0.02


def test_small_weight_rows_keep_their_precision():
    # One scale per output channel: rows 1000x smaller than others keep their own precision
    # (with one scale for the whole matrix they would round to zero).
    torch.manual_seed(0)
    linear = nn.Linear(384, 64)
    with torch.no_grad():
        linear.weight *= torch.logspace(-3, 0, 64)[:, None]
        linear.bias.zero_()
    x = torch.randn(16, 384)
    small = slice(0, 8)
    assert relative_error(Int8Linear(linear)(x)[:, small], linear(x)[:, small]) < 0.02


def test_one_loud_token_costs_the_others_nothing():
    # Per-token scales: a token with huge activations in the batch must not coarsen the others'
    # quantization (a single per-batch scale would: their error grows ~1000x here).
    torch.manual_seed(0)
    linear = nn.Linear(384, 96)
    quiet = torch.randn(8, 384)
    loud = torch.cat([quiet, 1000 * torch.randn(1, 384)])
    layer = Int8Linear(linear)
    assert torch.equal(layer(loud)[:8], layer(quiet))
    assert relative_error(layer(loud)[:8], linear(quiet)) < 0.02


def test_quantize_replaces_every_linear():
    model = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Sequential(nn.Linear(16, 4)), nn.LayerNorm(4))
    x = torch.randn(5, 8)
    expected = model(x)
    quantize_int8(model)
    assert sum(isinstance(m, Int8Linear) for m in model.modules()) == 2
    assert not any(isinstance(m, nn.Linear) for m in [model[0], *model[2]])  # the fp32 ones only inside
    assert relative_error(model(x), expected) < 0.05


def test_fp32_context_restores_the_exact_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 4))
    x = torch.randn(5, 8)
    expected = model(x)
    quantize_int8(model)
    int8_out = model(x)
    assert not torch.equal(int8_out, expected)
    with fp32(model):
        assert torch.equal(model(x), expected)
    assert torch.equal(model(x), int8_out)
