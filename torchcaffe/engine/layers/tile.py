"""Tile: repeat the blob ``tiles`` times along ``axis`` (whole blocks from that axis on)."""
from ..layer import Layer, register, count


@register('Tile')
class Tile(Layer):
    exact_bottoms = 1
    exact_tops = 1

    def reshape(self, bottom, top):
        p = self.param.tile_param
        shape = list(bottom[0].shape)
        self.axis = self.canonical_axis(p.axis, len(shape))
        if not p.HasField('tiles'):
            raise self.error('tiles must be specified')
        if p.tiles <= 0:
            raise self.error('tiles must be positive, got %d' % p.tiles)
        self.tiles = p.tiles
        self.outer, self.inner = count(shape, 0, self.axis), count(shape, self.axis)
        shape[self.axis] *= self.tiles
        top[0].reshape(tuple(shape))

    def forward(self, bottom, top):
        x = bottom[0].tdata.reshape(self.outer, 1, self.inner)
        top[0].tdata = x.expand(self.outer, self.tiles, self.inner).reshape(top[0].shape)

    def backward(self, top, propagate_down, bottom):
        if propagate_down[0]:
            g = top[0].tdiff.reshape(self.outer, self.tiles, self.inner)
            bottom[0].tdiff = g.sum(1).reshape(bottom[0].shape)
