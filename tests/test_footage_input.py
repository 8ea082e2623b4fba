"""dal-make-tracklets reads a user's tracker files and frames as they are, or says why not.

Rows of the fifth reliability round (issue 34), input side: the class column (S2),
confidence -1 (S3), ids that do not round-trip (S6), frame folders (S9), duplicate boxes
(S12), and the tracebacks, hangs and unclear errors of odd files, each now one line
naming the file (exit 2) or handled and said.
"""
import json
import os
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

from cli_helpers import REPO, subprocess_env
from dal_torchreid.cli.make_tracklets import main
from dal_torchreid.footage import read_manifest

FILTERS = ['--min-length', '4', '--min-height', '16', '--min-width', '8']
SIZE = (64, 48)  # width, height of the frames


def write_frames(camera, count=8, size=SIZE, start=1, ext='.jpg'):
    """``camera/img1/`` with frames ``start .. start + count - 1`` of noise."""
    img1 = camera / 'img1'
    img1.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(start)
    for number in range(start, start + count):
        image = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
        assert cv2.imwrite(str(img1 / f'{number:06d}{ext}'), image)


def lines(track, frames=range(1, 7), conf='0.9', rest='-1,-1,-1'):
    """Tracker lines of one 16x32 box per frame: ``frame,id,10,5,16,32,conf,rest``."""
    return ''.join(f'{f},{track},10,5,16,32,{conf},{rest}\n' for f in frames)


def own_footage(tmp_path, cameras):
    """``(footage, tracks)`` of cameras ``{name: tracker file text (str or bytes)}``, each
    with 8 frames."""
    footage, tracks = tmp_path / 'footage', tmp_path / 'tracks'
    tracks.mkdir(parents=True, exist_ok=True)
    for camera, text in cameras.items():
        write_frames(footage / camera)
        path = tracks / f'{camera}.txt'
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return footage, tracks


def cut(capsys, footage, tracks, root, *extra):
    code = main(['--footage', str(footage), '--tracks', str(tracks), '--root', str(root),
                 '--name', 'shop', *FILTERS, *extra])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(code, err, *expected):
    assert code == 2, err
    assert 'Traceback' not in err and len(err.strip().splitlines()) == 1, err
    for text in expected:
        assert text in err, err
    return err


def kept_tracks(root):
    rows = read_manifest(str(root / 'shop' / 'manifest.csv'))
    return {(r['camera'], r['track']) for r in rows}


def counts(root, camera):
    return json.load(open(root / 'shop' / 'tracklets.json'))['cameras'][camera]['counts']


def camera_line(out, camera):
    [line] = [line for line in out.splitlines() if line.startswith(f'{camera}: ') and 'kept' in line]
    return line


# S2: the class column

def test_s2_boxes_of_other_classes_are_dropped_counted_and_printed(tmp_path, capsys):
    footage, tracks = own_footage(tmp_path, {
        'cam1': lines(1, rest='1,-1') + lines(2, rest='3,-1'),  # a person and a car
        'cam2': lines(1) + lines(2, rest='-1'),  # -1 (2D results): no class given, all kept
        'cam3': lines(1, rest='') .replace(',\n', '\n'),  # 7 columns: no class column
    })
    root = tmp_path / 'data'
    code, out, err = cut(capsys, footage, tracks, root)
    assert code == 0, err
    assert kept_tracks(root) == {('cam1', 1), ('cam2', 1), ('cam2', 2), ('cam3', 1)}
    assert counts(root, 'cam1')['boxes_other_class'] == 6
    assert counts(root, 'cam2')['boxes_other_class'] == 0
    assert '6 boxes of other classes' in camera_line(out, 'cam1')
    code, out, err = cut(capsys, footage, tracks, tmp_path / 'all', '--classes', '1,3')
    assert code == 0, err
    assert ('cam1', 2) in kept_tracks(tmp_path / 'all')
    code, out, err = cut(capsys, footage, tracks, tmp_path / 'any', '--classes', 'all')
    assert code == 0 and ('cam1', 2) in kept_tracks(tmp_path / 'any')
    one_line(*cut(capsys, footage, tracks, tmp_path / 'bad', '--classes', 'person')[::2],
             '--classes', 'person')


# S3: confidence -1 is "not given"; a threshold is a finite number

def test_s3_confidence_minus_one_is_kept_by_default(tmp_path, capsys):
    footage, tracks = own_footage(tmp_path, {'cam1': lines(1, conf='-1') + lines(2, conf='-0.3')})
    root = tmp_path / 'data'
    code, out, err = cut(capsys, footage, tracks, root)
    assert code == 0, err
    assert kept_tracks(root) == {('cam1', 1), ('cam1', 2)}  # the default keeps all
    code, out, err = cut(capsys, footage, tracks, tmp_path / 'half', '--min-conf', '0.5')
    assert code == 0, err
    assert kept_tracks(tmp_path / 'half') == {('cam1', 1)}  # -1: no confidence to judge
    assert counts(tmp_path / 'half', 'cam1')['boxes_without_conf'] == 6
    assert '6 boxes without a confidence (-1) kept' in camera_line(out, 'cam1')


