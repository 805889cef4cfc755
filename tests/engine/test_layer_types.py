"""Every BVLC layer type is implemented and pinned down by golden cases computed by
Caffe (tests/golden, tests/golden_pycaffe), except where the reference cannot run it."""
import os

import numpy as np

import torchcaffe as caffe
import golden

# Checked otherwise: the reference build has no OpenCV (tests/engine/test_data_layers.py
# compares these with OpenCV and Caffe's formulas); Python layers run live against the
# reference in tests/engine/test_refcaffe.py.
ELSEWHERE = {'ImageData', 'WindowData', 'Python'}


def golden_types():
    types = set()
    for root in (golden.ROOT, golden.PYCAFFE_ROOT):
        for case in os.listdir(root):
            path = os.path.join(root, case, 'golden.npz')
            if os.path.isfile(path):
                with np.load(path) as z:
                    if 'meta/layer_types' in z.files:
                        types.update(str(t) for t in np.atleast_1d(z['meta/layer_types']))
    return types


def test_every_type_of_the_reference_is_implemented(pycaffe):
    assert set(pycaffe.layer_type_list()) <= set(caffe.layer_type_list())


def test_every_type_has_golden_cases():
    assert sorted(set(caffe.layer_type_list()) - golden_types()) == sorted(ELSEWHERE)
