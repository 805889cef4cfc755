"""The cases of tests/golden_pycaffe, computed by the reference pycaffe: forward
within 1e-5, backward within 1e-4, the same diffs left uncomputed."""
import pytest

import torchcaffe as caffe
import golden


@pytest.mark.parametrize('case', golden.pycaffe_cases())
def test_pycaffe_case(case, monkeypatch):
    monkeypatch.chdir(golden.path(case))  # file paths in a prototxt are relative to its case, as generate.py runs them
    golden.run_case(caffe, case, data_tol=1e-5, diff_tol=1e-4)
