import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def pycaffe():
    """Real BVLC pycaffe (stand-in until the reference build lands)."""
    pytest.skip('real pycaffe not built: run scripts/build_pycaffe.sh')
