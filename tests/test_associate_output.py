"""What dal-associate writes into OUT, and how it stops: the output rows of the footage
reliability round (S1, S4, S5, S10, S11 and the one-line errors of dal-associate).

Each test cuts its own copy of the tiny synthetic footage where it needs to change it
(tracker lines in another format, a camera filtered out, other camera names)."""
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from urllib.parse import unquote

import numpy as np
import pytest
import torch

from cli_helpers import subprocess_env
from dal_torchreid.cli.associate import main
from dal_torchreid.footage import make_tracklets, read_footage_tracklets, read_mot_file
from dal_torchreid.footage.association import associate_tracklets
from dal_torchreid.files.errors import WriteError
from dal_torchreid.footage.report import write_report
from footage_fixtures import (  # noqa: F401  (fixtures)
    TINY_SETTINGS, forget_footage_datasets, tiny_footage, tiny_tracklets, tree
)

TINY_MODEL = ['model.name', 'resnet18', 'model.pretrained', 'False', 'use_gpu', 'False',
              'data.height', '32', 'data.width', '16', 'train.seed', '3']


def copy_footage(tiny_footage, base, cameras=None, rename=None):
    """A copy of the tiny footage and tracks under ``base``: only ``cameras`` (default all),
    each renamed by ``rename`` (old -> new); returns ``(footage, tracks)``."""
    footage, tracks, _ = tiny_footage
    rename = rename or {}
    out_footage, out_tracks = base / 'footage', base / 'tracks'
    out_tracks.mkdir(parents=True)
    for camera in cameras or ('cam1', 'cam2', 'cam3'):
        new = rename.get(camera, camera)
        shutil.copytree(os.path.join(footage, camera), out_footage / new)
        if new != camera:
            os.rename(out_footage / new / f'{camera}.avi', out_footage / new / f'{new}.avi')
        shutil.copy(os.path.join(tracks, camera + '.txt'), out_tracks / f'{new}.txt')
    return out_footage, out_tracks


def cut(footage, tracks, root, name='shop'):
    make_tracklets(str(footage), str(tracks), str(root), name, TINY_SETTINGS,
                   stream=open(os.devnull, 'w'))
    return str(root), name


def associate(root, name, out, *extra):
    return main(['--root', str(root), '-s', name, '--out', str(out), *TINY_MODEL, *extra])


def one_line(code, err, *expected):
    assert code == 2, err
    assert 'Traceback' not in err and len(err.strip().splitlines()) == 1, err
    for text in expected:
        assert text in err, err


