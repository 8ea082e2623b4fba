"""Importing the command-line tools (tools/ is not a package) in tests."""
import importlib.util
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_tool(name):
    """Imports ``tools/<name>.py`` as module ``tools_<name>``."""
    spec = importlib.util.spec_from_file_location('tools_' + name,
                                                  osp.join(ROOT, 'tools', name + '.py'))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
