"""A config key with everything said about it in one place: default, check, help.

Each group of keys (:mod:`.model_data`, :mod:`.train`, :mod:`.engines`,
:mod:`.associate`, :mod:`.test`) is a mapping of dotted names to :class:`Key`;
:func:`section` turns one into the yacs node of ``get_default_config()``, and the
checks (:func:`checks_for`) and ``docs/config.md`` (:mod:`.reference`) read the same
keys. A plugin setting's default and check live beside the code that interprets it
(an engine, a loss, the clustering) and are imported into its :class:`Key`.

Examples::

    DAL = {'dal.margin': Key(MARGIN, 'dal', 'hinge margin of both losses', check_margin,
                             checked_for=('dal',))}
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

from yacs.config import CfgNode as CN

# Who reads a key, as docs/config.md says it.
ALL, DAL, CC, SUPERVISED, TRIPLET, TOOL = 'all', 'dal', 'cc', 'softmax, triplet', 'triplet', 'dal-train'
UNSUPERVISED, CLIPS = 'dal, cc', 'softmax, triplet, cc'
ASSOCIATE = 'dal-associate'


@dataclass(frozen=True)
class Key:
    """One config key.

    Args:
        default: its default value (its type is the only type yacs accepts).
        engines (str): who reads it (``all``, ``dal``, ``dal, cc``, ``dal-associate`` ...).
        meaning (str): what it means, for ``docs/config.md``.
        check (callable, optional): raises ``ValueError`` for a value no run can use.
        checked_for (tuple): the engines whose runs ``check`` is applied to; empty: all.
        torchreid (bool): the key is torchreid's (its ``scripts/default_config.py``).
        extends (str): how the plugin reads or widens torchreid's key.
        number_or_auto (bool): a text key that takes ``auto`` or a number (kept as text
            when yacs would read it as a number).
    """

    default: Any
    engines: str
    meaning: str
    check: Callable[[Any], None] | None = None
    checked_for: tuple = ()
    torchreid: bool = False
    extends: str = ''
    number_or_auto: bool = False


def section(keys: Mapping[str, Key]) -> CN:
    """The yacs node of ``keys`` (dotted names relative to the root), nested by their dots."""
    root = CN()
    for name, key in keys.items():
        node = root
        *parents, leaf = name.split('.')
        for parent in parents:
            if parent not in node:
                node[parent] = CN()
            node = node[parent]
        node[leaf] = key.default
    return root


def leaves(node: CN, prefix: str = '') -> Iterator[tuple[str, Any]]:
    """``(dotted key, value)`` of every leaf of a config node, in order."""
    for name, value in node.items():
        if isinstance(value, CN):
            yield from leaves(value, f'{prefix}{name}.')
        else:
            yield prefix + name, value


def checks_for(keys: Mapping[str, Key], engine: str | None) -> dict[str, Callable[[Any], None]]:
    """The checks that apply to a run of ``engine`` (None: those that apply to every run)."""
    return {name: key.check for name, key in keys.items() if key.check is not None
            and (not key.checked_for or (engine is not None and engine in key.checked_for))}
