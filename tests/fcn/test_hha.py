"""hha.py on rendered scenes with a known floor and gravity: a tilted camera sees a floor,
walls and a box."""
import os

import numpy as np
import pytest
import scipy.ndimage
from PIL import Image

from fcn.analyses import hha
from fcn import datasets
from fcn import synthetic

H, W = 120, 160
CAMERA = (140.0, 140.0, 79.5, 59.5)  # fx, fy, cx, cy
FLOOR, BACK, SIDE, BOX_TOP, BOX_FRONT = range(1, 6)
BOX = ((-0.4, 0.6), (0.0, 0.6), (2.0, 3.0))  # x, y (height), z ranges in metres


def rotation(axis, degrees):
    """Rodrigues' rotation matrix about a unit ``axis``."""
    a = np.radians(degrees)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(a) * k + (1 - np.cos(a)) * k @ k


def render(pitch=25, roll=8, height=1.3, noise=0.0):
    """(depth in m, surface id, height above the floor in m, true up in camera coordinates).

    World: x right, y up, z ahead; the floor is y = 0, the back wall z = 4, a side
    wall x = -1.8. The camera at height ``height`` looks ahead, pitched down and rolled.
    """
    level = np.diag([1.0, -1.0, 1.0])  # camera (x right, y down, z ahead) to world, untilted
    world_from_camera = rotation([1, 0, 0], pitch) @ rotation([0, 0, 1], roll) @ level
    v, u = np.indices((H, W), dtype=np.float64)
    fx, fy, cx, cy = CAMERA
    rays = np.stack([(u - cx) / fx, (v - cy) / fy, np.ones_like(u)], axis=2) @ world_from_camera.T
    origin = np.array([0.0, height, 0.0])
    (x0, x1), (y0, y1), (z0, z1) = BOX
    # (surface, axis, plane value, bounds on the other two axes)
    planes = [(FLOOR, 1, 0.0, {}), (BACK, 2, 4.0, {}), (SIDE, 0, -1.8, {}),
              (BOX_TOP, 1, y1, {0: (x0, x1), 2: (z0, z1)}), (BOX_FRONT, 2, z0, {0: (x0, x1), 1: (y0, y1)}),
              (BOX_FRONT, 0, x0, {1: (y0, y1), 2: (z0, z1)}), (BOX_FRONT, 0, x1, {1: (y0, y1), 2: (z0, z1)})]
    # (the box's sides count as its front: vertical faces too)
    depth = np.full((H, W), np.inf)
    surface = np.zeros((H, W), np.int64)
    for sid, axis, value, bounds in planes:
        with np.errstate(divide='ignore', invalid='ignore'):
            t = (value - origin[axis]) / rays[..., axis]
        hit = origin + t[..., None] * rays
        ok = (t > 0) & (t < depth)
        for other, (lo, hi) in bounds.items():
            ok &= (hit[..., other] >= lo - 1e-9) & (hit[..., other] <= hi + 1e-9)
        depth[ok], surface[ok] = t[ok], sid
    assert np.isfinite(depth).all()
    y = origin[1] + depth * rays[..., 1]
    depth = depth + np.random.RandomState(0).normal(0, noise, depth.shape)
    return depth, surface, y, world_from_camera.T @ [0, 1, 0]


def interior(surface, sid, margin=hha.WINDOW):
    """Pixels of ``sid`` at least ``margin`` pixels from another surface and the border."""
    inside = scipy.ndimage.binary_erosion(surface == sid, np.ones((margin, margin)), border_value=0)
    assert inside.sum() > 50, sid
    return inside


def degrees_between(a, b):
    return np.degrees(np.arccos(np.clip(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b), -1, 1)))


@pytest.fixture(scope='module')
def scene():
    depth, surface, y, up = render(noise=0.003)
    encoded, estimated = hha.hha(depth, *CAMERA)
    return depth, surface, y, up, encoded, estimated


def test_the_scene_has_what_the_tests_need(scene):
    depth, surface, y, up, _, _ = scene
    assert set(np.unique(surface)) == {FLOOR, BACK, SIDE, BOX_TOP, BOX_FRONT}
    assert degrees_between(up, [0, -1, 0]) > 25  # the camera's own up is well off gravity


@pytest.mark.parametrize('pitch, roll', [(25, 8), (10, -15), (35, 0)])
def test_gravity_is_found_within_a_degree(pitch, roll):
    depth, _, _, up = render(pitch, roll, noise=0.003)
    _, estimated = hha.hha(depth, *CAMERA)
    assert degrees_between(estimated, up) < 1


def test_angle_channel_floor_parallel_walls_perpendicular(scene):
    _, surface, _, _, encoded, _ = scene
    angle = encoded[..., 2].astype(float)
    for sid, want in ((FLOOR, 38), (BOX_TOP, 38), (BACK, 128), (SIDE, 128), (BOX_FRONT, 128)):
        got = np.median(angle[interior(surface, sid)])
        assert abs(got - want) <= 3, (sid, got)


