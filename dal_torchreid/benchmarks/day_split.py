"""Ids across days: a demo footage cut in two halves in time, ids carried from one to the other.

For each seed, the synthetic footage of ``dal-demo --footage`` (written under the data
root if absent) is cut at the middle frame of each camera into two "days": the tracker
files, the ground truth and the frames (each camera's frames up to the cut, and those
after it numbered again from 1; lossless PNG, so both days' crops are the pixels the
video decodes to). One model is trained without labels on day 1 as the demo trains DAL
(``configs/own_footage.yaml``), or read from ``--weights``. Then:

(a) **carried**: ``dal-associate`` of day 1 writes a gallery; day 2 is associated with
    ``--gallery`` of it (ids carried, :mod:`dal_torchreid.footage.carried_ids`);
(b) **together**: the two halves are associated at once, as one footage (the original
    video, each track cut at the middle frame, its day-2 part a track of its own), so both
    see the same tracklets.

Both are scored on the tracklets of both days against the ground truth's global ids
(:func:`~dal_torchreid.footage.scores.tracklet_persons`): the pairwise precision, recall and
F1 over pairs of tracklets of *different days* (is the person of day 2 given the id of
day 1?), and, for reference, over pairs of different cameras or days. The target: (a)'s
cross-day F1 at least 0.95x (b)'s. Day 1's ids are published before day 2 is seen, so no
carry can do better than day 1's association allows: ``ceiling`` is the cross-day F1 when
the ground truth picks each day-2 person's id among day 1's ids and a new one
(:func:`carry_ceiling`: about the best a carry could reach, not a method). Everything the
association does is called as ``dal-associate`` calls it, so after a change of the
association this is simply run again.

Example::

    python -m dal_torchreid.benchmarks.day_split --seeds 1,2,3 --root reid-data \\
        --save-dir log/day-split --threads 1
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import glob
import json
import os
import os.path as osp
import shutil
import statistics
import sys
import time
from typing import Sequence

import cv2
import torch

from dal_torchreid.demo.footage import (
    DEFAULT_CONFIG, DEMO_FOOTAGE, DEMO_TRACKLETS, demo_footage_names, ensure_demo_footage
)
from dal_torchreid.experiment.builder import build_model
from dal_torchreid.experiment.config import load_config
from dal_torchreid.experiment.run import run_experiment
from dal_torchreid.footage import make_tracklets, read_footage_tracklets
from dal_torchreid.footage.evaluation import associate_from_config
from dal_torchreid.footage.scores import pairwise_scores, tracklet_persons
from dal_torchreid.footage.sources import CameraFootage

TARGET = 0.95  # (a)'s cross-day pairwise F1 over (b)'s
DAY_TWO_TRACKS = 100_000  # (b): a day-2 track's id, the tracker's plus this
DAYS = ('day1', 'day2', 'both')


def _frame_of(line: str) -> int | None:
    """The frame of a MOTChallenge line (None for a comment or an empty line)."""
    text = line.strip()
    if not text or text.startswith('#'):
        return None
    return int(float(text.split(',', 1)[0]))


def split_lines(lines: Sequence[str], at: int) -> tuple[list[str], list[str], list[str]]:
    """A MOTChallenge file's lines cut at frame ``at``: ``(day 1, day 2, both)``: lines of
    frames up to ``at``; those after it with frames numbered from 1; and all of them with
    the frames kept and each day-2 line's id raised by :data:`DAY_TWO_TRACKS`."""
    first, second, both = [], [], []
    for line in lines:
        frame = _frame_of(line)
        if frame is None:
            continue
        rest = line.strip().split(',', 2)
        if frame <= at:
            first.append(line.strip())
            both.append(line.strip())
        else:
            second.append(','.join([str(frame - at)] + rest[1:]))
            both.append(','.join([rest[0], str(int(float(rest[1])) + DAY_TWO_TRACKS), rest[2]]))
    return first, second, both


def _write_lines(path: str, lines: Sequence[str]) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.writelines(line + '\n' for line in lines)


