"""A user's footage and tracker files survive every footage command, byte for byte.

The data-loss rows of the footage reliability round: footage kept under the tracklet
root (L1), dal-associate's --out pointed at the tracker files (L2), two cuts into one
data set at once (L3), a re-run with other or edited sources (L4).
"""
import os
import shutil
import signal
import subprocess
import sys

import pytest

from dal_torchreid.cli import associate as associate_cli
from dal_torchreid.cli.make_tracklets import main as make_tracklets_main
from dal_torchreid.footage import read_manifest, read_mot_file
from cli_helpers import subprocess_env
from footage_fixtures import (  # noqa: F401  (fixtures)
    tiny_footage, forget_footage_datasets, tree
)

FILTERS = ['--min-conf', '0.5', '--min-length', '4', '--max-frames', '4', '--min-width', '6']
TINY_MODEL = ['model.name', 'resnet18', 'model.pretrained', 'False', 'use_gpu', 'False',
              'data.height', '32', 'data.width', '16', 'train.seed', '3']


def cut(capsys, footage, tracks, root, name='shop', *extra):
    code = make_tracklets_main(['--footage', str(footage), '--tracks', str(tracks), '--root',
                                str(root), '--name', name, *FILTERS, *extra])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def own_copy(tiny_footage, tmp_path):
    """A user's footage and tracks, copied where each test may place them."""
    footage, tracks, _ = tiny_footage
    return footage, tracks


def one_line_refusal(code, err, *expected):
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1, err
    for text in expected:
        assert text in err, err


def test_footage_kept_under_the_tracklet_root_is_refused_and_untouched(own_copy, tmp_path, capsys):
    footage, tracks = own_copy
    root = tmp_path / 'reid-data'
    shutil.copytree(footage, root / 'shop')
    shutil.copytree(tracks, tmp_path / 'tracks')
    before = tree(root)
    code, _, err = cut(capsys, root / 'shop', tmp_path / 'tracks', root, 'shop')
    one_line_refusal(code, err, '--root/--name', 'is the footage folder')
    code, _, err = cut(capsys, root / 'shop', tmp_path / 'tracks', root / 'shop', 'cam1')
    one_line_refusal(code, err, 'lies inside the footage folder')
    assert tree(root) == before
    code, _, err = cut(capsys, root / 'shop', tmp_path / 'tracks', root, '.')
    one_line_refusal(code, err, '--name "."')
    assert tree(root) == before


def test_tracks_under_the_data_set_folder_are_refused(own_copy, tmp_path, capsys):
    footage, tracks = own_copy
    shutil.copytree(tracks, tmp_path / 'reid-data' / 'shop' / 'tracks')
    before = tree(tmp_path / 'reid-data')
    code, _, err = cut(capsys, footage, tmp_path / 'reid-data' / 'shop' / 'tracks',
                       tmp_path / 'reid-data')
    one_line_refusal(code, err, 'holds the tracks folder')
    assert tree(tmp_path / 'reid-data') == before


def test_a_folder_the_tool_did_not_make_is_never_replaced(own_copy, tmp_path, capsys):
    footage, tracks = own_copy
    mine = tmp_path / 'reid-data' / 'shop' / 'cam2'
    mine.mkdir(parents=True)
    (mine / 'notes.txt').write_text('my notes')
    code, _, err = cut(capsys, footage, tracks, tmp_path / 'reid-data')
    one_line_refusal(code, err, str(mine), 'not made by dal-make-tracklets')
    assert (mine / 'notes.txt').read_text() == 'my notes'
    assert not (tmp_path / 'reid-data' / 'shop' / 'cam1').exists()  # refused before cutting


@pytest.mark.parametrize('name', ['', '../x', '/abs/x', 'a/b', '.hidden'])
def test_a_name_that_is_not_one_folder_name_is_refused(own_copy, tmp_path, capsys, name):
    footage, tracks = own_copy
    code, _, err = cut(capsys, footage, tracks, tmp_path / 'root', name)
    one_line_refusal(code, err, f'--name "{name}"')
    assert not (tmp_path / 'x').exists() and not (tmp_path / 'root').exists()


HOLD = ('import sys, time\n'
        'from dal_torchreid.files.save_dir import SaveDirLock\n'
        'with SaveDirLock(sys.argv[1]):\n'
        '    print("held", flush=True)\n'
        '    time.sleep(120)\n')


