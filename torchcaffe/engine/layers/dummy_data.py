"""DummyData: tops of a given shape filled by fillers, constant ones only once."""
from ...proto import caffe_pb2
from ..fillers import fill
from ..layer import Layer, register


@register('DummyData')
class DummyData(Layer):
    exact_bottoms = 0
    min_tops = 1

    def layer_setup(self, bottom, top):
        p = self.param.dummy_data_param
        n = len(top)
        if len(p.data_filler) not in (0, 1, n):
            raise self.error('dummy_data_param needs 0, 1 or %d data_filler, got %d' % (n, len(p.data_filler)))
        fillers = list(p.data_filler) or [caffe_pb2.FillerParameter(type='constant', value=0)]
        self.fillers = [fillers[i if len(fillers) > 1 else 0] for i in range(n)]
        for t, shape in zip(top, self._shapes(p, n)):
            t.reshape(shape)
        # Caffe fills constant tops here and never again (a write to them stays)
        self.refill = [f.type != 'constant' for f in self.fillers]
        for t, f, again in zip(top, self.fillers, self.refill):
            if not again:
                fill(t, f, self)

    def _shapes(self, p, n):
        """The top shapes: ``shape`` or the legacy num/channels/height/width, once or per top."""
        legacy = ('num', 'channels', 'height', 'width')
        if any(len(getattr(p, f)) for f in legacy):
            if len(p.shape):
                raise self.error('dummy_data_param: give shape or num/channels/height/width, not both')
            for f in legacy:
                if len(getattr(p, f)) not in (1, n):
                    raise self.error('dummy_data_param: give %s once or once per top (%d), got %d'
                                     % (f, n, len(getattr(p, f))))
            return [tuple(getattr(p, f)[i if len(getattr(p, f)) > 1 else 0] for f in legacy)
                    for i in range(n)]
        if len(p.shape) not in (1, n):
            raise self.error('dummy_data_param: give shape once or once per top (%d), got %d' % (n, len(p.shape)))
        return [tuple(p.shape[i if len(p.shape) > 1 else 0].dim) for i in range(n)]

    def reshape(self, bottom, top):
        pass  # shapes are fixed at setup

    def forward(self, bottom, top):
        for t, f, again in zip(top, self.fillers, self.refill):
            if again:
                fill(t, f, self)
