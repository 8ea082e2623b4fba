"""dal-search: one person ranked across cameras from the command line and from Python, the
stored gallery searched without a model, and every bad input refused in one line."""
import csv
import html
import os
import os.path as osp
import subprocess
import sys
from html.parser import HTMLParser
from urllib.parse import unquote

import pytest

from cli_helpers import subprocess_env
from dal_torchreid.cli.search import main
from dal_torchreid.files.save_dir import SaveDirLock
from dal_torchreid.footage.manifest import dataset_sources
from dal_torchreid.footage.search_run import QueryError, search_dataset, search_stored_gallery
from footage_fixtures import (  # noqa: F401  (fixtures)
    forget_footage_datasets, tiny_footage, tiny_tracklets
)
from search_fixtures import MODEL, NASTY, people  # noqa: F401  (fixture)


def read_csv(path):
    with open(path, newline='', encoding='utf-8') as f:
        return list(csv.DictReader(f))


def person_of(camera, track):
    from search_fixtures import TRACKLETS
    return next(p for c, t, p, _ in TRACKLETS if (c, t) == (camera, track))


def model_args(weights):
    return MODEL + ['model.load_weights', weights]


def test_the_command_ranks_the_same_person_first_other_cameras_first(people, tmp_path):
    root, name, weights = people
    out = tmp_path / 'find'
    proc = subprocess.run([sys.executable, '-m', 'dal_torchreid.cli.search', '--root', root,
                           '-s', name, '--query', 'cam1:1', '--out', str(out),
                           *model_args(weights)], capture_output=True, text=True,
                          env=subprocess_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = read_csv(out / 'search.csv')
    assert len(rows) == 10 and ('cam1', '1') not in [(r['camera'], r['track']) for r in rows]
    other = [r['other_camera'] == '1' for r in rows]
    assert other == sorted(other, reverse=True) and sum(other) == 6
    # person 0 is cam2:14 and NASTY:21 elsewhere, cam1:5 in its own camera
    assert {(r['camera'], int(r['track'])) for r in rows[:2]} == {('cam2', 14), (NASTY, 21)}
    own = [r for r in rows if r['other_camera'] == '0']
    assert (own[0]['camera'], own[0]['track']) == ('cam1', '5')
    assert [int(r['rank']) for r in rows] == list(range(1, 11))
    assert '  1. ' in proc.stdout and 'search.html' in proc.stdout  # the best hits printed
    assert osp.isfile(out / 'search.html')


class Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.links += [v for k, v in attrs if k in ('src', 'href')]

    def handle_data(self, data):
        self.text.append(data)


def test_query_images_find_their_tracklet_and_the_page_escapes_every_name(people, tmp_path):
    root, name, weights = people
    crops = sorted(os.listdir(osp.join(root, name, NASTY, '000021')))
    images = [osp.join(root, name, NASTY, '000021', c) for c in crops]
    out = tmp_path / 'find'
    code = main(['--root', root, '-s', name, '--out', str(out), *model_args(weights)]
                + [word for image in images for word in ('--query-image', image)])
    assert code == 0
    rows = read_csv(out / 'search.csv')
    assert (rows[0]['camera'], rows[0]['track']) == (NASTY, '21')  # its own crops: itself first
    assert float(rows[0]['similarity']) > 0.999
    assert all(r['other_camera'] == '1' for r in rows)  # images have no camera
    assert person_of(rows[1]['camera'], int(rows[1]['track'])) == 0
    text = open(out / 'search.html', encoding='utf-8').read()
    assert NASTY not in text and html.escape(NASTY) in text  # '<3>&"x"' never raw
    page = Page()
    page.feed(text)
    assert NASTY in ''.join(page.text)  # ... and shown as the name it is
    assert page.links and all(osp.isfile(osp.join(out, unquote(link))) for link in page.links)


def test_python_search_of_a_data_set_and_a_gallery(people, tmp_path):
    import torchreid
    from dal_torchreid.models import load_weights
    root, name, weights = people
    model = torchreid.models.build_model('resnet18', num_classes=1, pretrained=False)
    load_weights(model, weights)
    _, transform = torchreid.data.transforms.build_transforms(64, 32, transforms=[])
    summary = search_dataset(root, name, str(tmp_path / 'a'), model, transform, query='cam2:13',
                             pooling_method='avg', top_k=3)
    assert summary['hits'] == 3 and [h['camera'] for h in summary['best']] != []
    assert person_of(summary['best'][0]['camera'], summary['best'][0]['track']) == 1
    with pytest.raises(QueryError, match='no track 99'):
        search_dataset(root, name, str(tmp_path / 'b'), model, transform, query='cam2:99')
    assert not (tmp_path / 'b').exists()


@pytest.fixture(scope='module')
def association_gallery(tiny_tracklets, tmp_path_factory):
    """``(root, name, out, weights)``: dal-associate's OUT (with gallery.pth) of the tiny
    footage, made with a fixed random resnet18."""
    import torch
    import torchreid
    from dal_torchreid.cli.associate import main as associate
    root, name = tiny_tracklets
    base = tmp_path_factory.mktemp('gallery')
    torch.manual_seed(1)
    weights = str(base / 'w.pth')
    torch.save(torchreid.models.build_model('resnet18', num_classes=1,
                                            pretrained=False).state_dict(), weights)
    out = str(base / 'out')
    tiny = ['model.name', 'resnet18', 'model.pretrained', 'False', 'use_gpu', 'False',
            'data.height', '32', 'data.width', '16', 'model.load_weights', weights]
    assert associate(['--root', root, '-s', name, '--out', out, *tiny]) == 0
    return root, name, out, weights, tiny


def test_a_stored_gallery_is_searched_without_a_model_with_global_ids(association_gallery,
                                                                     tmp_path, capsys):
    root, name, out, _, _ = association_gallery
    identities = {(r['camera'], int(r['track'])): int(r['global_id'])
                  for r in read_csv(osp.join(out, 'identities.csv'))}
    query = next(iter(identities))
    find = tmp_path / 'find'
    code = main(['--gallery', out, '--query', f'{query[0]}:{query[1]}', '--out', str(find),
                 'model.load_weights', '/nowhere.pth'])  # no model is built or loaded
    assert code == 0, capsys.readouterr().err
    rows = read_csv(find / 'search.csv')
    assert len(rows) == len(identities) - 1
    assert all(int(r['global_id']) == identities[(r['camera'], int(r['track']))] for r in rows)
    other = [r['other_camera'] == '1' for r in rows]
    assert other == sorted(other, reverse=True)
    summary = search_stored_gallery(out, str(tmp_path / 'py'), query=f'{query[0]}:{query[1]}',
                                    top_k=4)
    assert summary['hits'] == 4 and summary['best'][0]['global_id'] is not None
    page = Page()
    page.feed(open(tmp_path / 'py' / 'search.html', encoding='utf-8').read())
    # the crops come from the data set the gallery records for its session
    assert len([link for link in page.links if link.endswith('.jpg')]) >= 4


def one_error(capsys, code):
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: ') and 'Traceback' not in err
    return lines[0]


@pytest.mark.parametrize('args, expected', [
    (['--query', 'cam9:1'], 'no camera "cam9"'),
    (['--query', 'cam1:999'], 'no track 999'),
    (['--query', 'cam1'], 'CAMERA:TRACK'),
    (['--query-image', '/nowhere/crop.jpg'], '"/nowhere/crop.jpg" does not exist'),
    ([], 'give one query'),
    (['--query', 'cam1:1', '--session', '1'], '--session'),
])
def test_a_bad_query_on_a_data_set_is_one_line_and_writes_nothing(people, tmp_path, capsys,
                                                                 args, expected):
    root, name, weights = people
    out = tmp_path / 'out'
    line = one_error(capsys, main(['--root', root, '-s', name, '--out', str(out), *args,
                                   *model_args(weights)]))
    assert expected in line
    assert not out.exists()


def test_an_unreadable_image_is_named(people, tmp_path, capsys):
    root, name, weights = people
    bad = tmp_path / 'crop.jpg'
    bad.write_text('not an image')
    line = one_error(capsys, main(['--root', root, '-s', name, '--out', str(tmp_path / 'o'),
                                   '--query-image', str(bad), *model_args(weights)]))
    assert f'"{bad}" cannot be read as an image' in line


def test_a_missing_or_foreign_gallery_is_refused_in_one_line_before_any_feature(
        association_gallery, tmp_path, capsys):
    import torch
    import torchreid
    root, name, out, weights, tiny = association_gallery
    line = one_error(capsys, main(['--gallery', str(tmp_path / 'none'), '--query', 'cam1:1',
                                   '--out', str(tmp_path / 'a')]))
    assert str(tmp_path / 'none') in line
    torch.manual_seed(2)
    other = str(tmp_path / 'other.pth')
    torch.save(torchreid.models.build_model('resnet18', num_classes=1,
                                            pretrained=False).state_dict(), other)
    crop = next(osp.join(base, f) for base, _, files in os.walk(osp.join(root, name))
                for f in files if f.endswith('.jpg'))
    args = ['--gallery', out, '--query-image', crop, '--out', str(tmp_path / 'b')]
    line = one_error(capsys, main(args + tiny[:-2] + ['model.load_weights', other]))
    assert 'was made by ResNet at 32x16' in line and 'not comparable' in line
    line = one_error(capsys, main(args + tiny[:-6] + ['data.height', '64', 'data.width', '32',
                                                      'model.load_weights', weights]))
    assert 'this model is ResNet at 64x32' in line
    assert not (tmp_path / 'a').exists() and not (tmp_path / 'b').exists()
    # the gallery's own model is accepted
    assert main(args + tiny) == 0


def test_out_among_the_inputs_or_locked_is_refused(association_gallery, people, tmp_path,
                                                   capsys):
    root, name, out, _, _ = association_gallery
    line = one_error(capsys, main(['--gallery', out, '--query', 'cam1:1', '--session', '0',
                                   '--out', out]))
    assert 'is the gallery folder' in line
    tracks = dataset_sources(root, name)['tracks']  # the gallery's session was cut from them
    line = one_error(capsys, main(['--gallery', out, '--query', 'cam1:1', '--session', '0',
                                   '--out', osp.join(tracks, 'find')]))
    assert "session 0's tracks" in line and not osp.exists(osp.join(tracks, 'find'))
    proot, pname, weights = people
    line = one_error(capsys, main(['--root', proot, '-s', pname, '--query', 'cam1:1', '--out',
                                   osp.join(proot, pname, 'find'), *model_args(weights)]))
    assert 'lies inside the tracklet data set folder' in line
    locked = tmp_path / 'locked'
    with SaveDirLock(str(locked), what='--out'):
        line = one_error(capsys, main(['--gallery', out, '--query', 'cam1:1', '--out',
                                       str(locked)]))
    assert 'is in use by process' in line and 'run.lock' in line
    assert sorted(os.listdir(locked)) == []
