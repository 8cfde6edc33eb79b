"""models.portable: the MKL-free replacements agree with the PyTorch functions they replace."""

import pytest
import torch
from torch import nn

from models import portable


def _ulps(a: torch.Tensor, b: torch.Tensor) -> int:
    ai, bi = a.contiguous().view(torch.int32).long(), b.contiguous().view(torch.int32).long()
    return int((ai - bi).abs().max())


def test_tanh_agrees_with_torch_to_a_few_ulps_and_keeps_sign_and_saturation():
    x = torch.cat([torch.randn(100_000, generator=torch.Generator().manual_seed(0)) * 3,
                   torch.tensor([0.0, -0.0, 1e-30, -1e-30, 1e-8, 20.0, -20.0, 100.0, -100.0])])
    y = portable.tanh(x)
    assert _ulps(y, torch.tanh(x)) <= 4
    assert torch.equal(torch.signbit(y), torch.signbit(x))
    assert y[-4:].tolist() == [1.0, -1.0, 1.0, -1.0]


def test_tanh_gradient_is_one_minus_tanh_squared_including_at_zero():
    x = torch.tensor([-2.0, -0.5, 0.0, 0.3, 4.0], requires_grad=True)
    portable.tanh(x).sum().backward()
    expected = 1 - torch.tanh(x.detach()) ** 2
    assert torch.allclose(x.grad, expected, rtol=0, atol=1e-6)  # 1 − y² cancels near saturation
    assert x.grad[2] == 1.0


@pytest.mark.parametrize("n", [1, 2, 512, 1023, 4096])
def test_hann_window_agrees_with_torch(n):
    w = portable.hann_window(n)
    ref = torch.hann_window(n)
    assert w.dtype == torch.float32 and w.shape == ref.shape
    assert torch.allclose(w, ref, rtol=0, atol=1e-6)  # torch rounds 2πk/n to float32 before its cos
    assert w[0] == 0.0 or n == 1


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU])
def test_bidirectional_rnn_equals_the_packed_torch_rnn(cls):
    torch.manual_seed(0)
    rnn = cls(7, 5, num_layers=1, batch_first=True, bidirectional=True)
    x = torch.randn(4, 6, 7)
    lengths = torch.tensor([6, 1, 3, 5])
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    ref, _ = nn.utils.rnn.pad_packed_sequence(rnn(packed)[0], batch_first=True, total_length=6)
    ours = portable.bidirectional_rnn(rnn, x, lengths)
    assert ours.shape == ref.shape
    assert torch.allclose(ours, ref, rtol=0, atol=1e-6)
    assert (ours[1, 1:] == 0).all() and (ours[2, 3:] == 0).all()


def test_bidirectional_rnn_refuses_what_it_does_not_compute():
    with pytest.raises(ValueError, match="one-layer, bidirectional, batch-first"):
        portable.bidirectional_rnn(nn.LSTM(3, 2, batch_first=True), torch.zeros(1, 2, 3), torch.tensor([2]))
