"""Runs an experiment from a config: what ``dal-train`` (``tools/train.py``) does.

:func:`run_experiment` seeds, builds the data manager, model, optimizer,
scheduler and engine (:mod:`dal_torchreid.builder`), trains and/or evaluates
with torchreid's ``Engine.run`` and writes ``<save_dir>/results.json``;
:func:`run_split_protocol` does so for each person split and summarises.

Examples::

    from dal_torchreid.config import load_config
    from dal_torchreid.experiment import run_experiment
    cfg = load_config('configs/synthetic_demo.yaml', ['data.root', 'reid-data'])
    record = run_experiment(cfg)
    print(record['targets']['prid2011']['rank1'])
"""
from __future__ import annotations

import os.path as osp
import time
import warnings

from yacs.config import CfgNode

import torchreid

from dal_torchreid.builder import (
    build_datamanager, build_engine, build_model, build_optimizer, build_scheduler,
    engine_run_kwargs, uses_gpu
)
from dal_torchreid.budget import (
    UNSUPERVISED_ENGINES, check_epoch_trains, frames_per_epoch, with_supervised_budget
)
from dal_torchreid.engine.checkpoint import resume_checkpoint
from dal_torchreid.engine.distributed import is_main_process
from dal_torchreid.engine.unsupervised import UnsupervisedVideoEngine
from dal_torchreid.results import (
    make_record, plot_associations, plot_clusters, summarize_splits, write_results
)


def run_experiment(cfg: CfgNode, save_dir: str | None = None) -> dict:
    """Trains and/or evaluates as ``cfg`` says; writes and returns the results record.

    Args:
        cfg (CfgNode): a validated config (:func:`dal_torchreid.config.load_config`).
        save_dir (str, optional): overrides ``data.save_dir``.

    Returns:
        dict: the record written to ``<save_dir>/results.json`` (see
        :mod:`dal_torchreid.results`).
    """
    save_dir = save_dir or cfg.data.save_dir
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
    if cfg.model.resume and not cfg.test.evaluate:
        if not osp.isfile(cfg.model.resume):
            raise FileNotFoundError(f'model.resume: checkpoint "{cfg.model.resume}" does not exist')
        if isinstance(engine, UnsupervisedVideoEngine):
            run_kwargs['start_epoch'] = engine.resume(cfg.model.resume)
        else:
            run_kwargs['start_epoch'] = resume_checkpoint(
                cfg.model.resume, model, optimizer, scheduler)
    if not cfg.test.evaluate:
        check_epoch_trains(engine, cfg)
        print(f'=> {frames_per_epoch(engine)} training frames per epoch (all processes), '
              f'{cfg.train.max_epoch} epochs')
    engine.run(**run_kwargs)
    wall_time = time.time() - start

    trained = not cfg.test.evaluate
    if not engine.test_results:
        warnings.warn(f'no evaluation ran (train.max_epoch {cfg.train.max_epoch} and '
                      f'test.evaluate False); {osp.join(save_dir, "results.json")} has no targets')
    record = make_record(
        engine.test_results,
        engine=cfg.loss.name,
        backbone=cfg.model.name,
        epochs=(cfg.train.max_epoch - run_kwargs['start_epoch']) if trained else 0,
        seed=cfg.train.seed,
        wall_time_s=round(wall_time, 2),
        frames_seen=int(engine.frames_seen),
        test_only=bool(cfg.test.evaluate),
        init_weights=cfg.model.load_weights or ('imagenet' if cfg.model.pretrained else 'random'),
        protocol=evaluation_protocol(cfg),
        config=_plain(cfg),
    )
    monitor = getattr(engine, 'association_monitor', None)
    history = monitor.history if monitor is not None else None
    if history:
        record['associations'] = history
    clusters = getattr(engine, 'cluster_monitor', None)
    cluster_history = clusters.history if clusters is not None else None
    if cluster_history:
        record['clusters'] = cluster_history
    if not is_main_process():
        return record
    path = write_results(record, save_dir)
    print(f'Results written to "{path}"')
    if history:
        plot = plot_associations(history, osp.join(save_dir, 'associations.png'))
        print(f'Association diagnostics plotted to "{plot}"')
    if cluster_history:
        plot = plot_clusters(cluster_history, osp.join(save_dir, 'clusters.png'))
        print(f'Cluster diagnostics plotted to "{plot}"')
    return record


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


def _plain(node):
    if isinstance(node, CfgNode):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, tuple):
        return list(node)
    return node


def run_split_protocol(cfg: CfgNode, num_splits: int = 10, save_dir: str | None = None) -> dict:
    """Trains and evaluates each of the first ``num_splits`` splits (``data.split_id``).

    The PRID2011 / iLIDS-VID protocol: one run per random 50/50 person split,
    each writing ``<save_dir>/split<i>/results.json``; then
    ``<save_dir>/results.json`` holds each metric's mean and standard deviation
    over the splits (:func:`dal_torchreid.results.summarize_splits`).
    """
    if num_splits < 1:
        raise ValueError(f'num_splits must be >= 1, got {num_splits}')
    save_dir = save_dir or cfg.data.save_dir
    records = []
    for split in range(num_splits):
        split_cfg = cfg.clone()
        split_cfg.defrost()
        split_cfg.data.split_id = split
        split_cfg.freeze()
        print(f'=> Split {split + 1} of {num_splits}')
        records.append(run_experiment(split_cfg, osp.join(save_dir, f'split{split}')))
    record = {
        'engine': cfg.loss.name, 'backbone': cfg.model.name, 'seed': cfg.train.seed,
        'num_splits': num_splits,
        'wall_time_s': round(sum(r['wall_time_s'] for r in records), 2),
        'targets': summarize_splits(records),
    }
    if is_main_process():
        print(f'Split summary written to "{write_results(record, save_dir)}"')
    return record