def split_footage(footage: str, tracks: str, out: str) -> dict:
    """Writes the two days of ``footage`` (and ``tracks``) under ``out`` (see the module);
    returns ``{'day1': [footage, tracks], 'day2': ..., 'both': ..., 'at': {camera: frame}}``.
    A split already complete there (``out/split.json``, its folders all present) is
    reused."""
    record = osp.join(out, 'split.json')
    if osp.isfile(record):
        with open(record) as f:
            split = json.load(f)
        if all(osp.isdir(folder) for day in DAYS for folder in split[day]):
            return split
    folders = {day: [osp.join(out, day, 'footage'), osp.join(out, day, 'tracks')]
               for day in ('day1', 'day2')}
    folders['both'] = [footage, osp.join(out, 'both', 'tracks')]
    cameras = sorted(n for n in os.listdir(tracks) if n.endswith('.txt'))
    at = {}
    for name in cameras:
        camera = name[:-4]
        source = CameraFootage(osp.join(footage, camera))
        frames = source.length or 0
        at[camera] = frames // 2
        for day, numbers in (('day1', range(1, at[camera] + 1)),
                             ('day2', range(at[camera] + 1, frames + 1))):
            images = osp.join(folders[day][0], camera, 'img1')
            os.makedirs(images, exist_ok=True)
            for number, image in source.frames(numbers):
                shown = number if day == 'day1' else number - at[camera]
                cv2.imwrite(osp.join(images, f'{shown:06d}.png'), image,
                            [cv2.IMWRITE_PNG_COMPRESSION, 1])
        with open(osp.join(tracks, name)) as f:
            first, second, both = split_lines(f.readlines(), at[camera])
        _write_lines(osp.join(folders['day1'][1], name), first)
        _write_lines(osp.join(folders['day2'][1], name), second)
        _write_lines(osp.join(folders['both'][1], name), both)
        with open(osp.join(footage, camera, 'gt', 'gt.txt')) as f:
            gt_first, gt_second, _ = split_lines(f.readlines(), at[camera])
        _write_lines(osp.join(folders['day1'][0], camera, 'gt', 'gt.txt'), gt_first)
        _write_lines(osp.join(folders['day2'][0], camera, 'gt', 'gt.txt'), gt_second)
    result = dict(folders, at=at)
    with open(record, 'w') as f:
        json.dump(result, f, indent=2)
    return result


def dataset_names(seed: int) -> dict[str, str]:
    """The tracklet data set of each day (and of both together) of seed ``seed``."""
    return {day: f'day_split_s{seed}_{day}' for day in DAYS}


def train_day_one(root: str, name: str, save_dir: str, seed: int, config_file: str,
                  opts: Sequence[str] = ()) -> str:
    """Trains DAL without labels on data set ``name`` as ``dal-demo --footage`` does;
    returns its last checkpoint (a finished run in ``save_dir`` is reused)."""
    def last():
        found = glob.glob(osp.join(save_dir, 'model', 'model.pth.tar-*'))
        return max(found, key=lambda p: int(p.rsplit('-', 1)[1])) if found else None
    if osp.isfile(osp.join(save_dir, 'results.json')) and last():
        return last()
    cfg = load_config(config_file, ['data.root', root, 'data.sources', [name],
                                    'data.targets', [], 'train.seed', seed, 'loss.name', 'dal']
                      + list(opts))
    run_experiment(cfg, save_dir=save_dir)
    return last()


def cross_day_scores(ids: Sequence[int], truth: Sequence, days: Sequence[int],
                     cameras: Sequence[str]) -> dict:
    """``{'across_days': ..., 'across_cameras': ...}``: pairwise scores over pairs of
    tracklets of different days, and over pairs of different (day, camera)."""
    views = [f'{d}/{c}' for d, c in zip(days, cameras)]
    index = {v: i for i, v in enumerate(sorted(set(views)))}
    return {'across_days': pairwise_scores(ids, truth, list(days)),
            'across_cameras': pairwise_scores(ids, truth, [index[v] for v in views])}


