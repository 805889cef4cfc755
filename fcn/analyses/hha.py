"""HHA, the depth encoding of NYUDv2's HHA nets (Gupta et al., ECCV 2014), from a depth map.

Three channels, in the order the NYUD data layer reads them (datasets.NYUD.load_hha,
the file's R, G, B):

- horizontal disparity: 310 / depth in metres (31000 / depth in cm), 255 from 1.22 m in;
- height above ground, in cm: the lowest point seen is the ground;
- angle between the surface normal and the up direction, in degrees, plus 38 (the
  floor 38, walls 128, the ceiling 218).

These are the fixed scalings of Gupta et al.'s released HHA images, each saturating
at 0 and 255; the means of those images (datasets.NYUD_HHA_MEAN: 132, 94, 118)
are a scene about 2.3 m away, 0.94 m high, at 80 degrees. Pixels without depth are 0.

Normals are the least-variance direction of the 3-D points in a window around each
pixel, turned towards the camera. Gravity is estimated as in Gupta et al. (CVPR
2013): starting from the camera's up, collect the normals within d degrees of
parallel or of perpendicular to the current estimate, and take as the new one the
direction g minimizing sum_perp cos^2(n, g) + sum_par sin^2(n, g), the eigenvector of
the least eigenvalue of sum_perp n n^T - sum_par n n^T; five rounds at d = 45, then
five at d = 15.

Depth files are 16-bit PNGs in millimetres (data/nyud/data/depth); functions take
metres. The camera defaults to NYUDv2's Kinect colour intrinsics (NYU toolbox), with
the principal point moved for the 425 x 560 crop of Gupta et al.'s data (45 rows and
40 columns off the top left of the 480 x 640 frame); other sizes need --cx and --cy.

    python hha.py --depth data/nyud/data/depth --out data/nyud/data/hha
"""
import argparse
import os
import sys

import numpy as np
import scipy.ndimage
from PIL import Image

FX, FY, CX, CY = 518.857901, 519.469611, 325.582449, 253.736166  # the 480 x 640 frame
CROPS = {(480, 640): (0, 0), (425, 560): (45, 40)}  # depth map shape: (rows, columns) cut off
WINDOW = 7          # normals from WINDOW x WINDOW pixels
MIN_WINDOW = 2      # a plane needs three points: a window of one pixel has one
ROUNDS = ((45, 5), (15, 5))  # gravity: (degrees, iterations)
ANGLE_OFFSET = 38   # angle channel = degrees + 38, so 90 (walls) is 128


def intrinsics(shape, fx=None, fy=None, cx=None, cy=None):
    """(fx, fy, cx, cy) for a depth map of ``shape``: NYUDv2's unless given."""
    if cx is None or cy is None:
        if tuple(shape) not in CROPS:
            raise ValueError('no default principal point for a %d x %d depth map (NYUDv2: 480 x 640 '
                             'or 425 x 560): give cx and cy' % tuple(shape))
        rows, cols = CROPS[tuple(shape)]
        cx, cy = (CX - cols if cx is None else cx), (CY - rows if cy is None else cy)
    return (FX if fx is None else fx), (FY if fy is None else fy), cx, cy


def points(depth, fx, fy, cx, cy):
    """Camera coordinates (H x W x 3; x right, y down, z forward) of a depth map in metres."""
    v, u = np.indices(depth.shape, dtype=np.float64)
    return np.stack([(u - cx) * depth / fx, (v - cy) * depth / fy, depth], axis=2)