@pytest.mark.parametrize('value', ['nan', 'inf', '-inf'])
def test_s3_a_threshold_that_is_not_a_finite_number_is_refused(tmp_path, capsys, value):
    footage, tracks = own_footage(tmp_path, {'cam1': lines(1)})
    one_line(*cut(capsys, footage, tracks, tmp_path / 'data', f'--min-conf={value}')[::2],
             'min_conf', value)
    assert not (tmp_path / 'data' / 'shop').exists()


# S6: ids and frames that would not round-trip

@pytest.mark.parametrize('text, expected', [
    (lines('1e20') + lines('2e20'), ['cam1.txt" line 1', 'id 1e20']),
    (lines(9007199254740992) + lines(9007199254740993), ['cam1.txt" line 7',
                                                          'id 9007199254740993']),
    ('1e20,1,10,5,16,32,0.9\n', ['cam1.txt" line 1', 'frame 1e20']),
])
def test_s6_ids_and_frames_that_do_not_round_trip_are_refused(tmp_path, capsys, text, expected):
    footage, tracks = own_footage(tmp_path, {'cam1': text})
    one_line(*cut(capsys, footage, tracks, tmp_path / 'data')[::2], *expected)


def test_s6_the_largest_exact_id_is_kept_apart_from_its_neighbour(tmp_path, capsys):
    footage, tracks = own_footage(tmp_path, {'cam1': lines(9007199254740992) +
                                             lines(9007199254740991)})
    code, _, err = cut(capsys, footage, tracks, tmp_path / 'data')
    assert code == 0, err
    assert kept_tracks(tmp_path / 'data') == {('cam1', 9007199254740992),
                                              ('cam1', 9007199254740991)}


# S9: frame folders

def larger_frame(img1):
    cv2.imwrite(str(img1 / '000003.jpg'), np.zeros((SIZE[1] * 2, SIZE[0] * 2, 3), np.uint8))


