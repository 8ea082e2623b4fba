"""Runs an experiment from a config: what ``dal-train`` (``tools/train.py``) does.

:func:`run_experiment` seeds, builds the data manager, model, optimizer,
scheduler and engine (:mod:`dal_torchreid.experiment.builder`), trains and/or evaluates
with torchreid's ``Engine.run`` and writes ``<save_dir>/results.json`` (then, for
footage with ground truth, adds the association's scores to it);
:func:`run_split_protocol` does so for each person split and summarises.

Examples::

    from dal_torchreid.experiment.config import load_config
    from dal_torchreid.experiment.run import run_experiment
    cfg = load_config('configs/synthetic_demo.yaml', ['data.root', 'reid-data'])
    record = run_experiment(cfg)
    print(record['targets']['prid2011']['rank1'])
"""
from __future__ import annotations

import hashlib
import json
import os
import os.path as osp
import sys
import time
import warnings

from yacs.config import CfgNode

import torchreid

from dal_torchreid.experiment.builder import (
    build_datamanager, build_engine, build_model, build_optimizer, build_scheduler,
    engine_run_kwargs, uses_gpu
)
from dal_torchreid.experiment.budget import (
    UNSUPERVISED_ENGINES, check_epoch_trains, frames_per_epoch, with_supervised_budget
)
from dal_torchreid.data.splits import LAYOUTS as SPLIT_LAYOUTS
from dal_torchreid.data.splits import split_digest
from dal_torchreid.engine.checkpoint import (
    LATEST_CHECKPOINT, MODEL_DIR, CheckpointError, load_checkpoint, resume_checkpoint
)
from dal_torchreid.engine.distributed import is_main_process
from dal_torchreid.engine.embedding import unwrap_model
from dal_torchreid.engine.unsupervised import UnsupervisedVideoEngine
from dal_torchreid.experiment.environment import environment_line, package_versions
from dal_torchreid.files.errors import check_input_file
from dal_torchreid.footage.evaluation import evaluate_footage
from dal_torchreid.engine.label_free_statistics import label_free_record
from dal_torchreid.experiment.results import (
    CONFIG_FILENAME, EARLIER_RUN, ENGINE_NAMES, RESULTS_FILENAME, make_record, plot_associations, plot_clusters, read_results,
    rounded, summarize_splits, write_config, write_results
)
from dal_torchreid.experiment.run_log import console_log
from dal_torchreid.files.save_dir import SaveDirError, claim_save_dir, set_aside_run


def run_experiment(cfg: CfgNode, save_dir: str | None = None) -> dict:
    """Trains and/or evaluates as ``cfg`` says; writes and returns the results record.

    The run holds ``save_dir`` (:class:`~dal_torchreid.files.save_dir.SaveDirLock`) and first
    moves an earlier run's ``results.json`` aside. ``model.resume`` restores a
    checkpoint to continue training, or, with ``test.evaluate``, to evaluate it (as
    torchreid's ``scripts/main.py`` does); a checkpoint written at or after
    ``train.max_epoch`` is refused for training.

    Args:
        cfg (CfgNode): a validated config (:func:`dal_torchreid.experiment.config.load_config`).
        save_dir (str, optional): overrides ``data.save_dir``.

    Returns:
        dict: the record written to ``<save_dir>/results.json`` (see
        :mod:`dal_torchreid.experiment.results`).
    """
    save_dir = save_dir or cfg.data.save_dir
    requested = cfg
    with claim_save_dir(save_dir, is_main_process(), earlier=()):
        unfinished = unfinished_run(cfg, save_dir)
        if is_main_process():
            set_aside_run(save_dir, earlier_run_files(cfg, save_dir, unfinished))
        if unfinished is not None:
            path, epoch = unfinished
            print(f'=> resuming the unfinished run in "{save_dir}" from "{path}" (epoch {epoch} '
                  f'of {cfg.train.max_epoch}); train.restart True starts over instead, moving '
                  'it aside')
            cfg = cfg.clone()
            cfg.defrost()
            cfg.model.resume = path
            cfg.freeze()
        if is_main_process():
            write_config(requested, save_dir)
        return _run_experiment(cfg, save_dir, requested)


