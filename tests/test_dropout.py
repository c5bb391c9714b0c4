"""dropout.py: nn.Dropout's behaviour with a cheaper mask, and its place in a trained model."""
from __future__ import annotations

import pytest
import torch

from arabic_ner.dropout import Dropout, use_fast_dropout


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_each_element_is_dropped_with_probability_p_and_the_rest_scaled(p, dtype):
    torch.manual_seed(0)
    x = torch.rand(4001, 3).add(1.0).to(dtype)  # an odd count: the last 64-bit draw is only partly used
    y = Dropout(p).train()(x)
    dropped = y == 0
    # 12,003 elements: the drop rate within 5 standard deviations of p
    assert abs(dropped.float().mean().item() - p) < 5 * (p * (1 - p) / x.numel()) ** 0.5
    assert y.dtype == dtype and y.shape == x.shape
    assert torch.equal(y[~dropped], (x * (1.0 / (1.0 - p)))[~dropped])


def test_every_16_bits_of_a_draw_can_drop():
    """Each 64-bit draw serves four elements: drawn with random_() alone its top bit is always 0, and
    every fourth element would never be dropped."""
    torch.manual_seed(1)
    dropped = (Dropout(0.5).train()(torch.ones(40_000)) == 0).view(-1, 4).float().mean(dim=0)
    assert torch.all((dropped - 0.5).abs() < 0.03), dropped


def test_the_gradient_passes_where_kept_scaled_as_the_output():
    x = torch.ones(64, 32, requires_grad=True)
    y = Dropout(0.2).train()(x)
    y.sum().backward()
    assert torch.equal(x.grad, (y != 0).float() * (1.0 / 0.8))


def test_the_generator_decides_the_mask():
    x = torch.ones(1000)
    masks = []
    for seed in (3, 3, 4):
        torch.manual_seed(seed)
        masks.append(Dropout(0.1).train()(x) == 0)
    assert torch.equal(masks[0], masks[1]) and not torch.equal(masks[0], masks[2])


@pytest.mark.parametrize("p, training", [(0.1, False), (0.0, True)])
def test_eval_mode_and_p_0_change_nothing(p, training):
    x = torch.randn(8, 8)
    assert Dropout(p).train(training)(x) is x


@pytest.mark.parametrize("p", [-0.1, 1.0])
def test_a_probability_outside_0_1_is_refused(p):
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        Dropout(p)


def test_a_bert_gets_it_for_every_dropout_and_saves_the_same_weights(tiny_bert):
    from transformers import AutoModelForTokenClassification
    model = AutoModelForTokenClassification.from_pretrained(tiny_bert, num_labels=3)
    before = list(model.state_dict())
    native = [(name, m.p) for name, m in model.named_modules() if type(m) is torch.nn.Dropout]
    assert use_fast_dropout(model) == len(native) > 0
    assert [(name, m.p) for name, m in model.named_modules() if isinstance(m, Dropout)] == native
    assert not any(type(m) is torch.nn.Dropout for m in model.modules())
    assert list(model.state_dict()) == before