def normals(xyz, valid, window=WINDOW):
    """Unit normals facing the camera (H x W x 3), from the points of ``valid`` pixels around each."""
    if window < MIN_WINDOW:
        raise ValueError('the normals window must be at least %d pixels square, got %d' % (MIN_WINDOW, window))
    mask = valid.astype(np.float64)

    def mean(values):
        return scipy.ndimage.uniform_filter(values * mask, window, mode='constant')

    count = mean(np.ones_like(mask))
    with np.errstate(divide='ignore', invalid='ignore'):
        centre = np.stack([mean(xyz[..., i]) / count for i in range(3)], axis=2)
        cov = np.empty(xyz.shape[:2] + (3, 3))
        for i in range(3):
            for j in range(i, 3):
                cov[..., i, j] = cov[..., j, i] = (mean(xyz[..., i] * xyz[..., j]) / count
                                                   - centre[..., i] * centre[..., j])
    # Three points make a plane; count is a fraction of the window.
    enough = valid & (count * window ** 2 >= 3 - 1e-9)
    n = np.zeros_like(xyz)
    n[enough] = np.linalg.eigh(cov[enough])[1][:, :, 0]
    n[np.sum(n * xyz, axis=2) > 0] *= -1
    return n


def gravity(n, rounds=ROUNDS):
    """The up direction (unit, camera coordinates) from unit normals ``n`` (N x 3)."""
    up = np.array([0.0, -1.0, 0.0])
    for degrees, iterations in rounds:
        for _ in range(iterations):
            cos = np.abs(n @ up)
            parallel = n[cos > np.cos(np.radians(degrees))]
            perpendicular = n[cos < np.sin(np.radians(degrees))]
            scatter = perpendicular.T @ perpendicular - parallel.T @ parallel
            new = np.linalg.eigh(scatter)[1][:, 0]
            up = new if new @ up >= 0 else -new
    return up


def hha(depth, fx, fy, cx, cy, window=WINDOW):
    """(HHA as H x W x 3 uint8, up direction) of ``depth`` in metres (0 or NaN: missing)."""
    valid = np.isfinite(depth) & (depth > 0)
    depth = np.where(valid, depth, 0.0)
    xyz = points(depth, fx, fy, cx, cy)
    n = normals(xyz, valid, window)
    has_normal = valid & np.any(n != 0, axis=2)
    up = gravity(n[has_normal])
    height = xyz @ up
    height -= height[valid].min()
    angle = np.degrees(np.arccos(np.clip(n @ up, -1, 1)))
    with np.errstate(divide='ignore'):
        channels = [310 / depth, 100 * height, angle + ANGLE_OFFSET]
    out = np.stack([np.clip(np.rint(np.where(valid, c, 0)), 0, 255) for c in channels], axis=2)
    out[~has_normal, 2] = 0
    return out.astype(np.uint8), up


def depth_files(path):
    """The PNG files of ``path``: itself, or those in the directory, sorted."""
    if os.path.isdir(path):
        return [os.path.join(path, f) for f in sorted(os.listdir(path)) if f.endswith('.png')]
    return [path]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--depth', required=True, help='a 16-bit depth PNG in millimetres, or a directory of them')
    parser.add_argument('--out', required=True, help='directory for the HHA PNGs (same file names)')
    for name in ('fx', 'fy', 'cx', 'cy'):
        parser.add_argument('--' + name, type=float, help='camera intrinsics in pixels (default: NYUDv2)')
    parser.add_argument('--window', type=int, default=WINDOW, help='normals from this many pixels square')
    args = parser.parse_args(argv)
    if args.window < MIN_WINDOW:
        parser.error('--window must be at least %d (a plane needs three points), got %d' % (MIN_WINDOW, args.window))
    files = depth_files(args.depth)
    if not files:
        sys.exit('hha: no PNG files in %s' % args.depth)
    os.makedirs(args.out, exist_ok=True)
    for path in files:
        with Image.open(path) as im:
            depth = np.asarray(im, np.float64) / 1000
        if depth.ndim != 2:
            sys.exit('hha: %s is not a one-channel depth map' % path)
        try:
            camera = intrinsics(depth.shape, args.fx, args.fy, args.cx, args.cy)
        except ValueError as e:
            sys.exit('hha: %s: %s' % (path, e))
        encoded, up = hha(depth, *camera, window=args.window)
        Image.fromarray(encoded, 'RGB').save(os.path.join(args.out, os.path.basename(path)))
        print('%s: up %s' % (os.path.basename(path), np.array2string(up, precision=3)))


if __name__ == '__main__':
    main()