def unfinished_run(cfg: CfgNode, save_dir: str) -> tuple[str, int] | None:
    """``(checkpoint, epoch)`` of an unfinished label-free run of the same config in
    ``save_dir`` (its ``config.yaml`` equal to ``cfg``'s, its ``checkpoint-latest.pth.tar``
    written before ``train.max_epoch``, no ``results.json``), which a training run of
    ``cfg`` resumes; None when there is none, or ``train.restart`` says start over."""
    if (cfg.test.evaluate or cfg.model.resume or cfg.train.restart
            or cfg.loss.name not in UNSUPERVISED_ENGINES):
        return None
    latest = osp.join(save_dir, MODEL_DIR, LATEST_CHECKPOINT)
    if not osp.isfile(latest) or osp.exists(osp.join(save_dir, RESULTS_FILENAME)):
        return None
    try:
        with open(osp.join(save_dir, CONFIG_FILENAME), encoding='utf-8') as f:
            if f.read() != cfg.dump():
                return None
        epoch = load_checkpoint(latest).get('epoch')
    except (OSError, UnicodeDecodeError, CheckpointError):
        return None
    if not isinstance(epoch, int) or not 0 < epoch < cfg.train.max_epoch:
        return None
    return latest, epoch


def earlier_run_files(cfg: CfgNode, save_dir: str, unfinished) -> tuple[str, ...]:
    """What a run of ``cfg`` moves aside in ``save_dir``: an earlier result (and, for a
    test-only run, config) only when it evaluates, resumes or continues a checkpoint
    there; else everything an earlier run left
    (results, checkpoints, plots, config), so its weights are never overwritten. A new run
    that would start from weights in the folder it moves aside is refused."""
    if cfg.test.evaluate:  # the trained run's result and config stay a pair
        return (RESULTS_FILENAME, CONFIG_FILENAME)
    if unfinished is not None:
        return (RESULTS_FILENAME,)
    checkpoints = osp.realpath(osp.join(save_dir, MODEL_DIR)) + os.sep
    if cfg.model.resume and osp.realpath(cfg.model.resume).startswith(checkpoints):
        return (RESULTS_FILENAME,)  # the same run, continued
    if cfg.model.load_weights and osp.realpath(cfg.model.load_weights).startswith(checkpoints):
        raise SaveDirError(
            f'model.load_weights "{cfg.model.load_weights}" lies in the checkpoints of '
            f'data.save_dir "{save_dir}", which a new training run moves aside: choose '
            'another data.save_dir (or continue that run with model.resume)')
    return EARLIER_RUN


def _run_experiment(cfg: CfgNode, save_dir: str, requested: CfgNode) -> dict:
    print(environment_line())
    splits_sha1 = split_digests(requested)  # the lists as this run reads them
    torchreid.utils.set_random_seed(cfg.train.seed)
    start = time.time()
    datamanager = build_datamanager(cfg)
    cfg = with_supervised_budget(cfg, datamanager)  # the supervised engines' epochs
    num_classes = 1 if cfg.loss.name in UNSUPERVISED_ENGINES else datamanager.num_train_pids
    model = build_model(cfg, num_classes)
    if uses_gpu(cfg):
        model = model.cuda()
    optimizer = build_optimizer(cfg, model)
    scheduler = build_scheduler(cfg, optimizer)
    engine = build_engine(cfg, datamanager, model, optimizer, scheduler)

    run_kwargs = engine_run_kwargs(cfg)
    run_kwargs['save_dir'] = save_dir
    if cfg.model.resume:
        resumed = resume(cfg, engine, model, optimizer, scheduler)
        if not cfg.test.evaluate:
            run_kwargs['start_epoch'] = resumed
    if not cfg.test.evaluate:
        check_epoch_trains(engine, cfg)
        # a progress line at least once an epoch, however short the epochs are
        run_kwargs['print_freq'] = min(cfg.train.print_freq, len(engine.train_loader))
        print(f'=> {frames_per_epoch(engine)} training frames per epoch (all processes), '
              f'{cfg.train.max_epoch} epochs')
    engine.run(**run_kwargs)
    wall_time = time.time() - start

    trained = not cfg.test.evaluate
    if not engine.test_results and engine.test_loader:
        warnings.warn(f'no evaluation ran (train.max_epoch {cfg.train.max_epoch} and '
                      f'test.evaluate False); {osp.join(save_dir, "results.json")} has no targets')
    record = make_record(
        engine.test_results,
        engine=cfg.loss.name,
        backbone=cfg.model.name,
        epochs=cfg.train.max_epoch if trained else 0,  # every segment of a resumed run
        seed=cfg.train.seed,
        wall_time_s=round(wall_time, 2),
        frames_seen=frames_seen(engine, run_kwargs['start_epoch']) if trained else 0,
        test_only=bool(cfg.test.evaluate),
        init_weights=cfg.model.resume or cfg.model.load_weights or (
            'imagenet' if cfg.model.pretrained else 'random'),
        protocol=evaluation_protocol(cfg),
        config=_plain(cfg),
        config_sha1=config_sha1(requested),
        splits_sha1=splits_sha1,
    )
    if trained and run_kwargs['start_epoch']:
        record['resumed_from_epoch'] = run_kwargs['start_epoch']
    record = write_run_record(engine, record, save_dir)
    if is_main_process():
        record = add_footage_scores(cfg, engine, record, save_dir)
    return record


