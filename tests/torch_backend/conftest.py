import pytest
import torch

# The CI machine has 2 cores shared by several jobs: one intra-op thread is much faster
# there than two contending ones (the subprocess tests pass OMP_NUM_THREADS=1 themselves).
torch.set_num_threads(1)


@pytest.fixture
def tmp_cifar10(tmp_path):
    """A CIFAR-10 directory in the real python pickle format: 8 train and 4 test images."""
    from tests.torch_backend.fake_data import write_cifar10

    return write_cifar10(tmp_path / "data", n_train=8, n_test=4)
