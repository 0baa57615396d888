"""The policy's rules without a component: `pytest examples/plugins/allowed-registries/python`.

The cases come from ../testdata/cases.json, shared with the other languages.
"""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import policy  # noqa: E402

CASES = json.loads((Path(__file__).resolve().parent.parent / "testdata" / "cases.json").read_text())
REGISTRIES = CASES["config"]["registries"]


@pytest.mark.parametrize("image,registry", CASES["images"])
def test_image_registry(image, registry):
    assert policy.image_registry(image) == registry


@pytest.mark.parametrize("case", CASES["init"], ids=lambda c: c["config"])
def test_parse_config(case):
    if case["ok"]:
        assert policy.parse_config(case["config"]) == json.loads(case["config"])["registries"]
    else:
        with pytest.raises(policy.ConfigError) as e:
            policy.parse_config(case["config"])
        # Every message shows what a good config looks like.
        assert '{"registries": [' in str(e.value)


def _object_text(case):
    if "objectText" in case:
        return case["objectText"]
    if "object" in case:
        return json.dumps(case["object"])
    return None


@pytest.mark.parametrize("case", CASES["validate"], ids=lambda c: c["name"])
def test_check(case):
    args = (case["kind"], case["operation"], _object_text(case), REGISTRIES)
    if "error" in case:
        assert case["error"] == "invalid-input"
        with pytest.raises(policy.InputError):
            policy.check(*args)
        return
    message = policy.check(*args)
    assert (message is None) == case["allowed"]
    assert message == case["message"]


def test_config_messages():
    with pytest.raises(policy.ConfigError, match='no "registries"'):
        policy.parse_config("{}")
    with pytest.raises(policy.ConfigError, match="is empty"):
        policy.parse_config('{"registries": []}')
    with pytest.raises(policy.ConfigError, match="must be a list of strings"):
        policy.parse_config('{"registries": [1]}')


def test_input_messages():
    with pytest.raises(policy.InputError, match="^the CREATE request carries no object$"):
        policy.check("Pod", "create", None, REGISTRIES)
    with pytest.raises(policy.InputError, match="^request.object is not a valid Pod: not a JSON object$"):
        policy.check("Pod", "update", "[]", REGISTRIES)
