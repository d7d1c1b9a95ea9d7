"""Settings from the environment: defaults, ranges, the variants file, clear refusals."""
import json

import pytest

import harness  # noqa: F401  (puts examples/service on the path)
from inpaint_service.config import ConfigError, from_environment


def test_defaults_and_overrides():
    settings = from_environment({"BLOB_ROOT": "/srv/blobs"})
    assert settings.fill_spec == "patchmatch" and settings.routes == ("fill", "segment", "background")
    assert (settings.fill.concurrency, settings.fill.queue) == (2, 32)
    assert settings.session_lease_s == settings.fill_deadline_s + 60
    settings = from_environment({"BLOB_ROOT": "b", "MODEL_SPEC": "telea", "FILL_CONCURRENCY": "4", "FILL_QUEUE": "0",
                                 "SERVICE_ROUTES": " segment ,background", "FILL_DEADLINE_S": "2.5"})
    assert settings.fill_spec == "telea" and settings.fill.concurrency == 4 and settings.fill.queue == 0
    assert settings.routes == ("segment", "background") and settings.fill_deadline_s == 2.5


@pytest.mark.parametrize("env, message", [
    ({}, "BLOB_ROOT"),
    ({"FILL_QUEUE": "many"}, "FILL_QUEUE='many' is not an integer"),
    ({"FILL_CONCURRENCY": "0"}, "FILL_CONCURRENCY=0 is outside [1, 256]"),
    ({"BODY_TIMEOUT_S": "soon"}, "BODY_TIMEOUT_S='soon' is not a number"),
    ({"SERVICE_ROUTES": "fill,video"}, "unknown video"),
    ({"MODEL_VARIANT": "quick"}, "INPAINT_MODEL_VARIANTS"),
])
def test_a_bad_setting_is_refused_with_its_name(env, message):
    if env:
        env = {"BLOB_ROOT": "b", **env}
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        from_environment(env)


def test_model_variants_file(tmp_path):
    variants = tmp_path / "variants.json"
    variants.write_text(json.dumps({"quick": "telea", "exemplar": "patchmatch:patch=9"}))
    env = {"BLOB_ROOT": "b", "INPAINT_MODEL_VARIANTS": str(variants)}
    assert from_environment({**env, "MODEL_VARIANT": "exemplar"}).fill_spec == "patchmatch:patch=9"
    with pytest.raises(ConfigError, match="known: exemplar, quick"):
        from_environment({**env, "MODEL_VARIANT": "lama"})
    variants.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="JSON object of name -> spec"):
        from_environment({**env, "MODEL_VARIANT": "quick"})
    with pytest.raises(ConfigError, match="No such file"):
        from_environment({**env, "MODEL_VARIANT": "quick", "INPAINT_MODEL_VARIANTS": str(tmp_path / "none.json")})