def read_csv(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


# S1: OUT/<camera>.txt is the tracker's own lines, only the id replaced

def tracker_styles(lines, crlf=False):
    """The tracker's lines written five ways: as they are, 6 columns, spaces, more digits
    and class/visibility columns after ", ", 7 columns."""
    styled = []
    for i, line in enumerate(lines):
        v = line.strip().split(',')
        style = [','.join(v), ','.join(v[:6]), ' '.join(v),
                 ', '.join(v[:2] + [f'{float(x):.6f}' for x in v[2:6]] + [v[6] + '17', '1',
                                                                         '0.83']),
                 ','.join(v[:7])][i % 5]
        styled.append(style + ('\r\n' if crlf else '\n'))
    return styled


FIELDS = re.compile(r'^([^ ,]+[ ,]+)([^ ,]+)(.*)$', re.S)  # first value, id, the rest


def track_of(line):
    return int(float(FIELDS.match(line).group(2)))


def with_id(line, track_id):
    head, _, tail = FIELDS.match(line).groups()
    return f'{head}{track_id}{tail}'


def test_tracker_files_are_the_trackers_lines_with_only_the_id_replaced(tiny_footage, tmp_path,
                                                                         capsys):
    footage, tracks = copy_footage(tiny_footage, tmp_path / 'user')
    for camera in ('cam1', 'cam2', 'cam3'):
        path = tracks / f'{camera}.txt'
        lines = tracker_styles(open(path).readlines(), crlf=camera == 'cam2')
        path.write_bytes(''.join(lines).encode())
    root, name = cut(footage, tracks, tmp_path / 'data')
    out = tmp_path / 'out'
    assert associate(root, name, out) == 0, capsys.readouterr().err
    global_of = {(r['camera'], int(r['track'])): r['global_id']
                 for r in read_csv(out / 'identities.csv')}
    for camera in ('cam1', 'cam2', 'cam3'):
        source = (tracks / f'{camera}.txt').read_bytes().decode()
        expected = [with_id(line, global_of[(camera, track_of(line))])
                    for line in source.splitlines(keepends=True)
                    if (camera, track_of(line)) in global_of]
        assert (out / f'{camera}.txt').read_bytes() == ''.join(expected).encode()
        assert len(expected) < len(source.splitlines())  # the filtered tracks left out


# S4: every camera of the data set gets its file, its count and its people scored

def test_a_camera_with_every_track_filtered_gets_a_file_a_count_and_its_people_scored(
        tiny_footage, tmp_path, capsys):
    footage, tracks = copy_footage(tiny_footage, tmp_path / 'user')
    lines = open(tracks / 'cam3.txt').read().splitlines()
    low = [','.join(v[:6] + ['0.1'] + v[7:]) for v in (line.split(',') for line in lines)]
    (tracks / 'cam3.txt').write_text('\n'.join(low) + '\n')  # below --min-conf 0.5: all dropped
    root, name = cut(footage, tracks, tmp_path / 'data')
    out = tmp_path / 'out'
    assert associate(root, name, out, '--footage', str(footage)) == 0, capsys.readouterr().err
    assert (out / 'cam3.txt').read_bytes() == b''
    summary = json.load(open(out / 'summary.json'))
    assert summary['cameras'] == ['cam1', 'cam2', 'cam3']
    cam3_tracks = len({line.split(',')[1] for line in lines})
    assert summary['tracker_files']['cam3'] == {'boxes': 0, 'tracks_left_out': cam3_tracks}
    scores = json.load(open(out / 'scores.json'))
    gt_boxes = 0
    for camera in ('cam1', 'cam2', 'cam3'):
        gt = read_mot_file(str(footage / camera / 'gt' / 'gt.txt'))
        gt_boxes += int((gt[:, 6] != 0).sum())
    # every ground-truth box is found or missed: cam3's people count as missed
    assert scores['idf1']['IDTP'] + scores['idf1']['IDFN'] == gt_boxes
    assert scores['cameras']['cam3']['tracker_boxes'] == len(lines)
    assert scores['cameras']['cam3']['ground_truth_boxes'] > 0


def test_ground_truth_of_other_footage_is_refused_before_anything_is_computed(
        tiny_footage, tiny_tracklets, tmp_path, capsys):
    footage, _, _ = tiny_footage
    other = tmp_path / 'other-footage'
    for camera in ('cam1', 'cam2', 'cam3'):
        (other / camera / 'gt').mkdir(parents=True)
        rows = [line.split(',') for line in
                open(os.path.join(footage, camera, 'gt', 'gt.txt')).read().splitlines()]
        moved = [','.join(v[:2] + [str(float(v[2]) + 500)] + v[3:]) for v in rows]
        (other / camera / 'gt' / 'gt.txt').write_text('\n'.join(moved) + '\n')
    root, name = tiny_tracklets
    out = tmp_path / 'out'
    code = associate(root, name, out, '--footage', str(other))
    one_line(code, capsys.readouterr().err, f'--footage "{other}"',
             'matches any of the', 'nothing was scored')
    assert not (out / 'matches.csv').exists()


# S5: an earlier run's files in OUT are moved aside, never deleted, never left beside

def test_an_earlier_runs_files_are_moved_aside_with_their_time(tiny_footage, tiny_tracklets,
                                                                tmp_path, capsys):
    footage, _, _ = tiny_footage
    root, name = tiny_tracklets
    out = tmp_path / 'out'
    assert associate(root, name, out, '--footage', footage) == 0
    first = tree(out)
    assert 'scores.json' in first and 'cam3.txt' in first
    written = time.strftime('%Y-%m-%d-%H-%M-%S',
                            time.localtime(os.path.getmtime(out / 'summary.json')))
    user2, data2 = tmp_path / 'user2', tmp_path / 'data2'
    root2, name2 = cut(*copy_footage(tiny_footage, user2, ['cam1', 'cam2']), data2, 'two')
    with pytest.warns(UserWarning, match='earlier run'):
        assert associate(root2, name2, out) == 0, capsys.readouterr().err
    aside = out / f'earlier-{written}'
    assert tree(aside) == first  # every file of the first run, byte for byte
    now = sorted(os.listdir(out))
    assert now == sorted(['cam1.txt', 'cam2.txt', 'identities.csv', 'matches.csv',
                          'camera_links.json', 'report.html', 'summary.json', 'thumbs', 'gallery.pth', aside.name])
    assert json.load(open(out / 'summary.json'))['cameras'] == ['cam1', 'cam2']
    # the earlier report still finds its thumbnails beside it
    for src in re.findall(r'src="([^"]+)"', (aside / 'report.html').read_text()):
        assert (aside / unquote(src)).is_file()


def test_files_in_the_way_of_this_run_are_moved_aside_not_met_after_the_features(
        tiny_tracklets, tmp_path, capsys):
    root, name = tiny_tracklets
    out = tmp_path / 'out'
    (out / 'report.html').mkdir(parents=True)  # a folder where the report goes
    (out / 'thumbs').write_text('not a folder')
    with pytest.warns(UserWarning, match='earlier run'):
        assert associate(root, name, out) == 0, capsys.readouterr().err
    [aside] = [n for n in os.listdir(out) if n.startswith('earlier-')]
    assert (out / aside / 'report.html').is_dir()
    assert (out / aside / 'thumbs').read_text() == 'not a folder'
    assert (out / 'report.html').is_file() and (out / 'thumbs').is_dir()


def test_out_a_file_is_one_line_before_any_feature(tiny_tracklets, tmp_path, capsys):
    root, name = tiny_tracklets
    out = tmp_path / 'out'
    out.write_text('mine')
    one_line(associate(root, name, out), capsys.readouterr().err, f'"{out}"', 'is a file')
    assert out.read_text() == 'mine'


@pytest.mark.skipif(os.geteuid() == 0, reason='root writes into read-only folders')
def test_a_read_only_out_is_one_line_before_any_feature(tiny_tracklets, tmp_path, capsys):
    root, name = tiny_tracklets
    out = tmp_path / 'out'
    out.mkdir()
    out.chmod(0o555)
    try:
        one_line(associate(root, name, out), capsys.readouterr().err, f'"{out}"')
    finally:
        out.chmod(0o755)
    assert os.listdir(out) == []


# S10: thumbnails that cannot be written, and camera names that are not URLs

def tiny_association(root, name):
    tracklets = read_footage_tracklets(os.path.join(root, name))
    features = torch.randn(len(tracklets), 8, generator=torch.Generator().manual_seed(0))
    return associate_tracklets(tracklets, torch.nn.functional.normalize(features, dim=1))


def test_a_thumbnail_that_cannot_be_written_names_its_file(tiny_tracklets, tmp_path):
    root, name = tiny_tracklets
    association = tiny_association(root, name)
    first = association.tracklets[0]
    blocked = tmp_path / 'thumbs' / f'{first.camera}_{first.track}.jpg'
    blocked.mkdir(parents=True)  # imwrite cannot write there
    with pytest.raises(WriteError, match=re.escape(f'"{blocked}"')):
        write_report(str(tmp_path / 'report.html'), association)


def test_camera_names_with_hash_and_question_mark_link_their_thumbnails(tiny_footage, tmp_path,
                                                                         capsys):
    footage, tracks = copy_footage(tiny_footage, tmp_path / 'user',
                                   rename={'cam1': 'cam#1', 'cam2': 'cam?2'})
    root, name = cut(footage, tracks, tmp_path / 'data')
    out = tmp_path / 'out'
    assert associate(root, name, out) == 0, capsys.readouterr().err
    sources = re.findall(r'<img src="([^"]+)"', (out / 'report.html').read_text())
    assert any('%23' in s for s in sources) and any('%3F' in s for s in sources)
    for src in sources:
        assert '#' not in src and '?' not in src
        assert (out / unquote(src)).is_file()


# The report: legend, thumbnails clear of other boxes, doubtful tracks marked

def test_report_legend_clear_thumbnails_and_doubtful_tracks(tiny_footage, tiny_tracklets,
                                                            tmp_path, capsys):
    from dal_torchreid.footage.thumbnails import (
        boxes_by_frame, covered_share, thumbnail_crop, track_marks
    )
    root, name = tiny_tracklets
    _, tracks, _ = tiny_footage
    out = tmp_path / 'out'
    assert associate(root, name, out) == 0
    text = (out / 'report.html').read_text()
    assert re.search(r'id="legend".*green</span>: same global id', text)
    clear = crowded = 0
    for t in read_footage_tracklets(os.path.join(root, name)):
        rows = read_mot_file(os.path.join(tracks, t.camera + '.txt'))
        frames = boxes_by_frame(rows)
        shares = []
        for frame, box in zip(t.frames, t.boxes):
            other = frames[frame][frames[frame][:, 1] != t.track][:, 2:6]
            shares.append(covered_share(box, other))
        chosen = thumbnail_crop(t, frames)
        assert shares[chosen] == min(shares)  # none overlaps where one exists
        clear += shares[chosen] == 0
        crowded += max(shares) > 0
        marks = track_marks(rows[rows[:, 1] == t.track])
        if marks:
            assert all(m in text for m in marks)
    assert clear and crowded  # the footage has crossings: the choice mattered
    # a track of 20 px boxes at confidence 0.3 is marked both ways
    rows = np.array([[f, 5, 10, 10, 8, 20, 0.3] for f in range(1, 6)], float)
    assert track_marks(rows) == ['low confidence 0.30', 'tiny: 20 px high']
    assert track_marks(np.array([[1, 5, 10, 10, 30, 90, -1]], float)) == []


# the association's matches bounded by the tracklets: associate.top_k 10**9

def test_a_huge_top_k_lists_every_match(tiny_tracklets, tmp_path, capsys):
    root, name = tiny_tracklets
    out = tmp_path / 'out'
    assert associate(root, name, out, 'associate.top_k', '1000000000') == 0
    tracklets = read_footage_tracklets(os.path.join(root, name))
    matches = read_csv(out / 'matches.csv')
    for t in tracklets:
        mine = [m for m in matches if (m['camera'], int(m['track'])) == (t.camera, t.track)]
        assert len(mine) == sum(u.camera != t.camera for u in tracklets)


# S11 and the command line: options it would ignore, --print-config, -s, SIGINT

@pytest.mark.parametrize('option', [['-t', 'prid2011'], ['--engine', 'cc']])
def test_options_it_would_ignore_are_not_offered(tiny_tracklets, tmp_path, capsys, option):
    root, name = tiny_tracklets
    with pytest.raises(SystemExit) as stop:
        associate(root, name, tmp_path / 'out', *option)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and f'unrecognized arguments: {option[0]}' in err
    assert not (tmp_path / 'out').exists()
    with pytest.raises(SystemExit):
        main(['--help'])
    assert not re.search(rf'(^|[\s\[]){re.escape(option[0])}\b', capsys.readouterr().out)


def test_print_config_needs_no_out(capsys):
    assert main(['--print-config', 'associate.eps', '0.4']) == 0
    assert 'eps: 0.4' in capsys.readouterr().out


def test_out_missing_is_one_line(tiny_tracklets, capsys):
    root, name = tiny_tracklets
    code = main(['--root', root, '-s', name, *TINY_MODEL])
    one_line(code, capsys.readouterr().err, '--out is required')


def test_several_data_sets_are_one_line_and_the_docs_say_one(tiny_tracklets, tmp_path, capsys):
    root, name = tiny_tracklets
    code = main(['--root', root, '-s', name, name, '--out', str(tmp_path / 'out'), *TINY_MODEL])
    one_line(code, capsys.readouterr().err, 'one tracklet data set at a time, not 2')
    docs = open(os.path.join(os.path.dirname(__file__), '..', 'docs', 'own_data.md')).read()
    assert 'dal-associate` takes one' in docs


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_sigint_is_one_line_and_releases_the_lock(tiny_tracklets, tmp_path):
    root, name = tiny_tracklets
    out = tmp_path / 'out'
    slow = ['model.name', 'resnet18', 'model.pretrained', 'False', 'use_gpu', 'False',
            'data.height', '256', 'data.width', '128', 'test.frame_batch_size', '1']
    proc = subprocess.Popen(
        [sys.executable, '-m', 'dal_torchreid.cli.associate', '--root', root, '-s', name,
         '--out', str(out), *slow], env=subprocess_env(), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)
    deadline_at = time.time() + 120
    while not (out / 'run.lock').is_file() and proc.poll() is None and time.time() < deadline_at:
        time.sleep(0.02)
    assert proc.poll() is None, 'it ended before it was signalled'
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert 'Traceback' not in err
    [line] = [text for text in err.splitlines() if text.startswith('error: ')]
    assert line.startswith(f'error: interrupted by SIGINT; the lock of "{out}" is released')
    assert not (out / 'run.lock').exists() and not (out / 'summary.json').exists()
