import os
import sys

import pytest


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "utils"))


@pytest.fixture(scope="session")
def sd35_repo(tmp_path_factory):
    """A tiny SD3 pipeline saved in the real SD3.5 dtype layout (text encoders fp16, transformer bf16, VAE fp32)."""
    import tiny_sd3

    return tiny_sd3.save_pipeline(str(tmp_path_factory.mktemp("sd35-tiny")))
