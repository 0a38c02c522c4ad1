from pathlib import Path

import pytest

from metrics.contract import Contract, contract_fingerprint, parse_contract
from metrics.errors import ContractSyntaxError, ContractValidationError
from tests.metrics.contract_factory import SQL, contract_data, metric, to_yaml

EXAMPLES = sorted(Path(__file__).resolve().parents[2].joinpath("examples", "contracts").glob("*.yml"))


def test_examples_cover_the_four_reference_features():
    names = {p.stem for p in EXAMPLES}
    assert {"fraud-screening", "support-deflection", "recommendations", "wake-word"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_parses(path):
    contract = parse_contract(path.read_text(), source=path.name)
    assert contract.name == path.stem
    assert contract.north_star is not None


def test_fraud_example_carries_business_terms():
    contract = parse_contract((EXAMPLES[0].parent / "fraud-screening.yml").read_text())
    assert contract.autonomy.value == "agent"
    assert contract.business.acted == "blocked"
    assert contract.business.cost_false_positive == 15
    assert contract.metric("premium_false_positive_rate").bound.max == 0.02


def test_malformed_yaml_names_file_and_line():
    text = "name: x\nchannel: [unclosed\ndecision: y\n"
    with pytest.raises(ContractSyntaxError, match=r"^broken\.yml:\d+: invalid YAML"):
        parse_contract(text, source="broken.yml")


def test_unknown_field_names_line_and_path():
    data = contract_data()
    data["metrics"][1]["bound"] = {"maxx": 0.3}
    text = to_yaml(data)
    with pytest.raises(ContractValidationError) as info:
        parse_contract(text, source="c.yml")
    message = str(info.value)
    assert "metrics[1].bound.maxx: unknown field" in message
    line = next(i for i, l in enumerate(text.splitlines(), 1) if "maxx" in l)
    assert f"c.yml:{line}:" in message


def test_wrong_type_is_reported_with_field():
    data = contract_data()
    data["business"]["weekly_volume"] = "lots"
    with pytest.raises(ContractValidationError, match=r"business\.weekly_volume: .*number"):
        parse_contract(to_yaml(data), source="c.yml")


def test_duplicate_metric_name_is_refused():
    data = contract_data()
    data["metrics"].append(metric("checkout_completion"))
    with pytest.raises(ContractValidationError, match="duplicate metric name 'checkout_completion'"):
        parse_contract(to_yaml(data))


def test_duplicate_yaml_key_is_refused():
    text = to_yaml(contract_data()) + "name: other\n"
    with pytest.raises(ContractSyntaxError, match="invalid YAML"):
        parse_contract(text)


@pytest.mark.parametrize("missing", ["window_start", "window_end"])
def test_missing_sql_parameter_is_named(missing):
    data = contract_data()
    data["metrics"][0]["sql"] = SQL.replace(f":{missing}", "'2026-01-01'")
    with pytest.raises(ContractValidationError, match=rf"metrics\[0\]\.sql: SQL must use the window parameters :{missing}"):
        parse_contract(to_yaml(data))


def test_ratio_bound_needs_a_known_baseline():
    data = contract_data()
    data["metrics"][1]["bound"] = {"max_ratio_to_baseline": 1.5, "baseline": "launch"}
    with pytest.raises(ContractValidationError, match="baseline 'launch' is not defined"):
        parse_contract(to_yaml(data))
    data["baselines"] = {"launch": {"start": "2026-01-01", "end": "2026-02-01"}}
    assert parse_contract(to_yaml(data)).metric("slot_change_rate").bound.baseline == "launch"


def test_signer_must_be_a_slack_user_id():
    data = contract_data(signers={"pm": "alice"})
    with pytest.raises(ContractValidationError, match="not a Slack user id"):
        parse_contract(to_yaml(data))


def test_bound_limits_combine_absolute_and_ratio():
    data = contract_data()
    data["metrics"][1]["bound"] = {"max": 0.3, "max_ratio_to_baseline": 1.5, "baseline": 0.1}
    bound = parse_contract(to_yaml(data)).metric("slot_change_rate").bound
    assert bound.limits(0.1) == (None, pytest.approx(0.15))
    assert bound.limits(0.4) == (None, 0.3)


def test_fingerprint_ignores_formatting_and_comments():
    data = contract_data()
    a = parse_contract(to_yaml(data))
    b = parse_contract("# a comment\n" + to_yaml(data).replace("name: checkout-assist", "name:    checkout-assist"))
    assert contract_fingerprint(a) == contract_fingerprint(b)
    data["decision"] = "Something else."
    assert contract_fingerprint(parse_contract(to_yaml(data))) != contract_fingerprint(a)


def test_contract_is_immutable():
    contract = Contract.model_validate(contract_data())
    with pytest.raises(Exception):
        contract.name = "other"  # type: ignore[misc]


def test_nested_aliases_are_refused_before_they_expand():
    # Nine levels of ten aliases each would expand to a billion values ("billion laughs").
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        previous, current = chr(ord("a") + level - 1), chr(ord("a") + level)
        lines.append(f"{current}: &{current} [" + ", ".join([f"*{previous}"] * 10) + "]")
    with pytest.raises(ContractValidationError, match=r"bomb\.yml: the contract expands to more than 50,000 values; check for YAML aliases"):
        parse_contract("\n".join(lines) + "\nname: x\n", source="bomb.yml")


def test_a_few_aliases_are_fine():
    # One SQL anchored on the first metric and reused by the other two.
    first, *others = to_yaml(contract_data()).split("  sql: ")
    text = first + "  sql: &shared " + others[0] + "".join("  sql: *shared\n" + o.split("\n", 2)[2] for o in others[1:])
    assert text.count("*shared") == 2
    contract = parse_contract(text)
    assert {m.sql for m in contract.metrics} == {SQL}


@pytest.mark.parametrize("document", [
    "name: x\nmetrics: " + "[" * 3000 + "]" * 3000,
    "name: x\nmetrics: " + "{b: " * 3000 + "1" + "}" * 3000,
    "name: x\nmetrics:\n" + "- " * 3000 + "x",
])
def test_deeply_nested_yaml_is_refused_before_it_is_parsed(document):
    # Parsing recurses per level; thousands of levels can overflow the interpreter's stack, which
    # kills the whole process rather than raising.
    with pytest.raises(ContractSyntaxError, match=r"deep\.yml:[23]: invalid YAML: lists or mappings nested more than 64 levels deep"):
        parse_contract(document, source="deep.yml")


def test_nesting_up_to_the_limit_parses():
    with pytest.raises(ContractValidationError):  # parsed, then refused by the schema, not the parser
        parse_contract("name: x\nmetrics: " + "[" * 60 + "]" * 60 + "\n")


def test_an_integer_too_long_to_convert_is_a_syntax_error():
    with pytest.raises(ContractSyntaxError, match=r"long\.yml: invalid YAML: Exceeds the limit"):
        parse_contract("name: x\nweekly_volume: " + "9" * 10_000 + "\n", source="long.yml")
