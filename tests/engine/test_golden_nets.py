"""Every golden net case, in each memory model (conftest.memory): forward within
1e-4, backward within 1e-3 of real Caffe (blob diffs below MAX-pool ties are not
reproducible, see tests/golden/README.md)."""
import pytest

import torchcaffe as caffe
import golden


@pytest.mark.parametrize('case', golden.cases('net'))
def test_net_case(case, memory):
    golden.run_case(caffe, case, data_tol=1e-4, diff_tol=1e-3)
