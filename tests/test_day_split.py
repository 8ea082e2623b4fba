"""The day-split measurement's pieces: footage cut in two days, the same tracklets either way,
the ceiling a carry can reach, the table's verdict; and dal-benchmark's search part."""
import os
import os.path as osp

import pytest

from dal_torchreid.benchmarks import day_split
from dal_torchreid.benchmarks.day_split import (
    DAY_TWO_TRACKS, carry_ceiling, format_rows, split_footage, split_lines
)
from footage_fixtures import (  # noqa: F401  (fixtures)
    TINY_SETTINGS, forget_footage_datasets, tiny_footage
)


def test_lines_are_cut_at_a_frame_and_day_two_numbered_from_one():
    lines = ['# a comment\n', '1,7,10,20,5,9,0.9,-1,-1,-1\n', '45,7,11,20,5,9,0.9,-1,-1,-1\n',
             '46,7,12,20,5,9,0.8,-1,-1,-1\n', '90,3,1.5,2,3,4,1,1,0.5\n', '\n']
    first, second, both = split_lines(lines, 45)
    assert first == ['1,7,10,20,5,9,0.9,-1,-1,-1', '45,7,11,20,5,9,0.9,-1,-1,-1']
    assert second == ['1,7,12,20,5,9,0.8,-1,-1,-1', '45,3,1.5,2,3,4,1,1,0.5']
    assert both == first + [f'46,{7 + DAY_TWO_TRACKS},12,20,5,9,0.8,-1,-1,-1',
                            f'90,{3 + DAY_TWO_TRACKS},1.5,2,3,4,1,1,0.5']


def test_the_two_days_and_both_together_hold_the_same_tracklets(tiny_footage, tmp_path):
    from dal_torchreid.footage import make_tracklets, read_footage_tracklets
    footage, tracks, _ = tiny_footage
    split = split_footage(footage, tracks, str(tmp_path / 'split'))
    assert split['at'] == {'cam1': 45, 'cam2': 45, 'cam3': 45}
    for day in ('day1', 'day2'):
        frames = sorted(os.listdir(osp.join(split[day][0], 'cam1', 'img1')))
        assert frames[0] == '000001.png' and frames[-1] == '000045.png' and len(frames) == 45
    for camera in ('cam1', 'cam2', 'cam3'):
        with open(osp.join(tracks, camera + '.txt')) as f:
            original = [line for line in f if line.strip()]
        counts = [sum(1 for _ in open(osp.join(split[day][1], camera + '.txt')))
                  for day in ('day1', 'day2', 'both')]
        assert counts[0] + counts[1] == counts[2] == len(original)
    root = str(tmp_path / 'root')
    keys = {}
    for day in ('day1', 'day2', 'both'):
        make_tracklets(*split[day], root, f'tiny_{day}', TINY_SETTINGS,
                       stream=open(os.devnull, 'w'))
        keys[day] = [(t.camera, t.track) for t in read_footage_tracklets(osp.join(root,
                                                                               f'tiny_{day}'))]
    together = sorted((int(t >= DAY_TWO_TRACKS), c, t % DAY_TWO_TRACKS) for c, t in keys['both'])
    assert together == sorted([(0, c, t) for c, t in keys['day1']]
                              + [(1, c, t) for c, t in keys['day2']])
    assert split_footage(footage, tracks, str(tmp_path / 'split')) == split  # reused


def test_the_ceiling_gives_each_person_the_day_one_id_that_scores_best():
    # day 1: id 1 holds persons A and B (a mistake), id 2 holds A alone
    day_one_ids, day_one_truth = [1, 1, 1, 2], ['A', 'B', 'B', 'A']
    ids = carry_ceiling(day_one_ids, day_one_truth, ['A', 'B', 'C', None])
    assert ids[0] == 2  # id 2 gives A's pairs without B's false ones
    assert ids[1] == 1  # B is only under id 1
    assert ids[2] not in day_one_ids and ids[3] not in day_one_ids + ids[:3]


def _row(seed, a, b):
    score = {'precision': 1.0, 'recall': 1.0, 'f1': 0.0}
    return {'seed': seed, 'tracklets': [10, 5], 'people': [6, 3, 3], 'threshold': 0.8,
            'carried_ids': 3, 'new_ids': 0,
            'carried': {'across_days': dict(score, f1=a), 'across_cameras': dict(score, f1=a)},
            'together': {'across_days': dict(score, f1=b), 'across_cameras': dict(score, f1=b)},
            'ceiling': {'across_days': dict(score, f1=b)}}


def test_the_table_says_whether_the_target_is_met_on_every_seed():
    assert 'MET' in format_rows([_row(1, 0.96, 1.0), _row(2, 0.5, 0.5)]).splitlines()[-2]
    text = format_rows([_row(1, 0.96, 1.0), _row(2, 0.4, 0.5)])
    assert 'NOT MET' in text and '0.80x' in text
    assert day_split.TARGET == 0.95


def test_the_benchmark_search_part_times_the_gallery_search_without_the_data_set():
    from dal_torchreid.benchmarks import speed
    assert 'search' in speed.PARTS and 'search' not in speed.DEFAULT_PARTS
    report = speed.run_benchmark(small=True, threads=1, parts=['search'])
    rows = report['search_scale']['rows']
    assert [r['tracklets'] for r in rows] == [1000, 10_000]
    assert all(r['top100_s'] > 0 and r['all_s'] > 0 for r in rows)
    assert 'search over a gallery' in speed.format_report(report)
    with pytest.raises(SystemExit):
        speed.parse_args(['--parts', 'search,find'])
