"""Build small valid contracts as plain data, to be mutated by each test."""

from __future__ import annotations

import copy
import io

from ruamel.yaml import YAML

SQL = "SELECT AVG(x) AS value, COUNT(*) AS n FROM t WHERE ts >= :window_start AND ts < :window_end"
SCORES_SQL = "SELECT score, label FROM t WHERE ts >= :window_start AND ts < :window_end"

BASE: dict = {
    "name": "checkout-assist",
    "channel": "C0CHECKOUT",
    "decision": "Suggest a delivery slot so shoppers finish checkout faster.",
    "autonomy": "assistant",
    "signers": {"pm": "U0PM", "eng": "U0ENG", "ds": "U0DS"},
    "business": {
        "positive": "slot the shopper keeps",
        "negative": "slot the shopper changes",
        "action": "suggest",
        "unit": "checkout",
        "weekly_volume": 10000,
        "cost_false_positive": 1.0,
        "cost_false_negative": 2.0,
    },
    "warehouse": "demo",
    "review_every_weeks": 8,
    "retirement": "Retire when shoppers change more than half of the suggested slots.",
    "metrics": [
        {"name": "checkout_completion", "layer": "business", "role": "north_star", "direction": "increase", "sql": SQL},
        {
            "name": "slot_change_rate",
            "layer": "product",
            "role": "guardrail",
            "direction": "decrease",
            "sql": SQL,
            "bound": {"max": 0.3},
        },
        {
            "name": "suggest_latency_p95",
            "layer": "product",
            "role": "efficiency",
            "direction": "decrease",
            "sql": SQL,
            "bound": {"max": 200},
        },
    ],
}


def contract_data(**overrides) -> dict:
    data = copy.deepcopy(BASE)
    data.update(copy.deepcopy(overrides))
    return data


def metric(name: str, **fields) -> dict:
    base = {"name": name, "layer": "product", "role": "diagnostic", "direction": "increase", "sql": SQL}
    base.update(fields)
    return base


def to_yaml(data: dict) -> str:
    out = io.StringIO()
    YAML().dump(data, out)
    return out.getvalue()
