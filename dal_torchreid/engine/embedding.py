"""Reading a torchreid backbone's embedding while it trains.

torchreid backbones return logits (``loss='softmax'``) or ``(logits, features)``
(``loss='triplet'``) in training mode and the embedding only in eval mode. DAL
trains on the embedding, so :class:`EmbeddingReader` captures the input of the
backbone's ``classifier`` layer, which is the embedding in every torchreid
model built by ``torchreid.models.build_model`` that has a single classifier.
While the reader is attached, the classifier passes the embedding through in
place of its logits, so the classifier's weights take no part in the loss's
graph (``DistributedDataParallel`` then sees them as unused, not as missing).
"""
from __future__ import annotations

from torch import Tensor, nn


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module inside ``DataParallel`` / ``DistributedDataParallel`` wrappers."""
    while isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
        model = model.module
    return model


class EmbeddingReader:
    """Calls the model in training mode and returns its embedding, shape (B, D).

    Args:
        model (nn.Module): a torchreid backbone with one ``nn.Linear`` ``classifier``
            (possibly inside ``DataParallel`` / ``DistributedDataParallel``); a model
            without one is refused with ``TypeError``, since its embedding cannot be
            told apart from its other outputs.

    Examples::

        model = torchreid.models.build_model('resnet50', num_classes=1, pretrained=False)
        embedding = EmbeddingReader(model)
        model.train()
        features = embedding(imgs)  # (B, 2048), with gradient; not the logits
    """

    def __init__(self, model: nn.Module) -> None:
        net = unwrap_model(model)
        classifier = getattr(net, 'classifier', None)
        if not isinstance(classifier, nn.Linear):
            raise TypeError(
                f'VideoDALEngine cannot read an embedding from {type(net).__name__}: it trains '
                'on the input of the model\'s `classifier` layer, which must be a single '
                f'nn.Linear (found {type(classifier).__name__}). Use a torchreid backbone with '
                'a global feature and one classifier (e.g. resnet50, mobilenetv2_x1_0, '
                'osnet_x1_0), or give the model such a `classifier`.')
        self.model = model
        self.feature_dim = classifier.in_features
        self._captured: Tensor | None = None
        self.classifier = classifier
        self._handle = classifier.register_forward_hook(self._capture)

    def _capture(self, module: nn.Module, inputs: tuple, output: Tensor) -> Tensor:
        self._captured = inputs[0]
        return inputs[0]

    def __call__(self, imgs: Tensor) -> Tensor:
        self._captured = None
        self.model(imgs)
        features, self._captured = self._captured, None
        if features is None:
            raise RuntimeError(
                'the model did not call its classifier in this forward pass; '
                'VideoDALEngine reads the embedding in training mode (model.train())'
            )
        return features

    def remove(self) -> None:
        """Detaches the hook from the model."""
        self._handle.remove()