def add_footage_scores(cfg: CfgNode, engine, record: dict, save_dir: str) -> dict:
    """``record`` with the association scores of the footage sources with ground truth
    (:func:`~dal_torchreid.footage.evaluation.evaluate_footage`), written to
    ``results.json`` again. Runs after the training's results are written: an
    association that fails leaves them (and the checkpoints), and its error says so."""
    try:
        scores = evaluate_footage(cfg, engine, save_dir)
    except Exception as err:
        if len(err.args) == 1 and isinstance(err.args[0], str):
            err.args = (f'after training, the association of the footage failed: '
                        f'{err.args[0]}; the training\'s results are in '
                        f'"{osp.join(save_dir, RESULTS_FILENAME)}" and its checkpoints in '
                        f'"{osp.join(save_dir, MODEL_DIR)}" (dal-associate associates again)',)
        raise
    if scores:
        record.update(scores)
        write_results(record, save_dir)
    return record


def frames_seen(engine, start_epoch: int = 0) -> int:
    """The training frames of every segment of a run resumed after ``start_epoch``: a
    label-free engine's checkpoint carries its count on; torchreid's supervised checkpoints
    do not, so their earlier epochs count as many frames as each epoch trains."""
    seen = int(getattr(engine, 'frames_seen', 0))
    if start_epoch and not isinstance(engine, UnsupervisedVideoEngine):
        seen += start_epoch * frames_per_epoch(engine)
    return seen


def write_run_record(engine, record: dict, save_dir: str) -> dict:
    """Adds the engine's per-epoch diagnostics to ``record``; rank 0 writes it to
    ``<save_dir>/results.json`` and plots them. Returns the record."""
    trained = not record.get('test_only')  # a test-only run's resumed history is not its own
    monitor = getattr(engine, 'association_monitor', None)
    history = getattr(monitor, 'history', None) if trained else None
    if history:
        record['associations'] = history
    clusters = getattr(engine, 'cluster_monitor', None)
    cluster_history = getattr(clusters, 'history', None) if trained else None
    if cluster_history:
        record['clusters'] = cluster_history
    epoch_times = getattr(engine, 'epoch_times', None)
    if epoch_times:
        record['epoch_times'] = epoch_times
    record.update(label_free_record(engine))  # no identities: what the training decided
    evaluations = getattr(engine, 'evaluations', None)
    if evaluations:
        record['evaluations'] = evaluations
    record['versions'] = package_versions()
    record = rounded(record)
    if not is_main_process():
        return record
    path = write_results(record, save_dir)
    print(f'Results written to "{path}"')
    engine_name = ENGINE_NAMES.get(record['engine'], record['engine'])
    title = f'{osp.basename(osp.normpath(save_dir))}: {engine_name}'
    if history:
        plot = plot_associations(history, osp.join(save_dir, 'associations.png'), title,
                                 getattr(engine, 'warmup_epochs', 0))
        print(f'Association diagnostics plotted to "{plot}"')
    if cluster_history:
        plot = plot_clusters(cluster_history, osp.join(save_dir, 'clusters.png'), title)
        print(f'Cluster diagnostics plotted to "{plot}"')
    return record


