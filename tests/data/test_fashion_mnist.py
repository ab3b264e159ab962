import numpy as np
import pytest

from cream.data.fashion_mnist import load_fashion_mnist, read_idx
from cream.errors import CreamError
from tests.conftest import FASHION_MNIST, write_idx


def test_reads_gzip_and_plain_idx_and_torchvision_raw_layout(tmp_path, tiny_fashion_mnist):
    data = load_fashion_mnist(tiny_fashion_mnist)
    assert data["train_images"].shape == (300, 1, 28, 28) and data["test_labels"].shape == (100,)
    raw = tmp_path / "tv" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for f in tiny_fashion_mnist.glob("*.gz"):
        import gzip

        (raw / f.stem).write_bytes(gzip.decompress(f.read_bytes()))
    plain = load_fashion_mnist(tmp_path / "tv")
    assert (plain["train_images"] == data["train_images"]).all()


@pytest.mark.skipif(not FASHION_MNIST.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_reads_the_installed_dataset():
    data = load_fashion_mnist(FASHION_MNIST)
    assert data["train_images"].shape == (60000, 1, 28, 28) and data["test_images"].shape == (10000, 1, 28, 28)
    assert sorted(data["train_labels"].unique().tolist()) == list(range(10))


def test_wrong_magic_truncated_and_missing_files_are_clear_errors(tmp_path):
    path = tmp_path / "x.gz"
    write_idx(path, np.zeros((2, 28, 28)), 2049)
    with pytest.raises(CreamError, match="magic 2049, expected 2051"):
        read_idx(path, 2051)
    write_idx(path, np.zeros((2, 28, 28)), 2051)
    import gzip

    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-10]))
    with pytest.raises(CreamError, match="truncated or corrupt"):
        read_idx(path, 2051)
    path.write_bytes(b"not gzip at all")
    with pytest.raises(CreamError, match="cannot read"):
        read_idx(path, 2051)
    with pytest.raises(CreamError, match="does not exist.*apt-get install -y dataset-fashion-mnist"):
        load_fashion_mnist(tmp_path / "nowhere")
    with pytest.raises(CreamError, match="train-images-idx3-ubyte.*missing"):
        load_fashion_mnist(tmp_path)
