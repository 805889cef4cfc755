"""Every golden layer case: forward within 1e-5, backward within 1e-4 of real Caffe,
and the same diffs left uncomputed."""
import pytest

import torchcaffe as caffe
import golden

# Cases checked elsewhere: statistics-only (TRAIN-phase dropout uses Caffe's RNG).
SPECIAL = {'dropout_train_stats'}


@pytest.mark.parametrize('case', [c for c in golden.cases('layer') if c not in SPECIAL])
def test_layer_case(case):
    golden.run_case(caffe, case, data_tol=1e-5, diff_tol=1e-4)