def test_height_channel_is_centimetres_above_the_floor(scene):
    _, surface, y, _, encoded, _ = scene
    height = encoded[..., 1].astype(float)
    seen = np.zeros_like(surface, bool)
    for sid in (FLOOR, BACK, SIDE, BOX_TOP, BOX_FRONT):
        seen |= interior(surface, sid)
    seen &= y < 2.5
    assert np.abs(height[seen] - 100 * y[seen]).max() <= 4
    assert abs(np.median(height[interior(surface, BOX_TOP)]) - 60) <= 2
    order = np.argsort(y[seen])  # higher never reads lower, beyond the noise
    assert np.all(np.diff(height[seen][order]) >= -6)
    assert np.corrcoef(height[seen], y[seen])[0, 1] > 0.99


def test_disparity_channel_is_inverse_depth(scene):
    depth, _, _, _, encoded, _ = scene
    disparity = encoded[..., 0].astype(float)
    order = np.argsort(depth.ravel())
    assert np.all(np.diff(disparity.ravel()[order]) <= 0)  # monotone: nearer is larger
    np.testing.assert_array_equal(disparity, np.clip(np.rint(310 / depth), 0, 255))
    assert disparity.min() < 80 < 200 < disparity.max()  # 4.2 m to 1.5 m away
    half = hha.hha(depth / 2, *CAMERA)[0][..., 0]  # the same scene at half the size
    assert half.max() == 255 and np.all(half[depth / 2 < 1.2] == 255)  # 310 / z saturates from 1.22 m in


def test_missing_depth_is_zero_and_does_not_move_gravity(scene):
    depth, surface, _, up, _, _ = scene
    holes = depth.copy()
    holes[::7, ::5] = 0
    holes[40:50, 60:90] = np.nan
    encoded, estimated = hha.hha(holes, *CAMERA)
    assert not encoded[40:50, 60:90].any() and not encoded[::7, ::5].any()
    assert degrees_between(estimated, up) < 1


def test_default_intrinsics_are_nyuds():
    assert hha.intrinsics((480, 640)) == (hha.FX, hha.FY, hha.CX, hha.CY)
    assert hha.intrinsics((425, 560)) == (hha.FX, hha.FY, hha.CX - 40, hha.CY - 45)
    assert hha.intrinsics((425, 560), cx=1.0) == (hha.FX, hha.FY, 1.0, hha.CY - 45)
    with pytest.raises(ValueError, match='give cx and cy'):
        hha.intrinsics((64, 64))


def test_command_writes_what_the_nyud_layer_reads(tmp_path, capsys):
    """HHA of the synthetic NYUD depth maps (16-bit, mm), read back by the data layer's reader."""
    root = tmp_path / 'data'
    synthetic.main(['nyud', '--out', str(root), '--n', '3'])
    depth_dir, hha_dir = root / 'nyud' / 'data' / 'depth', root / 'nyud' / 'data' / 'hha'
    with pytest.raises(SystemExit, match='give cx and cy'):
        hha.main(['--depth', str(depth_dir), '--out', str(hha_dir)])
    hha.main(['--depth', str(depth_dir), '--out', str(hha_dir), '--fx', '60', '--fy', '60',
              '--cx', '31.5', '--cy', '31.5'])
    assert capsys.readouterr().out.count(': up [') == 3
    reader = datasets.NYUD(str(root / 'nyud'), 'test')
    loaded = reader.load(reader.ids[0], ['hha'])[0] + reader.means['hha'][:, None, None]
    depth = np.asarray(Image.open(depth_dir / ('img_%s.png' % reader.ids[0])), np.float64) / 1000
    expected, _ = hha.hha(depth, 60, 60, 31.5, 31.5)
    np.testing.assert_allclose(loaded, expected.transpose(2, 0, 1), atol=1e-4)  # file order kept


def test_command_on_one_file(tmp_path):
    depth, *_ = render()
    Image.fromarray(np.rint(depth * 1000).astype(np.uint16)).save(tmp_path / 'scene.png')
    hha.main(['--depth', str(tmp_path / 'scene.png'), '--out', str(tmp_path / 'out'),
              '--fx', '140', '--fy', '140', '--cx', '79.5', '--cy', '59.5'])
    with Image.open(tmp_path / 'out' / 'scene.png') as im:
        assert (im.mode, im.size) == ('RGB', (W, H))
        written = np.asarray(im)
    np.testing.assert_array_equal(written, hha.hha(np.rint(depth * 1000) / 1000, *CAMERA)[0])
    assert os.listdir(tmp_path / 'out') == ['scene.png']


@pytest.mark.parametrize('window', [0, 1, -3])
def test_a_window_too_small_for_a_plane_is_refused_before_writing(window, tmp_path, capsys):
    depth, *_ = render()
    Image.fromarray(np.rint(depth * 1000).astype(np.uint16)).save(tmp_path / 'scene.png')
    with pytest.raises(SystemExit):
        hha.main(['--depth', str(tmp_path / 'scene.png'), '--out', str(tmp_path / 'out'), '--window', str(window)])
    assert '--window must be at least 2' in capsys.readouterr().err
    assert not os.path.exists(tmp_path / 'out')
    with pytest.raises(ValueError, match='window must be at least 2 pixels square, got %d' % window):
        hha.hha(depth, *CAMERA, window=window)
