"""What the label-free engines share: model, optimiser step, checkpoints, logging, testing.

:class:`UnsupervisedVideoEngine` is the rung of torchreid's engine ladder under
:class:`~dal_torchreid.engine.VideoDALEngine` and
:class:`~dal_torchreid.engine.VideoClusterContrastEngine`: both train a
torchreid backbone's embedding (:class:`~dal_torchreid.engine.embedding.EmbeddingReader`,
classifier frozen), step through :class:`~dal_torchreid.engine.optimization.OptimizerStep`
(AMP, clipping, EMA), run under ``torch.distributed`` in ``DistributedDataParallel``
(rank 0 logs and writes), write atomic checkpoints with their method's state
after every epoch (:class:`~dal_torchreid.engine.checkpoint.Checkpointer`),
and evaluate the EMA weights when kept. Each subclass adds its method: its
data, its criterion and ``forward_backward``.
"""
from __future__ import annotations

import inspect

import torch

import torchreid

from dal_torchreid.engine.checkpoint import (
    LATEST_CHECKPOINT, CheckpointParts, Checkpointer, checkpoint_meta
)
from dal_torchreid.engine.distributed import (
    NullWriter, is_main_process, world, wrap_distributed
)
from dal_torchreid.engine.embedding import EmbeddingReader, unwrap_model
from dal_torchreid.engine.evaluation import EVALUATION_ARGUMENTS, RecordingMixin
from dal_torchreid.engine.memory_format import to_memory_format
from dal_torchreid.engine.optimization import OptimizerStep
from dal_torchreid.models.conv_padding import check_cpu_bf16_input

CLASSIFIER = 'classifier'  # torchreid's name of the layer the label-free engines never train


def check_fixbase_epoch(fixbase_epoch: int, open_layers) -> None:
    """torchreid trains only ``open_layers`` for ``fixbase_epoch`` epochs; the label-free
    engines freeze the classifier, so those epochs need another layer open."""
    if fixbase_epoch > 0 and set(open_layers or ()) <= {CLASSIFIER}:
        raise ValueError(f'fixbase_epoch {fixbase_epoch} would train nothing: train.open_layers '
                         f'{list(open_layers or ())} names only the classifier, which the '
                         'label-free engines never train (name backbone layers in '
                         'train.open_layers, or set train.fixbase_epoch 0)')


def check_engine_arguments(engine: type, evaluation: dict) -> None:
    """Raises ``TypeError`` for a keyword argument ``engine`` does not take (torchreid's own
    error names only its base class), saying which label-free engine takes it and what
    ``engine`` takes."""
    unknown = sorted(set(evaluation) - set(EVALUATION_ARGUMENTS))
    if not unknown:
        return
    name = unknown[0]
    # the plugin's engine behind a user's subclass: its arguments, its name
    engine = next(c for c in engine.__mro__ if UnsupervisedVideoEngine in c.__bases__)
    owners = [other.__name__ for other in UnsupervisedVideoEngine.__subclasses__()
              if other is not engine and name in inspect.signature(other.__init__).parameters]
    hint = f' (a {" / ".join(owners)} argument)' if owners else ''
    takes = [p for p in inspect.signature(engine.__init__).parameters
             if p not in ('self', 'evaluation', 'datamanager', 'model', 'optimizer')]
    raise TypeError(f'{engine.__name__}() got an unexpected keyword argument {name!r}{hint}; '
                    f'it takes {", ".join(takes + list(EVALUATION_ARGUMENTS))}')


