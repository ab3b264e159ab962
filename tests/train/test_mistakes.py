import numpy as np
import torch

from cream.train.mistakes import Mistakes


def test_the_confusion_matrix_counts_true_against_predicted_and_the_most_confident_mistakes_are_kept():
    rng = np.random.default_rng(0)
    mistakes = Mistakes(num_classes=4, keep=5)
    seen = []
    for _ in range(3):  # three batches of 8 images of 3 x 40 x 40
        logits = torch.tensor(rng.normal(size=(8, 4)) * 3, dtype=torch.float32)
        y = torch.tensor(rng.integers(0, 4, 8))
        x = torch.tensor(rng.normal(size=(8, 3, 40, 40)), dtype=torch.float32)
        mistakes.observe(x, y, logits)
        seen += [(int(t), int(row.argmax()), float(row.softmax(0).max())) for t, row in zip(y, logits)]
    expected = np.zeros((4, 4), int)
    for true, predicted, _ in seen:
        expected[true, predicted] += 1
    assert mistakes.confusion.tolist() == expected.tolist()
    wrong = sorted((c for t, p, c in seen if t != p), reverse=True)[:5]
    assert [m[0] for m in mistakes.found] == wrong
    assert all(m[3].shape == (40, 40, 3) and m[3].dtype == np.uint8 and m[3].min() == 0 and m[3].max() == 255
               for m in mistakes.found)  # each thumbnail stretched to its own range
    per_class = mistakes.per_class(["a", "b", "c", "d"])
    assert [c["top1"] for c in per_class] == [100 * expected[c, c] / max(expected[c].sum(), 1) for c in range(4)]


def test_large_images_are_kept_as_small_thumbnails(tmp_path):
    mistakes = Mistakes(num_classes=2, keep=3)
    mistakes.observe(torch.rand(2, 3, 224, 224), torch.tensor([0, 1]), torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
    mistakes.save(tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as saved:
        assert saved["images"].shape == (2, 64, 64, 3) and saved["label"].tolist() == [0, 1]
        assert saved["predicted"].tolist() == [1, 0]
