"""What Caffe's data layers share: no bottoms, a data top and an optional label top,
a batch made on the host each forward pass and handed to the device."""
import numpy as np
import torch

from ..layer import Layer
from ..transformer import Transformer


class BaseData(Layer):
    exact_bottoms = 0
    min_tops = 1
    max_tops = 2

    def layer_setup(self, bottom, top):
        self.transformer = Transformer(self, self.param.transform_param, self.phase)
        self.data_setup(top)

    def data_setup(self, top):
        """Read the layer's parameters and give the tops the shape of a batch."""
        raise NotImplementedError

    def load_batch(self):
        """The next batch: (float32 data array, float32 labels)."""
        raise NotImplementedError

    def reshape(self, bottom, top):
        pass  # forward gives the tops the shape of each batch

    def forward(self, bottom, top):
        data, labels = self.load_batch()
        put(top[0], data, self.device)
        if len(top) > 1:
            put(top[1], labels, self.device)


def put(blob, array, device):
    """Make ``blob`` hold the host ``array`` (its shape too), on ``device``."""
    blob.reshape(array.shape)
    blob.tdata = torch.from_numpy(np.ascontiguousarray(array, np.float32)).to(device)
