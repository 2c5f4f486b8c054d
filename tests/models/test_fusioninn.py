import numpy as np
import pytest
import torch

from fusioninn.models import FusionINN, FusionINNConfig, Latent


@pytest.mark.parametrize("config", [FusionINNConfig.paper(), FusionINNConfig.fast()], ids=["paper", "fast"])
@pytest.mark.parametrize("shape", [(240, 240), (64, 48), (2, 6)])
def test_round_trip_is_exact(config, shape):
    model = FusionINN(config)
    x = torch.rand(3, 2, *shape)
    y, z = model(x)
    assert y.shape == z.shape == (3, 1, *shape)
    assert (model.inverse(y, z) - x).abs().max() <= 1e-5


def test_published_parameter_count():
    assert FusionINN(FusionINNConfig.paper()).parameter_count() == 17_648


def test_fast_config_starts_as_a_pixel_rearrangement():
    # identity couplings and ActNorm: the outputs are the inputs' pixels, moved by the permutations
    # and the down/up-sampling pair, in logit space
    model = FusionINN(FusionINNConfig.fast())
    x = torch.rand(2, 2, 16, 16)
    y, z = model(x)
    back = model._unsqueeze(torch.cat([y, z], 1))
    assert torch.allclose(torch.sort(back.flatten())[0], torch.sort(x.flatten())[0], atol=1e-5)
    fused, _ = model.fuse_tensor(x)
    assert fused.min() >= 0 and fused.max() <= 1


def test_model_does_not_touch_numpy_global_rng():
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    FusionINN()
    assert np.random.rand() == expected


@pytest.mark.parametrize("bad", [(2, 3, 8, 8), (2, 2, 7, 8), (2, 8, 8)])
def test_bad_shapes_raise_value_error(bad):
    with pytest.raises(ValueError):
        FusionINN()(torch.rand(*bad))


def test_latent_tensor_round_trip():
    lat = Latent(z=torch.rand(2, 1, 4, 4), y_raw=torch.rand(2, 1, 4, 4))
    back = Latent.from_tensor(lat.to_tensor())
    assert torch.equal(back.z, lat.z) and torch.equal(back.y_raw, lat.y_raw)
    with pytest.raises(ValueError):
        Latent.from_tensor(torch.rand(2, 3, 4, 4))