def test_a_second_cut_into_one_data_set_at_once_is_refused(own_copy, tmp_path, capsys):
    footage, tracks = own_copy
    folder = tmp_path / 'reid-data' / 'shop'
    holder = subprocess.Popen([sys.executable, '-c', HOLD, str(folder)], env=subprocess_env(),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'held'
        code, _, err = cut(capsys, footage, tracks, tmp_path / 'reid-data')
        one_line_refusal(code, err, 'is in use by process', str(holder.pid))
        assert sorted(os.listdir(folder)) == ['run.lock']  # nothing cut, nothing staged
    finally:
        holder.send_signal(signal.SIGINT)  # unwinds: the lock is released
        holder.wait()
    code, _, err = cut(capsys, footage, tracks, tmp_path / 'reid-data')
    assert code == 0, err
    assert not (folder / 'run.lock').exists()
    for row in read_manifest(str(folder / 'manifest.csv')):
        assert (folder / row['crop']).is_file()


def kept_tracks(folder, camera):
    return {r['track'] for r in read_manifest(str(folder / 'manifest.csv'))
            if r['camera'] == camera}


def drop_track(tracks_file, track):
    """Rewrites a tracker file without ``track``; returns the track dropped."""
    lines = [line for line in open(tracks_file) if int(line.split(',')[1]) != track]
    with open(tracks_file, 'w') as f:
        f.writelines(lines)


def test_other_or_edited_tracks_cut_the_camera_again(own_copy, tmp_path, capsys):
    footage, tracks = own_copy
    root = tmp_path / 'reid-data'
    folder = root / 'shop'
    assert cut(capsys, footage, tracks, root)[0] == 0
    first = kept_tracks(folder, 'cam1')
    gone = min(first)
    other = tmp_path / 'other-tracks'
    shutil.copytree(tracks, other)
    drop_track(other / 'cam1.txt', gone)
    code, out, err = cut(capsys, footage, other, root)
    assert code == 0, err
    assert 'cam1: its footage or tracker file is not the one' in out
    assert 'cam2: already done' in out and 'cam3: already done' in out
    assert kept_tracks(folder, 'cam1') == first - {gone}
    assert not (folder / 'cam1' / f'{gone:06d}').exists()
    # the tracker file edited in place: cut again
    drop_track(other / 'cam1.txt', max(first))
    code, out, err = cut(capsys, footage, other, root)
    assert code == 0 and 'cam1: its footage or tracker file is not the one' in out, err
    assert kept_tracks(folder, 'cam1') == first - {gone, max(first)}


@pytest.fixture
def cut_data_set(own_copy, tmp_path, capsys):
    footage, tracks = own_copy
    user_tracks = tmp_path / 'tracks'
    shutil.copytree(tracks, user_tracks)
    assert cut(capsys, footage, user_tracks, tmp_path / 'reid-data')[0] == 0
    return footage, user_tracks, tmp_path / 'reid-data'


def associate(root, out, *extra):
    return associate_cli.main(['--root', str(root), '-s', 'shop', '--out', str(out), *TINY_MODEL,
                               *extra])


@pytest.mark.parametrize('where', ['tracks', 'tracks/..', 'footage', 'footage/cam1', 'data'])
def test_associate_never_writes_among_the_inputs(cut_data_set, tmp_path, capsys, where):
    footage, tracks, root = cut_data_set
    out = {'tracks': tracks, 'tracks/..': tracks.parent, 'footage': footage,
           'footage/cam1': os.path.join(footage, 'cam1'), 'data': root / 'shop'}[where]
    before_tracks, before_footage = tree(tracks), tree(footage)
    code = associate(root, out, '--footage', footage)
    err = capsys.readouterr().err
    one_line_refusal(code, err, f'--out "{out}"')
    assert tree(tracks) == before_tracks and tree(footage) == before_footage


def test_associate_refuses_a_tracker_file_edited_since_the_cut(cut_data_set, tmp_path, capsys):
    _, tracks, root = cut_data_set
    rows = read_mot_file(str(tracks / 'cam2.txt'))
    drop_track(tracks / 'cam2.txt', int(rows[0, 1]))
    code = associate(root, tmp_path / 'out')
    err = capsys.readouterr().err
    one_line_refusal(code, err, 'cam2.txt', 'is not the one camera "cam2"', 'dal-make-tracklets')
    assert not (tmp_path / 'out' / 'cam2.txt').exists()
