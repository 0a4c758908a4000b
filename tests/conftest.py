import shutil

import pytest

from hw.toolchain import setup_env

setup_env()


def require(tool):
    """Fail (not skip) when a tool the suite depends on is missing: `make setup` installs it."""
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is not installed: run `make setup`")
