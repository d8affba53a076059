import pytest

from forktools import standins


@pytest.fixture(scope="session")
def sd35_repo(tmp_path_factory):
    """A tiny SD3 pipeline saved in the real SD3.5 dtype layout (text encoders fp16, transformer bf16, VAE fp32)."""
    return standins.save_pipeline(str(tmp_path_factory.mktemp("sd35-tiny")))