def smaller_frame(img1):
    cv2.imwrite(str(img1 / '000003.jpg'), np.zeros((SIZE[1] // 4, SIZE[0] // 4, 3), np.uint8))


def png_beside_jpg(img1):
    cv2.imwrite(str(img1 / '000003.png'), np.zeros((SIZE[1], SIZE[0], 3), np.uint8))


def zero_based(img1):
    cv2.imwrite(str(img1 / '000000.jpg'), np.zeros((SIZE[1], SIZE[0], 3), np.uint8))


@pytest.mark.parametrize('damage, expected', [
    (larger_frame, ['000003.jpg"', '128x96', '64x48']),
    (smaller_frame, ['000003.jpg"', '16x12', '64x48']),
    (png_beside_jpg, ['000003.jpg', '000003.png', 'frame 3']),
    (zero_based, ['000000.jpg', 'numbered from 1']),
])
def test_s9_frame_folders_that_would_misplace_crops_are_refused(tmp_path, capsys, damage,
                                                                 expected):
    footage, tracks = own_footage(tmp_path, {'cam1': lines(1)})
    damage(footage / 'cam1' / 'img1')
    root = tmp_path / 'data'
    one_line(*cut(capsys, footage, tracks, root)[::2], 'img1', *expected)
    assert not (root / 'shop' / 'cam1').exists()
    assert not [n for n in os.listdir(root / 'shop') if n.endswith('.partial')] \
        if (root / 'shop').is_dir() else True


# S12: duplicate boxes

def test_s12_a_duplicate_box_is_printed_for_its_camera(tmp_path, capsys):
    footage, tracks = own_footage(tmp_path, {'cam1': lines(1) + lines(1, frames=[3]),
                                             'cam2': lines(1)})
    code, out, err = cut(capsys, footage, tracks, tmp_path / 'data')
    assert code == 0, err
    assert '1 duplicate box' in camera_line(out, 'cam1')
    assert 'duplicate' not in camera_line(out, 'cam2')


# Tracker files as real tools write them

def test_a_bom_and_comment_lines_are_read(tmp_path, capsys):
    text = '\ufeff# frame,id,left,top,width,height,conf,x,y,z\n' + lines(1) + '  # end\n'
    footage, tracks = own_footage(tmp_path, {'cam1': text})
    code, _, err = cut(capsys, footage, tracks, tmp_path / 'data')
    assert code == 0, err
    assert kept_tracks(tmp_path / 'data') == {('cam1', 1)}


def test_bytes_that_are_not_utf8_are_named_with_the_file_and_line(tmp_path, capsys):
    footage, tracks = own_footage(tmp_path, {'cam1': lines(1).encode() + b'7,1,10,5,16,32,\xff\n'})
    one_line(*cut(capsys, footage, tracks, tmp_path / 'data')[::2], 'cam1.txt" line 7', 'UTF-8')


def test_a_tracks_file_that_is_a_folder_is_named_as_one(tmp_path, capsys):
    footage, tracks = own_footage(tmp_path, {'cam1': lines(1)})
    write_frames(footage / 'cam2')
    (tracks / 'cam2.txt').mkdir()
    one_line(*cut(capsys, footage, tracks, tmp_path / 'data')[::2], 'cam2.txt', 'is a folder')


def test_a_hidden_camera_is_skipped_and_said(tmp_path, capsys):
    footage, tracks = own_footage(tmp_path, {'cam1': lines(1), '.cam9': lines(1)})
    code, out, err = cut(capsys, footage, tracks, tmp_path / 'data')
    assert code == 0, err
    assert kept_tracks(tmp_path / 'data') == {('cam1', 1)}
    assert '.cam9' in out and 'hidden' in out and 'skipped' in out


@pytest.mark.parametrize('camera', ['manifest.csv', 'tracklets.json', 'run.lock'])
def test_a_camera_named_as_a_file_of_the_data_set_is_refused(tmp_path, capsys, camera):
    footage, tracks = own_footage(tmp_path, {'cam1': lines(1), camera: lines(1)})
    one_line(*cut(capsys, footage, tracks, tmp_path / 'data')[::2], f'camera "{camera}"',
             'data set\'s own')
    assert not (tmp_path / 'data' / 'shop' / 'cam1').exists()  # refused before any cut


def run_script(script, timeout=120):
    """A Python script in a subprocess of this checkout: (exit code, stdout, stderr)."""
    done = subprocess.run([sys.executable, '-c', textwrap.dedent(script)], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO,
                          env=dict(subprocess_env(), PYTHONDONTWRITEBYTECODE='1'))
    return done.returncode, done.stdout, done.stderr


def test_a_fifo_as_a_video_is_refused_not_waited_on(tmp_path):
    footage, tracks = own_footage(tmp_path, {'cam1': lines(1)})
    (tracks / 'cam2.txt').write_text(lines(1))
    (footage / 'cam2').mkdir()
    os.mkfifo(footage / 'cam2' / 'cam2.mp4')
    code, _, err = run_script(f'''
        import sys
        from dal_torchreid.cli.make_tracklets import main
        sys.exit(main(['--footage', {str(footage)!r}, '--tracks', {str(tracks)!r},
                       '--root', {str(tmp_path / 'data')!r}, '--name', 'shop']))
    ''', timeout=90)
    one_line(code, err, 'cam2.mp4', 'not a regular file')


def test_sigint_is_one_line_exit_130_and_leaves_no_half_camera(tmp_path):
    footage, tracks = own_footage(tmp_path, {'cam1': lines(1), 'cam2': lines(1) + lines(2)})
    root = tmp_path / 'data'
    code, out, err = run_script(f'''
        import os, signal, sys
        import cv2
        from dal_torchreid.cli.make_tracklets import main
        from dal_torchreid.footage import tracklets
        written = []
        def imwrite(path, *args):  # Ctrl-C in the middle of the second camera
            written.append(path)
            if '.cam2.partial' in path and len(written) > 8:
                os.kill(os.getpid(), signal.SIGINT)
            return cv2.imwrite(path, *args)
        tracklets.cv2 = type('cv2', (), dict(vars(cv2), imwrite=staticmethod(imwrite)))
        sys.exit(main(['--footage', {str(footage)!r}, '--tracks', {str(tracks)!r},
                       '--root', {str(root)!r}, '--name', 'shop']))
    ''')
    assert code == 130, err
    assert 'Traceback' not in err and len(err.strip().splitlines()) == 1, err
    assert 'interrupted by SIGINT' in err and 'cam1' in err
    assert sorted(os.listdir(root / 'shop')) == ['cam1']  # finished, kept; no half cam2
    assert (root / 'shop' / 'cam1' / 'manifest.csv').is_file()


def test_a_file_size_limit_names_the_file_it_stopped(tmp_path):
    footage, tracks = own_footage(tmp_path, {'cam1': ''.join(lines(t) for t in range(1, 40))})
    code, _, err = run_script(f'''
        import resource, signal, sys
        from dal_torchreid.cli.make_tracklets import main
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an error, not a signal, at the limit
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        sys.exit(main(['--footage', {str(footage)!r}, '--tracks', {str(tracks)!r},
                       '--root', {str(tmp_path / 'data')!r}, '--name', 'shop',
                       '--max-frames', '2']))
    ''')
    line = one_line(code, err, 'File too large')
    assert str(tmp_path / 'data' / 'shop') in line, line
