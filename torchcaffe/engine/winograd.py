"""3x3, stride-1 convolutions by Winograd's minimal filtering F(4x4, 3x3).

Lavin and Gray (2016): cut the output into 4 x 4 tiles; the 6 x 6 input window of a
tile and the 3 x 3 kernel are transformed (``B^T d B``, ``G g G^T``), multiplied
element by element, summed over input channels, and transformed back (``A^T m A``).
Summed over channels, the 36 element-wise products are 36 matrix products, with
36/144 = a quarter of a direct convolution's multiplications. The transforms are
linear, so the backward is their adjoints: the input gradient is the same
convolution of the output diff with the flipped, transposed kernel, and the weight
gradient is ``G^T (sum over tiles of V^T dM) G``. Results differ from a direct
convolution by rounding only (a few 1e-6 of the output's largest value in float32).

Maps are NCHW tensors stored channels_last. Everything is computed in strips of tile
rows, so each strip's transformed tiles stay in cache: on a CPU with slow memory
the transforms would otherwise cost more than the products save.
"""
import torch
import torch.nn.functional as F

TILE, WINDOW = 4, 6  # output tile, input window (TILE + kernel - 1)
_BT = ((4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0),
       (0, -2, -1, 2, 1, 0), (0, 2, -1, -2, 1, 0), (0, 4, 0, -5, 0, 1))
_G = ((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6),
      (1 / 24, 1 / 12, 1 / 6), (1 / 24, -1 / 12, 1 / 6), (0, 0, 1))
_AT = ((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1))
# transformed tiles per strip: about 4 MB, and at least 256 tiles to keep the products efficient
STRIP_BYTES, MIN_TILES = 4 << 20, 256


# The transforms along one axis, as sums of whole slabs with shared terms (the
# matrices above, spelled out): 5 to 7 times faster than matrix products with an
# inner size of 6 or 3, which run far below the CPU's rate (bench/README).
def _bt(d):
    """``B^T`` along ``d``'s first axis: 6 -> 6."""
    d0, d1, d2, d3, d4, d5 = d
    r = d.new_empty(d.shape)
    e, a, b = d4 - d2, d1 + d2, d3 + d4
    torch.add(b, a, alpha=-4, out=r[1])
    torch.sub(d1, d2, out=a)
    torch.sub(d4, d3, out=b)
    torch.add(b, a, alpha=4, out=r[2])
    torch.sub(d3, d1, out=a)
    torch.add(e, a, alpha=2, out=r[3])
    torch.add(e, a, alpha=-2, out=r[4])
    torch.add(d4, d0, alpha=4, out=r[0]).add_(d2, alpha=-5)
    torch.add(d5, d1, alpha=4, out=r[5]).add_(d3, alpha=-5)
    return r


def _at(m, out=None):
    """``A^T`` along ``m``'s first axis: 6 -> 4 (into ``out`` when given)."""
    m0, m1, m2, m3, m4, m5 = m
    y = m.new_empty((TILE,) + m.shape[1:]) if out is None else out
    s12, d12, s34, d34 = m1 + m2, m1 - m2, m3 + m4, m3 - m4
    torch.add(m0, s12, out=y[0]).add_(s34)
    torch.add(d12, d34, alpha=2, out=y[1])
    torch.add(s12, s34, alpha=4, out=y[2])
    torch.add(d12, d34, alpha=8, out=y[3]).add_(m5)
    return y


def _a(g):
    """``A`` (the adjoint of ``A^T``) along ``g``'s first axis: 4 -> 6."""
    g0, g1, g2, g3 = g
    r = g.new_empty((WINDOW,) + g.shape[1:])
    r[0], r[5] = g0, g3
    p, q = g0 + g2, g1 + g3
    torch.add(p, q, out=r[1])
    torch.sub(p, q, out=r[2])
    torch.add(g0, g2, alpha=4, out=p)
    torch.add(g1, g3, alpha=4, out=q)
    torch.add(p, q, alpha=2, out=r[3])
    torch.add(p, q, alpha=-2, out=r[4])
    return r


