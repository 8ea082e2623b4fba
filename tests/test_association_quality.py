"""The association-quality benchmark's evaluation (no training): scores on a case whose
answer is known, the IDF1 of tiny footage, the tables and the target lines."""
import numpy as np

from dal_torchreid.benchmarks.association_quality import (
    AUTO, DBSCAN, OFF, evaluate, ground_truth, markdown, target_lines
)
from dal_torchreid.footage import read_footage_tracklets
from dal_torchreid.footage.linking import tracklet_times
from footage_fixtures import (  # noqa: F401  (fixtures)
    forget_footage_datasets, tiny_footage, tiny_tracklets
)


def known_case(people=10, cameras=3, dim=32, seed=0):
    """Each person walks cam0 -> cam1 -> cam2, 40 frames after leaving the one before;
    features: a centre per person plus a little noise; but person 2's track in cam2 is a
    false track (no true person, looks like no one)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(people, dim))
    rows = [(c, 200 * p + 60 * c, 200 * p + 60 * c + 19, p) for p in range(people)
            for c in range(cameras)]
    table = np.array(rows)
    times = tracklet_times(table[:, 0], table[:, 1], table[:, 2], np.full(len(table), 0.1),
                           np.full(len(table), 0.9))
    features = centres[table[:, 3]] + 0.05 * rng.normal(size=(len(table), dim))
    features[3 * 2 + 2] = rng.normal(size=dim)  # the false track looks like no one
    truth = [None if (p, c) == (2, 2) else int(p) for c, _, _, p in rows]
    return times, features.astype(np.float32), truth


def test_a_known_answer_is_found():
    times, features, truth = known_case()
    rows = evaluate(times, features, truth, id_f1=lambda ids: len(set(ids)) / 100,
                    grid=(0.0, 1.0, 2.0))
    assert [r['method'] for r in rows] == [DBSCAN, AUTO, OFF]
    # 28 true cross-camera pairs (3 a person, 1 of person 2), all found
    assert rows[0]['recall'] == 1.0 and rows[0]['precision'] >= round(28 / 30, 4)
    for r in rows[1:]:
        assert r['f1'] == r['precision'] == r['recall'] == 1.0, r
        assert r['idf1'] == 0.11  # 10 people and the false track alone
        assert np.isfinite(r['threshold']) and r['best_fixed_f1'] == 1.0
        assert r['best_fixed_threshold'] in (0.0, 1.0, 2.0, r['threshold'])
    assert rows[2]['links_used'] is False
    only_auto = evaluate(times, features, truth, links=('auto',), grid=(1.0,))
    assert [r['method'] for r in only_auto] == [DBSCAN, AUTO] and only_auto[0]['idf1'] is None


def test_twins_merge_by_appearance_and_the_best_fixed_threshold_is_scored():
    times, features, truth = known_case()
    features[3:6] = features[0:3]  # person 1 looks exactly like person 0
    rows = evaluate(times, features, truth, links=('off',), grid=(1.0,))
    # the twins' 6 tracklets in one id: 12 cross-camera pairs, 6 of them true
    for r in rows:
        assert r['recall'] == 1.0 and r['precision'] <= round(28 / 34, 4), r
    off = rows[1]  # at 1.0 exactly the twins merge: F1 56 / 62, the best there is
    assert off['best_fixed_f1'] == round(56 / 62, 4) >= off['f1']


def test_idf1_of_tiny_footage_is_highest_with_the_true_persons(tiny_footage, tiny_tracklets):
    root, name = tiny_tracklets
    tracklets = read_footage_tracklets(f'{root}/{name}')
    truth, id_f1 = ground_truth(root, name, tracklets)
    assert len(truth) == len(tracklets) and any(t is not None for t in truth)
    spare = max(t for t in truth if t is not None) + 1
    ids = [t if t is not None else spare + i for i, t in enumerate(truth)]
    alone = list(range(len(tracklets)))
    assert id_f1(ids) > id_f1(alone) and 0.5 < id_f1(ids) <= 1.0


def test_tables_and_target_lines():
    def row(setting, seed, features, method, f1, **extra):
        return dict(data_set=f'{setting}_s{seed}', setting=setting, seed=seed, features=features,
                    method=method, f1=f1, precision=f1, recall=f1, idf1=0.5, **extra)
    agglo = dict(threshold=1.5, links_used=True, best_fixed_f1=0.93, best_fixed_threshold=1.4)
    rows = [row('route', s, 'dal', DBSCAN, 0.7) for s in (1, 2)]
    rows += [row('route', s, 'dal', AUTO, f1, **agglo) for s, f1 in ((1, 0.92), (2, 0.90))]
    rows += [row('route', s, 'untrained', AUTO, 0.3, **agglo) for s in (1, 2)]
    rows += [row('random', 1, 'dal', DBSCAN, 0.8), row('random', 1, 'dal', AUTO, 0.77, **agglo)]
    lines = target_lines(rows)
    assert lines == [
        'met: route: DAL agglomerative F1 >= 0.90: 0.910 (0.920, 0.900)',
        'met: route: DAL agglomerative F1 >= DAL DBSCAN F1 + 0.10: 0.910 (0.920, 0.900) vs '
        '0.700 (0.700, 0.700)',
        'met: route: DAL agglomerative F1 >= untrained agglomerative F1: 0.910 (0.920, 0.900) '
        'vs 0.300 (0.300, 0.300)',
        'NOT met: random: agglomerative (links auto) F1 >= 0.97 x DBSCAN F1: 0.770 (0.770) vs '
        '0.800 (0.800)',
        'met: route: label-free threshold F1 (DAL, links auto) within 0.05 of the best fixed '
        'threshold\'s: 0.910 (0.920, 0.900) vs 0.930 (0.930, 0.930)',
        'NOT met: random: label-free threshold F1 (DAL, links auto) within 0.05 of the best '
        'fixed threshold\'s: 0.770 (0.770) vs 0.930 (0.930)']
    table = markdown(rows)
    assert ('| route_s1 | dal | agglomerative, links auto | 0.920 | 0.920 | 0.920 | 0.500 | '
            '1.50 | yes | 0.930 (1.40) |') in table
    assert '| route_s1 | dal | dbscan | 0.700 | 0.700 | 0.700 | 0.500 | - | - | - |' in table
    assert ('| route | dal | agglomerative, links auto | 2 | 0.910 | 0.910 | 0.910 | 0.500 | '
            '0.930 |') in table
    assert table.splitlines()[1] == '|---|---|---|---|---|---|---|---|---|---|' 
    assert target_lines(rows[:2]) == []


def test_association_settings_are_taken_and_a_bad_one_is_refused(capsys):
    import pytest
    from dal_torchreid.benchmarks.association_quality import main
    from dal_torchreid.footage.linking import AssociationSettings
    times, features, truth = known_case()
    # a threshold no pair reaches: every tracklet alone, whatever the links
    rows = evaluate(times, features, truth, grid=(), base=AssociationSettings(threshold=1e6))
    assert [r['threshold'] for r in rows[1:]] == [1e6, 1e6]
    assert all(r['recall'] == 0.0 for r in rows[1:])
    for bad in ('bogus=1', 'k_within=-1', 'k=many'):
        with pytest.raises(SystemExit) as stop:
            main(['--root', 'r', '--save-dir', 's', '--association', bad])
        assert stop.value.code == 2 and '--association' in capsys.readouterr().err
