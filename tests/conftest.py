import os
import sys

import pytest
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'support'))

import refcaffe  # noqa: E402  (needs the path above)


@pytest.fixture(scope='session')
def pycaffe():
    """Real BVLC pycaffe (scripts/build_pycaffe.sh builds it; scripts/test.sh
    does so before the tests), or a skip where it is not built."""
    if os.environ.get('FCN_NO_PYCAFFE') == '1':
        pytest.skip('FCN_NO_PYCAFFE=1: live comparisons with real Caffe are off')
    caffe = refcaffe.load()
    if caffe is None:
        pytest.skip('real pycaffe not built: run scripts/build_pycaffe.sh')
    return caffe


MEMORY_MODELS = ['unified', 'discrete'] + (['cuda'] if torch.cuda.is_available() else [])


@pytest.fixture(params=MEMORY_MODELS)
def memory(request, monkeypatch):
    """Each memory model in turn: the CPU's single buffer, the CPU run as a discrete
    device (separate host and device copies, moved as on a GPU), and a real GPU where
    torch sees one."""
    from torchcaffe.engine import blob
    import torchcaffe as caffe
    monkeypatch.setattr(blob, 'DISCRETE_CPU', request.param == 'discrete')
    if request.param == 'cuda':
        caffe.set_mode_gpu()
        request.addfinalizer(caffe.set_mode_cpu)
    return request.param
