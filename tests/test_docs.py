"""The README stays short and keeps its two commands and the demo table; every relative
link of the README and docs/ leads to a file (and heading) that exists."""
import glob
import os.path as osp
import re

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PAGES = [osp.join(REPO, 'README.md')] + sorted(glob.glob(osp.join(REPO, 'docs', '*.md')))
LINK = re.compile(r'\]\(([^)\s]+)\)')


def _read(path):
    with open(path, encoding='utf-8') as f:
        return f.read()


def _anchors(text):
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    heads = re.findall(r'^#+ (.+)$', text, re.M)
    return {re.sub(r'[^\w\- ]', '', h.strip().lower()).replace(' ', '-') for h in heads}


def test_readme_is_short_and_keeps_the_commands_and_the_demo_table():
    text = _read(osp.join(REPO, 'README.md'))
    assert len(text.splitlines()) <= 200
    assert 'make demo' in text and 'make test' in text
    assert '| DAL from it, no identity labels |' in text


@pytest.mark.parametrize('page', PAGES, ids=lambda p: osp.relpath(p, REPO))
def test_relative_links_resolve(page):
    for target in LINK.findall(_read(page)):
        if re.match(r'[a-z]+://', target) or target.startswith('mailto:'):
            continue
        path, _, anchor = target.partition('#')
        full = osp.normpath(osp.join(osp.dirname(page), path)) if path else page
        assert osp.exists(full), f'{osp.relpath(page, REPO)} links to missing "{target}"'
        if anchor and full.endswith('.md'):
            assert anchor in _anchors(_read(full)), \
                f'{osp.relpath(page, REPO)} links to missing heading "{target}"'
