"""tools/wheelhouse.py (`make wheelhouse`): the folder's closure is walked with the *target* Python's markers.

pip resolves with the markers of the Python that runs it, whatever `--python-version` says: papermill's
`aiohttp; python_version == "3.12"` was left out of a wheelhouse made under Python 3.11, and the offline install on a
Python 3.12 node failed. These tests use metadata-only wheels (no network)."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location('wheelhouse', ROOT / 'tools' / 'wheelhouse.py')
wh = importlib.util.module_from_spec(spec); spec.loader.exec_module(wh)


def test_missing_follows_the_target_markers(tmp_path):
    wh.stub_wheel(tmp_path, 'papermill', '2.7.0', ['aiohttp>=3.9; python_version == "3.12"', 'nbformat>=5.2',
                                                   'boto3; extra == "s3"', 'exceptiongroup; python_version < "3.11"'])
    wh.stub_wheel(tmp_path, 'nbformat', '5.11.1', ['fastjsonschema>=2.15', 'torch>=2'])   # torch: the node's, never missing
    wh.stub_wheel(tmp_path, 'fastjsonschema', '2.22.3')
    assert wh.missing(tmp_path, ['papermill>=2.5'], wh.target_env('3.12', 'manylinux_2_28_x86_64')) == ['aiohttp>=3.9']
    assert wh.missing(tmp_path, ['papermill>=2.5'], wh.target_env('3.11', 'manylinux_2_28_x86_64')) == []
    assert wh.missing(tmp_path, ['papermill>=2.5'], wh.target_env('3.10', 'manylinux_2_28_x86_64')) == ['exceptiongroup']
    assert wh.missing(tmp_path, ['papermill[s3]'], wh.target_env('3.11', 'manylinux_2_28_x86_64')) == ['boto3']   # an extra asked for
    assert wh.missing(tmp_path, ['Jupyter_Client'], wh.target_env('3.12', 'x')) == ['Jupyter_Client']   # a top-level one absent


def test_target_env_and_platforms():
    env = wh.target_env('3.12', 'manylinux_2_28_x86_64')
    assert (env['python_version'], env['sys_platform'], env['platform_machine']) == ('3.12', 'linux', 'x86_64')
    assert wh.target_env('3.12', 'manylinux2014_aarch64')['platform_machine'] == 'aarch64'
    assert wh.platforms('manylinux_2_28_x86_64')[:2] == ['manylinux_2_28_x86_64', 'manylinux_2_27_x86_64']
    assert 'manylinux2014_x86_64' in wh.platforms('manylinux_2_28_x86_64')
