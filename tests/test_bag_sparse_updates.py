"""The bag's optimizer updates only the embedding rows a batch touches, as Adam would update them
(given the gradient of repeated tokens summed, as a dense gradient has it)."""

from __future__ import annotations

import numpy as np

from prodcat.models.bag import _sparse_adam
from prodcat.models.keras_family import import_keras


def _network(keras):
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(3,), dtype="int32")
    x = keras.layers.Embedding(50, 4, name="embed")(inputs)
    x = keras.layers.GlobalAveragePooling1D()(x)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def _steps(optimizer, batches, dense: bool = False):
    import tensorflow as tf

    keras = import_keras()
    model = _network(keras)
    loss = keras.losses.SparseCategoricalCrossentropy()
    embeddings = [model.get_layer("embed").get_weights()[0]]
    for tokens, y in batches:
        with tf.GradientTape() as tape:
            value = loss(y, model(tokens, training=True))
        gradients = tape.gradient(value, model.trainable_variables)
        if dense:  # as a dense gradient (Keras's Adam squares an embedding's slices before adding repeats)
            gradients = [tf.convert_to_tensor(g) for g in gradients]
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        embeddings.append(model.get_layer("embed").get_weights()[0])
    return embeddings


def test_sparse_adam_moves_only_the_rows_of_the_batch_and_as_adam_does_on_the_first_step():
    keras = import_keras()
    first = (np.array([[1, 2, 3], [2, 4, 4]]), np.array([0, 1]))
    second = (np.array([[10, 11, 12]]), np.array([2]))
    dense = _steps(keras.optimizers.Adam(0.01), [first, second], dense=True)
    sparse = _steps(_sparse_adam(keras)(0.01), [first, second])
    np.testing.assert_allclose(sparse[1], dense[1], atol=1e-6)  # untouched rows: Adam moves them by 0 too
    moved = np.flatnonzero(np.any(sparse[1] != sparse[0], axis=1))
    assert moved.tolist() == [1, 2, 3, 4]
    # Second step: Adam keeps moving the first batch's rows by their momentum; the sparse one leaves them.
    np.testing.assert_array_equal(sparse[2][[1, 2, 3, 4]], sparse[1][[1, 2, 3, 4]])
    assert not np.allclose(dense[2][[1, 2, 3, 4]], dense[1][[1, 2, 3, 4]])
    assert np.flatnonzero(np.any(sparse[2] != sparse[1], axis=1)).tolist() == [10, 11, 12]


def test_the_bag_trains_a_network_over_the_saved_one_s_layers_with_the_same_outputs():
    from prodcat.models.bag import BagModel

    keras = import_keras()
    texts = ["cotton shirt for men", "usb cable two metres", "paperback novel", "steel pan", "", "shirt cable"]
    bag = BagModel(max_tokens=100, embedding_dim=8)
    model = bag._build(keras, bag._cut(texts), 3)
    trainer = bag._trainer(keras, model)
    assert trainer is not model and "SparseLookup" in {type(layer).__name__ for layer in trainer.layers}
    assert {id(w) for w in trainer.trainable_weights} == {id(w) for w in model.trainable_weights}  # the same variables
    import tensorflow as tf

    strings = tf.constant(np.asarray(bag._cut(texts), dtype=object).reshape(-1, 1))
    np.testing.assert_allclose(trainer(strings, training=False), model(strings, training=False), atol=1e-7)
    # ... and what is saved is the plain network: no training-only layer
    assert "SparseLookup" not in {type(layer).__name__ for layer in model.layers}
    assert BagModel(sparse_updates=False)._trainer(keras, model) is model