def run_engine(engine, save_dir: str = 'log', **run_kwargs) -> dict:
    """What ``dal-train`` does with an engine built in Python: ``engine.run(save_dir=save_dir,
    **run_kwargs)`` holding ``save_dir`` (:func:`~dal_torchreid.files.save_dir.claim_save_dir`),
    its console copied to ``<save_dir>/train.log-<time>`` (``test.log-`` for
    ``test_only``), then ``<save_dir>/results.json`` and the diagnostics' plots.

    Args:
        engine: an engine of the plugin (``VideoDALEngine``, ``VideoClusterContrastEngine``,
            ``RecordedVideoSoftmaxEngine``, ``RecordedVideoTripletEngine``).
        save_dir (str): the run's folder.
        **run_kwargs: ``Engine.run``'s (``max_epoch``, ``print_freq``, ``test_only`` ...).

    Returns:
        dict: the record written to ``results.json`` (see :mod:`dal_torchreid.experiment.results`).

    Examples::

        record = run_engine(engine, save_dir='log/dal', max_epoch=8, print_freq=100)
        print(record['targets']['prid2011']['rank1'])
    """
    test_only = bool(run_kwargs.get('test_only'))
    continuing = test_only or run_kwargs.get('start_epoch', 0) > 0
    earlier = (RESULTS_FILENAME,) if continuing else EARLIER_RUN
    with claim_save_dir(save_dir, is_main_process(), earlier), \
            console_log(save_dir, 'test.log' if test_only else 'train.log'):
        print(environment_line())
        start = time.time()
        engine.run(save_dir=save_dir, **run_kwargs)
        model = unwrap_model(engine.model)
        record = make_record(
            engine.test_results,
            engine=getattr(engine, 'method', '') or type(engine).__name__,
            backbone=type(model).__name__,
            epochs=0 if test_only else run_kwargs.get('max_epoch', 0),
            wall_time_s=round(time.time() - start, 2),
            frames_seen=0 if test_only else frames_seen(engine, run_kwargs.get('start_epoch', 0)),
            test_only=test_only,
        )
        return write_run_record(engine, record, save_dir)


def resume(cfg: CfgNode, engine, model, optimizer, scheduler) -> int:
    """Restores ``model.resume`` into the engine (or the model, optimizer and scheduler of
    a supervised engine); returns its epoch. For training, raises
    :class:`~dal_torchreid.engine.checkpoint.CheckpointError` when that epoch leaves no
    epoch of ``train.max_epoch`` to train."""
    path = cfg.model.resume
    check_input_file(path, 'model.resume: checkpoint')
    if isinstance(engine, UnsupervisedVideoEngine):
        epoch = engine.resume(path, evaluation=bool(cfg.test.evaluate))
    else:
        epoch = resume_checkpoint(path, model, optimizer, scheduler)
    if not cfg.test.evaluate and epoch >= cfg.train.max_epoch:
        raise CheckpointError(
            f'model.resume: checkpoint "{path}" was written after epoch {epoch}; '
            f'train.max_epoch {cfg.train.max_epoch} leaves nothing to train (raise '
            'train.max_epoch, or evaluate it with test.evaluate True)')
    return epoch


def evaluation_protocol(cfg: CfgNode) -> dict:
    """How the targets were evaluated, for ``results.json``."""
    return {
        'tracklet_feature': cfg.video.pooling_method,
        'frames': 'all' if cfg.test.frame_batch_size > 0 or cfg.video.sample_method == 'all'
        else f'{cfg.video.sample_method}, {cfg.video.seq_len} per tracklet',
        'protocol': cfg.test.protocol,
        'both_directions': cfg.test.both_directions,
        'dist_metric': cfg.test.dist_metric,
        'normalize_feature': cfg.test.normalize_feature,
        'rerank': cfg.test.rerank,
    }


