import pytest
import timm
import torch

import cream  # noqa: F401  (registers the models)
from cream.errors import CreamError
from cream.space.flops import count_macs, count_params

# name: (parameters in millions, multiply-adds in millions), from the paper
PAPER_SIZES = {
    "cream_14": (2.69, 14), "cream_43": (4.40, 43), "cream_114": (4.42, 114),
    "cream_287": (6.05, 287), "cream_481": (7.71, 481), "cream_604": (9.70, 604),
}


@pytest.mark.parametrize("name", list(PAPER_SIZES))
def test_paper_models_have_the_papers_sizes(name):
    params, macs = PAPER_SIZES[name]
    model = timm.create_model(name).eval()
    side = model.pretrained_cfg["input_size"][-1]
    assert count_params(model) == pytest.approx(params, rel=0.02)
    assert count_macs(model, torch.zeros(1, 3, side, side)) == pytest.approx(macs, rel=0.05)


def test_create_model_takes_timm_options():
    model = timm.create_model("cream_14", num_classes=10, in_chans=1, drop_rate=0.2)
    assert model(torch.randn(2, 1, 64, 64)).shape == (2, 10)
    assert model.drop_rate == 0.2


def test_pretrained_weights_cannot_be_downloaded():
    with pytest.raises(CreamError, match="no downloadable weights"):
        timm.create_model("cream_14", pretrained=True)
