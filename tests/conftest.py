import pytest


@pytest.fixture(scope="session")
def sd35_repo(tmp_path_factory):
    """A tiny SD3 pipeline saved in the real SD3.5 dtype layout (text encoders fp16, transformer bf16, VAE fp32)."""
    from forktools import standins  # imports torch: only the tests that use this fixture need it

    return standins.save_pipeline(str(tmp_path_factory.mktemp("sd35-tiny")))