def _g(g):
    """``G`` along the 3 slabs ``g``: 3 -> 6."""
    g0, g1, g2 = g
    r = g0.new_empty((WINDOW,) + g0.shape)
    torch.mul(g0, 1 / 4, out=r[0])
    r[5] = g2
    s = g0 + g2
    torch.add(s, g1, out=r[1]).mul_(-1 / 6)
    torch.sub(s, g1, out=r[2]).mul_(-1 / 6)
    torch.mul(g0, 1 / 24, out=s).add_(g2, alpha=1 / 6)
    q = g1 * (1 / 12)
    torch.add(s, q, out=r[3])
    torch.sub(s, q, out=r[4])
    return r


def _gt(d, out=None):
    """``G^T`` (the adjoint of ``G``) along the 6 slabs ``d``: 6 -> 3 (into ``out`` when given)."""
    d0, d1, d2, d3, d4, d5 = d
    r = d0.new_empty((3,) + d0.shape) if out is None else out
    s12, d12, s34, d34 = d1 + d2, d2 - d1, d3 + d4, d3 - d4
    torch.mul(d0, 1 / 4, out=r[0]).add_(s12, alpha=-1 / 6).add_(s34, alpha=1 / 24)
    torch.mul(d12, 1 / 6, out=r[1]).add_(d34, alpha=1 / 12)
    torch.sub(s34, s12, out=r[2]).mul_(1 / 6).add_(d5)
    return r