def config_sha1(cfg: CfgNode) -> str:
    """A digest of a config as requested: a finished run of the same config has it."""
    return hashlib.sha1(json.dumps(_plain(cfg), sort_keys=True).encode()).hexdigest()


def split_digests(cfg: CfgNode) -> dict[str, str]:
    """``{data set: digest of the train and test lists of split data.split_id}`` of the
    config's data sets that have a split file
    (:func:`~dal_torchreid.data.splits.split_digest`): with :func:`config_sha1`, what
    makes a finished split the same run as a requested one."""
    root = osp.abspath(osp.expanduser(cfg.data.root))
    names = dict.fromkeys(list(cfg.data.sources) + list(cfg.data.targets))
    return {name: digest for name in names if name in SPLIT_LAYOUTS
            and (digest := split_digest(root, name, cfg.data.split_id)) is not None}


def _plain(node):
    if isinstance(node, CfgNode):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, tuple):
        return list(node)
    return node


def run_split_protocol(cfg: CfgNode, num_splits: int = 10, save_dir: str | None = None,
                       redo: bool = False) -> dict:
    """Trains and evaluates each of the first ``num_splits`` splits (``data.split_id``).

    The PRID2011 / iLIDS-VID protocol: one run per random 50/50 person split,
    each writing ``<save_dir>/split<i>/results.json``; then
    ``<save_dir>/results.json`` holds each metric's mean and standard deviation
    over the splits (:func:`dal_torchreid.experiment.results.summarize_splits`). A split whose
    ``results.json`` a finished run of the same config wrote is kept, not run again
    (unless ``redo``), so a protocol that stopped continues where it stopped; the error
    of a split that fails names the split.
    """
    if num_splits < 1:
        raise ValueError(f'num_splits must be >= 1, got {num_splits}')
    save_dir = save_dir or cfg.data.save_dir
    with claim_save_dir(save_dir, is_main_process(), earlier=(RESULTS_FILENAME,)):
        records = [_run_split(cfg, split, num_splits, save_dir, redo)
                   for split in range(num_splits)]
        record = {
            'engine': cfg.loss.name, 'backbone': cfg.model.name, 'seed': cfg.train.seed,
            'num_splits': num_splits,
            'wall_time_s': round(sum(r['wall_time_s'] for r in records), 2),
            'targets': summarize_splits(records),
        }
        if is_main_process():
            print(f'Split summary written to "{write_results(record, save_dir)}"')
    return record


def _run_split(cfg: CfgNode, split: int, num_splits: int, save_dir: str, redo: bool) -> dict:
    """One split of :func:`run_split_protocol`: its kept record, or a new run's."""
    split_cfg = cfg.clone()
    split_cfg.defrost()
    split_cfg.data.split_id = split
    split_cfg.freeze()
    split_dir = osp.join(save_dir, f'split{split}')
    kept = None if redo else finished_run(split_dir, split_cfg)
    if kept is not None:
        print(f'=> Split {split + 1} of {num_splits}: kept "{osp.join(split_dir, "results.json")}"'
              ', a finished run of this config (--redo runs it again)')
        return kept
    print(f'=> Split {split + 1} of {num_splits}')
    try:
        return run_experiment(split_cfg, split_dir)
    except Exception as err:
        where = f'split {split} ("{split_dir}")'
        if len(err.args) == 1 and isinstance(err.args[0], str):
            err.args = (f'{where}: {err.args[0]}',)  # the one line the tools print
        else:
            print(f'=> {where} failed', file=sys.stderr)
        raise


def finished_run(save_dir: str, cfg: CfgNode) -> dict | None:
    """The record of ``<save_dir>/results.json`` when a finished run of ``cfg`` (as
    requested) on the same person split (the split file's train and test lists of the
    split) wrote it, else None (also for a file that does not hold such a record)."""
    try:
        record = read_results(save_dir)
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get('targets'), dict) \
            or not record['targets']:
        return None
    if record.get('config_sha1') != config_sha1(cfg) or \
            record.get('splits_sha1') != split_digests(cfg):
        return None
    return record
