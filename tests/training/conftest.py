"""Fixtures shared by the training tests."""

import pytest
import torch

from benchmark.data.dataset import open_dataset


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models run as fast on one thread, and one thread does not collapse when the CPU is oversubscribed."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def ds(tiny_root):
    return open_dataset(tiny_root, "synthetic")
