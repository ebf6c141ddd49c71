import math

import pytest
import torch

from landmarks.engine.losses import NEGATIVE, OutlierExposureLoss, SmoothedNLLLoss


def test_labelled_rows_get_the_base_loss_and_negatives_the_uniform_target() -> None:
    log_probs = torch.log_softmax(torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0], [5.0, 0.0, 0.0]]), dim=1)
    target = torch.tensor([0, NEGATIVE, NEGATIVE])
    loss = OutlierExposureLoss(SmoothedNLLLoss(), weight=0.5)(log_probs, target)
    base = -log_probs[0, 0]
    oe = -log_probs[1:].mean(dim=1).mean()
    assert float(loss) == pytest.approx(float(base + 0.5 * oe))
    # The uniform prediction is the best a negative can get: its cross-entropy is log(C).
    assert float(-log_probs[1].mean()) == pytest.approx(math.log(3))
    assert float(-log_probs[2].mean()) > math.log(3)


def test_a_batch_of_negatives_only_or_labelled_only() -> None:
    log_probs = torch.log_softmax(torch.randn(4, 5), dim=1)
    labelled = torch.tensor([0, 1, 2, 3])
    base = SmoothedNLLLoss(0.1)
    assert torch.equal(OutlierExposureLoss(base, 1.0)(log_probs, labelled), base(log_probs, labelled))
    only_negatives = OutlierExposureLoss(base, 1.0)(log_probs, torch.full((4,), NEGATIVE))
    assert float(only_negatives) == pytest.approx(float(-log_probs.mean(dim=1).mean()))


def test_training_on_negatives_flattens_their_predictions() -> None:
    torch.manual_seed(0)
    known = torch.randn(64, 8) + torch.tensor([3.0] + [0.0] * 7)
    labels = (known[:, 1] > 0).long()
    negatives = torch.randn(32, 8) - torch.tensor([3.0] + [0.0] * 7)
    x, y = torch.cat([known, negatives]), torch.cat([labels, torch.full((32,), NEGATIVE)])

    def train(weight: float) -> float:
        torch.manual_seed(1)
        head = torch.nn.Sequential(torch.nn.Linear(8, 2), torch.nn.LogSoftmax(dim=1))
        opt = torch.optim.Adam(head.parameters(), lr=0.05)
        loss_fn = OutlierExposureLoss(SmoothedNLLLoss(), weight)
        for _ in range(200):
            opt.zero_grad()
            loss_fn(head(x), y).backward()
            opt.step()
        return float(head(negatives).detach().exp().max(dim=1).values.mean())

    assert train(1.0) < 0.75 < train(0.0)


def test_negative_weight_is_refused() -> None:
    with pytest.raises(ValueError):
        OutlierExposureLoss(SmoothedNLLLoss(), -1.0)