def _tiles(out):
    """Tiles along each axis of an output of size ``out``."""
    return -(-out[0] // TILE), -(-out[1] // TILE)


def _strips(n, tiles, channels):
    """Tile-row ranges of about STRIP_BYTES of transformed float32 tiles each."""
    per_row = n * tiles[1] * WINDOW * WINDOW * channels * 4
    rows = max(1, STRIP_BYTES // per_row, -(-MIN_TILES // (n * tiles[1])))
    return [(r, min(tiles[0], r + rows)) for r in range(0, tiles[0], rows)]


def _input_tiles(xh, pad, tiles, rows):
    """The transformed input windows ``V`` (36, tiles, C) of tile rows ``rows`` of NHWC
    ``xh`` with zero padding ``pad``; index (column transform, row transform)."""
    n, h, w, c = xh.shape
    t0, t1 = rows
    halo = WINDOW - TILE  # rows and columns a window reaches past its tile
    lo, hi = TILE * t0 - pad[0], TILE * t1 + halo - pad[0]
    s = F.pad(xh[:, max(lo, 0):min(hi, h)],
              (0, 0, pad[1], TILE * tiles[1] + halo - w - pad[1], max(0, -lo), max(0, hi - h)))
    sn, sh, sw, sc = s.stride()
    r = _bt(s.as_strided((WINDOW, n, t1 - t0, s.shape[2], c), (sh, sn, TILE * sh, sw, sc)))
    s0, sn, sh, sw, sc = r.stride()  # r: (row transform, n, strip rows, width, c)
    by_cols = r.as_strided((WINDOW, WINDOW, n, t1 - t0, tiles[1], c), (sw, s0, sn, sh, TILE * sw, sc))
    return _bt(by_cols).view(WINDOW * WINDOW, -1, c)


def kernel(w, flipped=False):
    """The transformed kernel ``U`` (36, C, K) of weights ``w`` (K, C, 3, 3), conv3x3's
    operand; ``flipped``: of the flipped, transposed kernel (C, K, 3, 3), (36, K, C)."""
    order = slice(None, None, -1) if flipped else slice(None)
    r = _g(w.permute(2, 3, 0, 1).unbind(0)[order])  # (row transform, kernel column, K, C)
    u = _g(r.transpose(0, 1).unbind(0)[order]).view(WINDOW * WINDOW, w.shape[0], w.shape[1])
    return u if flipped else u.transpose(1, 2)


def _store_outputs(m, ys, tiles):
    """The inverse transform of products ``m`` (36, tiles, K) into NHWC strip ``ys``: whole
    tiles straight into it, tiles that the map's edge cuts through a copy."""
    n, h, w, k = ys.shape
    rows = m.shape[1] // (n * tiles[1])
    r = _at(m.view(WINDOW, WINDOW, -1, k).transpose(0, 1))  # (row out, column transform, tiles, K)
    r = r.transpose(0, 1).view(WINDOW, TILE, n, rows, tiles[1], k)
    fh, fw = h // TILE, w // TILE  # whole tiles
    whole = ys[:, :TILE * fh, :TILE * fw].view(n, fh, TILE, fw, TILE, k)
    _at(r[:, :, :, :fh, :fw], out=whole.permute(4, 2, 0, 1, 3, 5))  # (column out, row out, ...)
    for (t0, t1), c0 in (((0, fh), fw), ((fh, rows), 0)):  # the right edge, the bottom edge
        part = r[:, :, :, t0:t1, c0:]
        if part.numel():
            e = _at(part).permute(2, 3, 1, 4, 0, 5).flatten(3, 4).flatten(1, 2)  # NHWC
            edge = ys[:, TILE * t0:TILE * t1, TILE * c0:]
            edge.copy_(e[:, :edge.shape[1], :edge.shape[2]])


def _diff_tiles(gh, tiles, rows):
    """The adjoint of the inverse transform for tile rows ``rows`` of NHWC diff ``gh``:
    (36, tiles, K), index as the products'."""
    n, oh, ow, k = gh.shape
    t0, t1 = rows
    s = gh[:, TILE * t0:min(oh, TILE * t1)]
    s = F.pad(s, (0, 0, 0, TILE * tiles[1] - ow, 0, TILE * (t1 - t0) - s.shape[1]))
    s = s.view(n, t1 - t0, TILE, tiles[1], TILE, k)
    r = _a(s.permute(2, 0, 1, 3, 4, 5))  # (row transform, n, rows, tiles, col, K)
    return _a(r.permute(4, 0, 1, 2, 3, 5)).view(WINDOW * WINDOW, -1, k)


def conv3x3(x, u, bias=None, pad=(1, 1), relu=False):
    """Convolution of ``x`` (N, C, H, W) by the 3x3 kernel transformed to ``u``
    (``kernel(w)``), stride 1, zero padding ``pad``, plus ``bias``, then ReLU if
    ``relu``; the result is channels_last."""
    n, _, h, wd = x.shape
    out = (h + 2 * pad[0] - 2, wd + 2 * pad[1] - 2)
    tiles = _tiles(out)
    xh = x.permute(0, 2, 3, 1)
    y = x.new_empty((n, out[0], out[1], u.shape[2]))
    for t0, t1 in _strips(n, tiles, x.shape[1]):
        m = torch.bmm(_input_tiles(xh, pad, tiles, (t0, t1)), u)
        if bias is not None:  # A^T's column 1 is all ones: this adds it to all 16 outputs
            m.view(WINDOW, WINDOW, -1, m.shape[2])[1, 1].add_(bias)
        ys = y[:, TILE * t0:TILE * t1]
        _store_outputs(m, ys, tiles)
        if relu:
            ys.relu_()
    return y.permute(0, 3, 1, 2)


def input_gradient(dy, w, pad):
    """The gradient with respect to ``x`` of ``conv3x3(x, kernel(w), pad=pad)`` for output
    diff ``dy``: the convolution of ``dy`` by the flipped, transposed kernel (pad <= 2)."""
    return conv3x3(dy, kernel(w, flipped=True), pad=(2 - pad[0], 2 - pad[1]))


def weight_gradient(dy, x, pad):
    """The gradient with respect to ``w`` (K, C, 3, 3) of ``conv3x3(x, kernel(w), pad=pad)``
    for output diff ``dy``, stored channels_last as the engine keeps weights."""
    n, c = x.shape[:2]
    k = dy.shape[1]
    tiles = _tiles(dy.shape[2:])
    xh, gh = x.permute(0, 2, 3, 1), dy.permute(0, 2, 3, 1)
    du = x.new_zeros((WINDOW * WINDOW, k, c))
    for rows in _strips(n, tiles, max(c, k)):
        du.baddbmm_(_diff_tiles(gh, tiles, rows).transpose(1, 2), _input_tiles(xh, pad, tiles, rows))
    r = _gt(du.view(WINDOW, WINDOW, k, c).transpose(0, 1))  # (kernel row, column transform, K, C)
    dw = x.new_empty((k, 3, 3, c))  # channels_last, as the engine keeps weights
    _gt(r.transpose(0, 1), out=dw.permute(2, 1, 0, 3))
    return dw.permute(0, 3, 1, 2)
