"""A pretrained BERT encoder fine-tuned on the catalog's categories (Keras 3 on TensorFlow).

It starts from a sentence encoder fetched with ``prodcat fetch-encoder`` (see ``sentence_encoder``)
and trains every weight but the word embeddings, with a softmax layer over the mean of the last
layer. Slow next to the other families (a network of millions of weights runs for every text), but
it knows words and phrases the catalog has never shown it, so it errs where they do not: its worth
is as a member of the ensemble.

Saved as the fine-tuned encoder's own files (``config.json``, ``model.safetensors``,
``tokenizer.json``) and the softmax layer's arrays (``head.safetensors``): plain arrays and JSON,
so loading runs no code from the files.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from prodcat import artifacts
from prodcat.errors import ModelError
from prodcat.models.base import FitData, ModelFamily
from prodcat.models.keras_family import import_keras
from prodcat.models.sentence_encoder import (
    BertShape,
    by_length,
    check_encoder_directory,
    encoder_directory,
    import_encoder_libraries,
    mean_pool,
    read_tokenizer,
    read_weights,
    token_states,
    write_weights,
)

_HEAD = "head.safetensors"
_WORDS = "embeddings.word_embeddings.weight"  # kept as pretrained: most of a catalog's words are rare


class TransformerModel(ModelFamily):
    """``encoder`` (a known encoder's name or a folder) fine-tuned for ``epochs`` on each text's
    first ``max_tokens`` tokens, with AdamW: the learning rate warms up over the first ``warmup``
    share of the steps, then decays to zero along a cosine."""

    name = "transformer"

    def __init__(
        self,
        *,
        encoder: str = "all-MiniLM-L6-v2",
        max_tokens: int = 32,
        epochs: int = 3,
        batch_size: int = 32,
        learning_rate: float = 2e-4,
        weight_decay: float = 0.01,
        warmup: float = 0.06,
        dropout: float = 0.1,
    ):
        self.params = {
            "encoder": encoder,
            "max_tokens": max_tokens,
            "epochs": epochs,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "weight_decay": weight_decay,
            "warmup": warmup,
            "dropout": dropout,
        }

    def fit(self, data: FitData) -> "TransformerModel":
        import_encoder_libraries()
        keras = import_keras()
        import tensorflow as tf

        p = self.params
        source = encoder_directory(p["encoder"])
        check_encoder_directory(source)
        self.files_ = _read_files(source)
        self.shape_ = BertShape.read(source)
        self.tokenizer_ = read_tokenizer(source, p["max_tokens"])
        keras.utils.set_random_seed(data.seed)
        network = _classifier_class(keras)(read_weights(source), self.shape_, data.n_labels, p["dropout"], data.seed)
        steps = math.ceil(len(data.texts) / p["batch_size"]) * p["epochs"]
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=max(steps - int(p["warmup"] * steps), 1), warmup_target=p["learning_rate"], warmup_steps=int(p["warmup"] * steps)
        )
        optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=p["weight_decay"])
        optimizer.exclude_from_weight_decay(var_names=["bias", "LayerNorm", "embeddings"])
        network.compile(optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                        metrics=["accuracy"], jit_compile=False)
        callbacks = list(data.extra.get("callbacks", []))
        if data.log_dir:
            callbacks.append(keras.callbacks.TensorBoard(log_dir=data.log_dir))
        validation = None
        if data.validation_texts is not None and len(data.validation_texts):
            validation = self._dataset(tf, data.validation_texts, data.validation_y)
        result = network.fit(
            self._dataset(tf, data.texts, data.y, seed=data.seed),
            validation_data=validation,
            epochs=p["epochs"],
            shuffle=False,  # the batches are shuffled, seeded, by ``_dataset``
            class_weight=data.class_weight,
            callbacks=callbacks,
            verbose=data.verbose,
        )
        self.history = {key: [float(v) for v in values] for key, values in result.history.items()}
        self._use({name: variable.numpy() for name, variable in network.bert.items()}, network.head_kernel.numpy(), network.head_bias.numpy())
        return self

    def _dataset(self, tf, texts: list[str], y: np.ndarray, seed: int | None = None):
        """Batches of ``((ids, mask), y)`` of texts of about the same length; with ``seed``, in a new
        random order every epoch (texts are drawn in runs of 50 batches, sorted by length within each)."""
        token_ids = [e.ids for e in self.tokenizer_.encode_batch(list(texts))]
        batch_size, labels = self.params["batch_size"], np.asarray(y, dtype=np.int32)
        rng = np.random.default_rng(seed)

        run_size = 50 * batch_size

        def batches():
            order = rng.permutation(len(token_ids)) if seed is not None else np.arange(len(token_ids))
            runs = [order[i : i + run_size] for i in range(0, len(order), run_size)]
            found = [(run[rows], ids, mask) for run in runs for rows, ids, mask in by_length([token_ids[i] for i in run], batch_size)]
            for index in rng.permutation(len(found)) if seed is not None else range(len(found)):
                rows, ids, mask = found[index]
                yield (ids, mask), labels[rows]

        signature = ((tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None, None], tf.float32)), tf.TensorSpec([None], tf.int32))
        count = sum(math.ceil(min(run_size, len(token_ids) - start) / batch_size) for start in range(0, len(token_ids), run_size))
        dataset = tf.data.Dataset.from_generator(batches, output_signature=signature)
        return dataset.apply(tf.data.experimental.assert_cardinality(count)).prefetch(2)

    def _use(self, weights: dict[str, np.ndarray], kernel: np.ndarray, bias: np.ndarray) -> None:
        """Predict from these arrays, in one traced graph (the tensors are the model's only copy)."""
        import tensorflow as tf

        self.weights_ = {name: tf.constant(array) for name, array in weights.items()}
        self.head_ = (tf.constant(kernel), tf.constant(bias))
        constants, (kernel, bias), shape = self.weights_, self.head_, self.shape_

        def network(ids, mask):
            return tf.matmul(mean_pool(token_states(constants, shape, ids, mask), mask), kernel) + bias

        spec = [tf.TensorSpec([None, None], tf.int32), tf.TensorSpec([None, None], tf.float32)]
        self._forward = tf.function(network, input_signature=spec)

    def logits(self, texts: list[str]) -> np.ndarray:
        logits = np.zeros((len(texts), int(self.head_[1].shape[0])), dtype=np.float32)
        for rows, ids, mask in by_length([e.ids for e in self.tokenizer_.encode_batch(list(texts))]):
            logits[rows] = self._forward(ids, mask).numpy()
        return logits

    def save(self, directory: Path) -> None:
        from safetensors.numpy import save_file

        for name, content in self.files_.items():
            (directory / name).write_bytes(content)
        write_weights(directory, {name: tensor.numpy() for name, tensor in self.weights_.items()})
        save_file({"kernel": self.head_[0].numpy(), "bias": self.head_[1].numpy()}, str(directory / _HEAD))

    @property
    def n_outputs(self) -> int:
        return int(self.head_[1].shape[0])

    @classmethod
    def load(cls, directory: Path, params: dict) -> "TransformerModel":
        for name in (*_FILES, "model.safetensors", _HEAD):  # checked here; the libraries read them by name
            artifacts.model_file(directory, name)
        _, load_file, _ = import_encoder_libraries()
        model = cls(**params)
        model.files_ = _read_files(directory)
        model.shape_ = BertShape.read(directory)
        model.tokenizer_ = read_tokenizer(directory, model.params["max_tokens"])
        head = load_file(str(directory / _HEAD))
        kernel, bias = head["kernel"], head["bias"]
        if kernel.shape != (model.shape_.dim, *bias.shape) or bias.ndim != 1:
            raise ModelError(f"{directory / _HEAD}: kernel {kernel.shape} and bias {bias.shape} do not fit a {model.shape_.dim}-wide encoder; retrain or restore the model")
        model._use(read_weights(directory), kernel, bias)
        return model


_FILES = ("config.json", "tokenizer.json")


def _read_files(directory: Path) -> dict[str, bytes]:
    """The encoder's configuration and tokenizer, kept to be saved with the model."""
    return {name: (directory / name).read_bytes() for name in _FILES}


def _classifier_class(keras):
    """The Keras model that is trained (defined here: Keras is imported only when a model is trained)."""

    class Classifier(keras.Model):
        """BERT (``token_states``) with dropout, mean pooling and a dense layer to the labels' logits."""

        def __init__(self, weights: dict[str, np.ndarray], shape: BertShape, n_labels: int, dropout: float, seed: int):
            super().__init__(name="prodcat_transformer")
            self.bert_shape = shape
            self.bert = {}
            for name, array in sorted(weights.items()):
                variable = self.add_weight(shape=array.shape, initializer="zeros", trainable=name != _WORDS, name=name.replace(".", "_"))
                variable.assign(array)
                self.bert[name] = variable
            self.head_kernel = self.add_weight(shape=(shape.dim, n_labels), initializer=keras.initializers.TruncatedNormal(stddev=0.02, seed=seed), name="head_kernel")
            self.head_bias = self.add_weight(shape=(n_labels,), initializer="zeros", name="head_bias")
            self.dropout = keras.layers.Dropout(dropout, seed=seed)

        def call(self, inputs, training=False):
            import tensorflow as tf

            ids, mask = inputs
            drop = (lambda x: self.dropout(x, training=True)) if training else None
            pooled = mean_pool(token_states(self.bert, self.bert_shape, ids, mask, drop), mask)
            if training:
                pooled = self.dropout(pooled, training=True)
            return tf.matmul(pooled, self.head_kernel) + self.head_bias

    return Classifier