class UnsupervisedVideoEngine(RecordingMixin, torchreid.engine.Engine):
    """Base of the label-free video engines (not used alone).

    Args:
        datamanager (VideoDataManager): its test loaders evaluate; subclasses read
            its training tracklets without identities.
        use_gpu (bool): use a GPU.
        **evaluation: :class:`~dal_torchreid.engine.evaluation.RecordingMixin`'s.

    A subclass calls :meth:`setup_model` with the model and optimiser, then
    :meth:`setup_checkpoints` once its criterion exists.

    Examples::

        class MyEngine(UnsupervisedVideoEngine):
            method = 'dal'
            def __init__(self, datamanager, model, optimizer, **kwargs):
                super().__init__(datamanager, use_gpu=False)
                self.setup_model(model, optimizer, None, clip_grad_value=2.0)
                ...
    """

    method = ''  # the checkpoints' key for the criterion's state: 'dal' or 'cc'

    def __init__(self, datamanager, use_gpu=True, **evaluation):
        check_engine_arguments(type(self), evaluation)
        if getattr(datamanager, 'data_type', 'video') != 'video':
            raise ValueError(f'{type(self).__name__} trains on video data: got an '
                             f'{type(datamanager).__name__} (data_type '
                             f'"{datamanager.data_type}"); build a torchreid.data.VideoDataManager')
        super().__init__(datamanager, use_gpu, **evaluation)
        if not is_main_process():
            self.writer = NullWriter()  # only rank 0 logs
        self.rank, self.world_size = world()
        self.batch_idx = 0
        self._save_dir = None

    def setup_model(self, model, optimizer, scheduler, clip_grad_value=None, amp=None,
                    ema_decay=None) -> None:
        """Reads the embedding, freezes the classifier (never trained), wraps the model
        for ``torch.distributed`` and builds the optimiser step. Refuses CPU bf16 autocast
        at an input size where a convolution has kernel taps wholly in padding
        (:func:`~dal_torchreid.models.conv_padding.check_cpu_bf16_input`)."""
        if amp == 'bf16' and not self.use_gpu:
            check_cpu_bf16_input(model, self.datamanager.height, self.datamanager.width)
        self.embedding = EmbeddingReader(model)
        # the classifier is never trained: frozen, DDP does not wait for its gradients
        self.embedding.classifier.requires_grad_(False)
        if self.world_size > 1:
            # DDP's gradient buckets take the strides the model has when wrapped
            model = wrap_distributed(to_memory_format(model, self.channels_last), self.use_gpu)
            self.embedding.model = model  # forward through the wrapper, which syncs gradients
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.register_model('model', model, optimizer, scheduler)
        self.step = OptimizerStep(model, optimizer, self.use_gpu, clip_grad_value, amp, ema_decay)

    def setup_checkpoints(self, trainset, criterion) -> None:
        """Checkpoints of the weights, optimiser, scheduler, ``criterion`` (the method's
        state), EMA, scaler and RNG states, refusing another training set's."""
        model = unwrap_model(self.model)
        self.checkpointer = Checkpointer(CheckpointParts(
            model=model, optimizer=self.optimizer, scheduler=self.scheduler,
            criterion=criterion, ema=self.step.ema, scaler=self.step.scaler,
            meta=checkpoint_meta(trainset, model, self.embedding.feature_dim,
                                 sources=self.datamanager.sources), method=self.method))

    def run(self, save_dir='log', *args, **kwargs):
        """torchreid's ``Engine.run``; records ``save_dir`` for per-epoch checkpoints and
        removes the unfinished checkpoint files a killed run left there."""
        self._save_dir = save_dir
        self.checkpointer.start(save_dir, is_main_process())
        return super().run(save_dir, *args, **kwargs)

    def divergence_hint(self) -> str:
        """Under CPU bf16 autocast, also float32: a PyTorch kernel fault (docs/user_guide.md)."""
        hint = super().divergence_hint()
        if self.step.device == 'cpu' and self.step.amp_dtype is torch.bfloat16:
            hint += ('; under amp "bf16" on the CPU, PyTorch\'s oneDNN convolutions were also '
                     'seen to give NaN weight gradients to kernel taps lying wholly in padding '
                     '(refused at the start, but other kernels may differ): try '
                     'amp "" (float32)')
        return hint

    def write_latest_checkpoint(self) -> None:
        """After an epoch: ``checkpoint-latest.pth.tar``, when the run has a ``save_dir``."""
        if self._save_dir is not None:
            self.checkpointer.write(self._save_dir, LATEST_CHECKPOINT, self.epoch + 1, None,
                                    is_main_process(), self.progress())

    def test(self, *args, **kwargs):
        """torchreid's test on the EMA weights if kept, else the unwrapped model; nothing
        (None) without a target data set (training on a set without identities)."""
        trained = self.model
        ema = self.step.ema
        self.model = ema.module if ema is not None else unwrap_model(trained)
        try:
            return super().test(*args, **kwargs)
        finally:
            self.model = trained

    def save_model(self, epoch, rank1, save_dir, is_best=False):
        """Writes ``save_dir/model/model.pth.tar-<epoch+1>`` atomically: the weights
        evaluation uses (``state_dict``; the trained ones too when an EMA is kept), not
        what resuming needs, which ``checkpoint-latest.pth.tar`` holds."""
        names = [f'model.pth.tar-{epoch + 1}'] + (['model-best.pth.tar'] if is_best else [])
        paths = [self.checkpointer.write(save_dir, name, epoch + 1, rank1, is_main_process(),
                                         resumable=False)
                 for name in names]
        return paths[0]

    def resume(self, fpath: str, evaluation: bool = False) -> int:
        """Restores weights, optimizer, scheduler, the method's state, EMA, epoch and RNG
        states, refusing a checkpoint of another method, training set, split or backbone;
        returns the epoch to pass to ``run(start_epoch=...)``. With ``evaluation``, the
        weights and EMA only (a per-epoch ``model.pth.tar-N`` serves)."""
        self.epoch = self.checkpointer.resume(fpath, evaluation)
        recorded = self.checkpointer.progress
        if recorded:  # the run goes on counting from where the checkpoint's stopped
            self.frames_seen = recorded['frames_seen']
            history = self.monitor_records()
            if history is not None:
                history[:0] = [e for e in recorded['history'].get(self.method, [])
                                       if e.get('epoch', 0) <= self.epoch]
        return self.epoch

    def monitor(self):
        """The engine's diagnostics monitor (identities, for reporting only), or None."""
        return None

    def monitor_records(self) -> list | None:
        """The monitor's per-epoch list: ``history`` of one scored against identities,
        ``statistics`` of a label-free one (:mod:`~dal_torchreid.engine.label_free_statistics`);
        None without a monitor."""
        monitor = self.monitor()
        for name in ('history', 'statistics'):
            records = getattr(monitor, name, None)
            if isinstance(records, list):
                return records
        return None

    def progress(self) -> dict:
        """What this run has recorded so far, kept in its checkpoints so a resumed run's
        ``results.json`` and plots cover every epoch: frames seen (all processes) and the
        monitor's per-epoch records (:meth:`monitor_records`)."""
        history = self.monitor_records()
        return {'frames_seen': int(self.frames_seen),
                'history': {self.method: list(history) if history is not None else []}}
