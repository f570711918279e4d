import json

import pytest
import torch

from retain.errors import BudgetError
from retain.budget import parameter_bytes
from retain.memory.ledger import Ledger


def test_record_totals_items_and_serialises():
    ledger = Ledger()
    entry = ledger.record(0, {"exemplars": 3000, "codec_header": 623, "model_extra_parameters": parameter_bytes(10)}, 5000, {0: 2, 1: 3})
    assert entry.total_bytes == 3663 and ledger.total_bytes == 3663
    data = ledger.to_dict()
    assert data == [
        {
            "task": 0,
            "items": {"exemplars": 3000, "codec_header": 623, "model_extra_parameters": 40},
            "total_bytes": 3663,
            "budget_bytes": 5000,
            "exemplars": 5,
            "exemplars_per_class": {"0": 2, "1": 3},
        }
    ]
    again = Ledger.from_dict(json.loads(json.dumps(data)))
    assert again.to_dict() == data and again.entries[0].exemplars_per_class == {0: 2, 1: 3}


def test_over_budget_names_task_total_budget_and_items():
    with pytest.raises(BudgetError) as info:
        Ledger().record(3, {"exemplars": 900, "teacher": 200}, 1000, {})
    message = str(info.value)
    for part in ("task 3", "1,100", "1,000", "exemplars=900", "teacher=200"):
        assert part in message


def test_state_dict_round_trip_through_torch_load(tmp_path):
    ledger = Ledger()
    ledger.record(0, {"exemplars": 10}, 20, {5: 1})
    ledger.record(1, {"exemplars": 15}, 20, {5: 1, 6: 1})
    torch.save(ledger.state_dict(), tmp_path / "ledger.pt")
    restored = Ledger()
    restored.load_state_dict(torch.load(tmp_path / "ledger.pt", weights_only=True))
    assert restored.to_dict() == ledger.to_dict() and restored.total_bytes == 15


def test_parameter_bytes_resnet32_is_603_52_cifar_images():
    # spec §10.0 item 5: 463 504 parameters = 1 854 016 bytes = 603.52 CIFAR images
    assert parameter_bytes(463_504) == 1_854_016
    assert round(parameter_bytes(463_504) / 3072, 2) == 603.52
