"""CI installs Debian's chromium where it is missing, so the report's browser check runs
instead of being skipped (issue 34): .ci/install-chromium, run with stand-ins for ``id``,
``apt-get`` and ``chromium`` on a PATH of their own."""
import os
import shutil
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, '.ci', 'install-chromium')
BASH = shutil.which('bash')


def stand_in(folder, name, body):
    path = folder / name
    path.write_text('#!' + BASH + '\n' + body)
    path.chmod(0o755)


@pytest.fixture
def fake_bin(tmp_path):
    folder = tmp_path / 'bin'
    folder.mkdir()
    stand_in(folder, 'apt-get', f'echo "$DEBIAN_FRONTEND $*" >> {tmp_path / "apt.log"}\n')
    return folder


def install(fake_bin, uid):
    stand_in(fake_bin, 'id', f'echo {uid}\n')
    return subprocess.run([BASH, SCRIPT], env={'PATH': str(fake_bin)}, capture_output=True,
                          text=True, timeout=30)


def test_root_installs_chromium_non_interactively(fake_bin, tmp_path):
    done = install(fake_bin, 0)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / 'apt.log').read_text().splitlines() == [
        'noninteractive update -qq',
        'noninteractive install -y -qq --no-install-recommends chromium']


def test_another_user_gets_a_note_and_nothing_installed(fake_bin, tmp_path):
    done = install(fake_bin, 1000)
    assert done.returncode == 0
    assert 'needs root' in done.stderr and 'skipped' in done.stderr
    assert not (tmp_path / 'apt.log').exists()


def test_nothing_is_installed_where_chromium_is(fake_bin, tmp_path):
    stand_in(fake_bin, 'chromium', 'exit 0\n')
    assert install(fake_bin, 0).returncode == 0
    assert not (tmp_path / 'apt.log').exists()


def test_ci_runs_it_and_requires_the_browser_check():
    text = open(os.path.join(REPO, '.ci', 'run')).read()
    assert '.ci/install-chromium' in text and 'export DAL_REQUIRE_CHROMIUM=1' in text
