"""Where the downloaded test models live (scripts/get-test-models.sh): the same rule as the script.

The models are AGPL and stay outside the repository. A test that needs them skips when they are
missing, unless INPAINT_REQUIRE_TEST_MODELS=1 (CI), where a missing model is a failure.
"""
import os
from pathlib import Path

import pytest


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("INPAINT_MODEL_CACHE") or Path(base) / "libinpaint")


def node_modules() -> Path:
    return Path(os.environ.get("INPAINT_NODE_MODULES") or cache_dir() / "node" / "node_modules")


def require(*paths: Path) -> None:
    """Skips (or fails, with INPAINT_REQUIRE_TEST_MODELS=1) unless every path exists.

    INPAINT_SKIP_REAL_MODELS=1 skips regardless (scripts/sanitize.sh: node would inherit the
    preloaded ASan runtime; scripts/test.sh runs these tests)."""
    if os.environ.get("INPAINT_SKIP_REAL_MODELS") == "1":
        pytest.skip("INPAINT_SKIP_REAL_MODELS=1")
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        message = f"test models missing (run scripts/get-test-models.sh): {', '.join(missing)}"
        if os.environ.get("INPAINT_REQUIRE_TEST_MODELS") == "1":
            pytest.fail(message)
        pytest.skip(message)