def carry_ceiling(day_one_ids: Sequence[int], day_one_truth: Sequence,
                  day_two_truth: Sequence, passes: int = 2) -> list[int]:
    """Day-2 ids chosen with the ground truth, about the best any carry can give with day
    1's ids fixed: all tracklets of a day-2 person take one id, a day-1 id or a new one,
    chosen person by person for the highest cross-day pairwise F1 (``passes`` rounds,
    starting from the id most of the person's day-1 tracklets hold). False tracks
    (no person) keep ids of their own."""
    truth = list(day_one_truth) + list(day_two_truth)
    days = [0] * len(day_one_ids) + [1] * len(day_two_truth)
    fresh = max(day_one_ids, default=0) + 1
    held: dict = {}
    for gid, person in zip(day_one_ids, day_one_truth):
        if person is not None:
            held.setdefault(person, []).append(gid)
    people = sorted({p for p in day_two_truth if p is not None})
    choice = {p: max(sorted(set(held[p])), key=held[p].count) if p in held else fresh + i
              for i, p in enumerate(people)}
    new_id = {p: fresh + i for i, p in enumerate(people)}

    def ids(chosen):
        return list(day_one_ids) + [chosen[p] if p is not None else fresh + len(people) + i
                                    for i, p in enumerate(day_two_truth)]

    def f1(chosen):
        return pairwise_scores(ids(chosen), truth, days)['f1']
    for _ in range(passes):
        for p in people:
            options = sorted(set(day_one_ids)) + [new_id[p]]
            choice[p] = max(options, key=lambda g: (f1({**choice, p: g}), g == choice[p]))
    return ids(choice)[len(day_one_ids):]


def _identities(out: str) -> dict[tuple, int]:
    with open(osp.join(out, 'identities.csv'), newline='') as f:
        return {(r['camera'], int(r['track'])): int(r['global_id']) for r in csv.DictReader(f)}


def run_seed(seed: int, root: str, save_dir: str, weights: str | None = None,
             config_file: str = DEFAULT_CONFIG, opts: Sequence[str] = ()) -> dict:
    """Splits, trains (unless ``weights``), associates (a) and (b) and scores both for seed
    ``seed``; returns the row :func:`format_rows` prints (also in
    ``<save_dir>/s<seed>/day_split.json``)."""
    start = time.time()
    footage_config = dataclasses.replace(DEMO_FOOTAGE, seed=seed)
    footage, _ = ensure_demo_footage(root, footage_config, DEMO_TRACKLETS)
    folder, _ = demo_footage_names(seed)
    tracks = osp.join(root, folder, 'tracks')
    work = osp.join(save_dir, f's{seed}')
    split = split_footage(footage, tracks, osp.join(work, 'split'))
    names = dataset_names(seed)
    with open(os.devnull, 'w') as quiet:
        for day in DAYS:
            make_tracklets(*split[day], root, names[day], DEMO_TRACKLETS, stream=quiet)
    weights = weights or train_day_one(root, names['day1'], osp.join(work, 'train-day1'), seed,
                                       config_file, opts)
    cfg = load_config(config_file, ['data.root', root, 'model.load_weights', weights,
                                    'data.sources', [names['day1']], 'data.targets', []]
                      + list(opts))
    model = build_model(cfg, num_classes=1)
    outs = {key: osp.join(work, key) for key in ('a-day1', 'a-day2', 'b-both')}
    for out in outs.values():
        if osp.isdir(out):
            shutil.rmtree(out)
    associate_from_config(cfg, names['day1'], outs['a-day1'], model, footage=split['day1'][0])
    gallery = associate_from_config(cfg, names['day2'], outs['a-day2'], model,
                                    footage=split['day2'][0], gallery=outs['a-day1'])['gallery']
    associate_from_config(cfg, names['both'], outs['b-both'], model, footage=footage)
    rows = {}
    # (a): each day's tracklets, their truth from that day's ground truth
    ids, truth, days, cameras = [], [], [], []
    keys = []
    for d, day in enumerate(('day1', 'day2')):
        tracklets = read_footage_tracklets(osp.join(root, names[day]))
        found = _identities(outs[f'a-{day}'])
        ids += [found[(t.camera, t.track)] for t in tracklets]
        truth += tracklet_persons(split[day][0], split[day][1], tracklets)
        days += [d] * len(tracklets)
        cameras += [t.camera for t in tracklets]
        keys += [(d, t.camera, t.track) for t in tracklets]
    rows['carried'] = cross_day_scores(ids, truth, days, cameras)
    first = days.count(0)
    rows['ceiling'] = cross_day_scores(ids[:first] + carry_ceiling(ids[:first], truth[:first],
                                                                   truth[first:]),
                                       truth, days, cameras)
    # (b): the same tracklets, associated at once
    tracklets = read_footage_tracklets(osp.join(root, names['both']))
    found = _identities(outs['b-both'])
    both_keys = [(int(t.track >= DAY_TWO_TRACKS), t.camera, t.track % DAY_TWO_TRACKS)
                 for t in tracklets]
    if sorted(both_keys) != sorted(keys):
        raise RuntimeError(f'seed {seed}: the two days hold {len(keys)} tracklets, both halves '
                           f'together {len(both_keys)}: not the same tracklets')
    rows['together'] = cross_day_scores(
        [found[(t.camera, t.track)] for t in tracklets],
        tracklet_persons(footage, split['both'][1], tracklets),
        [k[0] for k in both_keys], [t.camera for t in tracklets])
    people = [{p for p, d in zip(truth, days) if d == day and p is not None} for day in (0, 1)]
    row = {'seed': seed, 'tracklets': [days.count(0), days.count(1)],
           'people': [len(people[0]), len(people[1]), len(people[0] & people[1])],
           'threshold': gallery['threshold'], 'threshold_how': gallery['threshold_how'],
           'carried_ids': gallery['carried_ids'], 'new_ids': gallery['new_ids'],
           'weights': weights, **rows, 'seconds': round(time.time() - start, 1)}
    with open(osp.join(work, 'day_split.json'), 'w') as f:
        json.dump(row, f, indent=2)
    return row


