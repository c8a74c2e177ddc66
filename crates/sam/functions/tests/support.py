"""Shared helpers of the Lambda function tests: loading each function's `app.py` by path and
finding the tools the tests need (a missing one fails the test, saying how to get it)."""

import importlib.util
import os
import shutil
import sys
import unittest
from pathlib import Path

FUNCTIONS = Path(__file__).resolve().parent.parent
REPO = FUNCTIONS.parent.parent.parent


def load(kind):
    """Imports `functions/<kind>/app.py` as module `pipec_fn_<kind>` (each function folder is
    its own Lambda package, so every file is named app.py)."""
    name = f"pipec_fn_{kind}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, FUNCTIONS / kind / "app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def require_module(test, name, what):
    """Fails `test` unless module `name` imports."""
    if importlib.util.find_spec(name) is None:
        test.fail(
            f"{name} is missing ({what}); run the suite with `bash scripts/sam_lambdas.sh`, "
            "which uses the venv of `bash scripts/pyenv.sh sam`"
        )


def pipec_bin(test):
    """The pipec binary (PIPEC_BIN, else the shared release build)."""
    path = os.environ.get("PIPEC_BIN") or str(Path.home() / ".cache/pipec/target/release/pipec")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        test.fail(
            f"pipec binary not found at {path}: build it with `CARGO_TARGET_DIR=$HOME/.cache/pipec/target "
            "cargo build --release -p pipec-cli` or set PIPEC_BIN"
        )
    return path


def postgres_url(test):
    """The local PostgreSQL of the tests (PIPEC_PG_URL, set by scripts/sam_lambdas.sh from
    `bash scripts/postgres.sh`)."""
    url = os.environ.get("PIPEC_PG_URL")
    if not url:
        test.fail("PIPEC_PG_URL is not set: run `bash scripts/postgres.sh` and export the URL it prints, or use `bash scripts/sam_lambdas.sh`")
    return url


def aws_env():
    """Fake credentials and a region for moto (no AWS account is reached)."""
    for k, v in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "ap-northeast-2",
    }.items():
        os.environ[k] = v
    os.environ.pop("AWS_PROFILE", None)


class TestCase(unittest.TestCase):
    """A test case with the helpers above."""

    maxDiff = None

    def which(self, tool, how):
        """The path of `tool` or a failure saying `how` to install it."""
        path = shutil.which(tool)
        if not path:
            self.fail(f"{tool} not found: {how}")
        return path