def _ratio(a: float, b: float) -> float | None:
    return a / b if b > 0 else None


def format_rows(rows: Sequence[dict]) -> str:
    """The table :func:`main` prints: per seed the cross-day pairwise precision / recall /
    F1 of (a) and (b), their ratio against :data:`TARGET`, and the carry's threshold."""
    lines = [f'{"seed":>4} {"tracklets d1/d2":>15} {"people d1/d2/both":>17} '
             f'{"(a) carried P/R/F1":>20} {"(b) together P/R/F1":>20} {"F1 a/b":>7} '
             f'{"ceiling F1":>10} {"threshold":>9} {"carried":>7} {"new":>4}']
    ratios = []
    for r in rows:
        a, b = r['carried']['across_days'], r['together']['across_days']
        ratio = _ratio(a['f1'], b['f1'])
        ratios.append(ratio)

        def prf(s):
            return f'{s["precision"]:.2f}/{s["recall"]:.2f}/{s["f1"]:.3f}'
        lines.append(f'{r["seed"]:>4} {"/".join(map(str, r["tracklets"])):>15} '
                     f'{"/".join(map(str, r["people"])):>17} {prf(a):>20} {prf(b):>20} '
                     f'{"n/a" if ratio is None else f"{ratio:.2f}x":>7} '
                     f'{r["ceiling"]["across_days"]["f1"]:>10.3f} '
                     f'{r["threshold"]:>9.3f} {r["carried_ids"]:>7} {r["new_ids"]:>4}')
    known = [x for x in ratios if x is not None]
    if known:
        f1a = statistics.mean(r['carried']['across_days']['f1'] for r in rows)
        f1b = statistics.mean(r['together']['across_days']['f1'] for r in rows)
        met = all(x >= TARGET for x in known) and len(known) == len(ratios)
        lines.append(f'mean cross-day F1: (a) {f1a:.3f}, (b) {f1b:.3f} '
                     f'({_ratio(f1a, f1b) or 0:.2f}x); target (a) >= {TARGET}x (b) on every '
                     f'seed: {"MET" if met else "NOT MET"}')
    lines.append('(ceiling: day 2 given day 1\'s ids by the ground truth, about the best a '
                 'carry can do; carried / new: day-2 ids; all cross-camera pairs, '
                 'both days: (a) ' + ', '.join(f'{r["carried"]["across_cameras"]["f1"]:.3f}'
                                               for r in rows) + '; (b) '
                 + ', '.join(f'{r["together"]["across_cameras"]["f1"]:.3f}' for r in rows) + ')')
    return '\n'.join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seeds', default='1,2,3')
    parser.add_argument('--root', default='reid-data', help='data root (the demo footage is '
                        'written there if absent, and the days\' tracklet data sets)')
    parser.add_argument('--save-dir', default='log/day-split')
    parser.add_argument('--weights', default='', help='a trained model for every seed instead '
                        'of training DAL on each seed\'s day 1')
    parser.add_argument('--config-file', default=DEFAULT_CONFIG)
    parser.add_argument('--threads', type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument('opts', nargs='*', metavar='KEY VALUE', help='config overrides')
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(',') if s.strip()]
    rows = [run_seed(seed, args.root, args.save_dir, args.weights or None, args.config_file,
                     args.opts) for seed in seeds]
    print(format_rows(rows))
    with open(osp.join(args.save_dir, 'day_split.json'), 'w') as f:
        json.dump(rows, f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
