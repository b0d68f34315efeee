#!/usr/bin/env python3
"""The Keras side of the mult_vae speed comparison (issue 11).

Trains the same Mult-VAE as `cargo bench --bench train -- mult_vae` on the
same generated data (the bench's xorshift triplets: 4,200 users x 17,000
items, 3.18M rows, every row a positive), in Keras 3 on TensorFlow CPU with
2 threads, and prints seconds per epoch: the median of `--epochs` timed
epochs after one warm-up epoch.

    python benches/keras_mult_vae.py [--epochs 3] [--threads 2]

Needs `tensorflow-cpu` (Keras 3) and numpy; see README "Benchmarks".
"""
import argparse
import os
import statistics
import time

USERS, ITEMS, ROWS = 4_200, 17_000, 3_180_000
HIDDEN, LATENT, BATCH, DROPOUT = 600, 200, 500, 0.5
MASK = (1 << 64) - 1


def triplets():
    """benches/train.rs Data::mal_scale(): users, then items, one stream."""
    state = 0x9E3779B97F4A7C15

    def draws(n, mod):
        nonlocal state
        out = [0] * n
        s = state
        for k in range(n):
            s ^= (s << 13) & MASK
            s ^= s >> 7
            s ^= (s << 17) & MASK
            out[k] = s % mod
        state = s
        return out

    users = draws(ROWS, USERS)
    items = draws(ROWS, ITEMS)
    return users, items


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    import tensorflow as tf
    import keras

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    users, items = triplets()
    x = np.zeros((USERS, ITEMS), dtype=np.float32)
    x[np.asarray(users), np.asarray(items)] = 1.0

    init = keras.initializers.GlorotUniform(seed=1)
    enc = keras.layers.Dense(HIDDEN, activation="tanh", kernel_initializer=init)
    enc_out = keras.layers.Dense(2 * LATENT, kernel_initializer=init)
    dec = keras.layers.Dense(HIDDEN, activation="tanh", kernel_initializer=init)
    dec_out = keras.layers.Dense(ITEMS, kernel_initializer=init)
    drop = keras.layers.Dropout(DROPOUT, seed=1)
    opt = keras.optimizers.Adam(1e-3)
    layers = [enc, enc_out, dec, dec_out]
    for layer, d in zip(layers, [ITEMS, HIDDEN, LATENT, HIDDEN]):
        layer.build((None, d))
    weights = [w for layer in layers for w in layer.trainable_weights]

    @tf.function
    def step(xb, beta):
        with tf.GradientTape() as tape:
            h = drop(tf.math.l2_normalize(xb, 1), training=True)
            q = enc_out(enc(h))
            mu, logvar = q[:, :LATENT], q[:, LATENT:]
            z = mu + tf.random.normal(tf.shape(mu)) * tf.exp(0.5 * logvar)
            logp = tf.nn.log_softmax(dec_out(dec(z)), axis=1)
            nll = -tf.reduce_mean(tf.reduce_sum(logp * xb, axis=1))
            kl = tf.reduce_mean(
                tf.reduce_sum(0.5 * (-logvar + tf.exp(logvar) + mu**2 - 1), axis=1)
            )
            loss = nll + beta * kl
        opt.apply_gradients(zip(tape.gradient(loss, weights), weights))
        return loss

    rng = np.random.default_rng(1)

    def epoch():
        order = rng.permutation(USERS)
        t0 = time.perf_counter()
        for k in range(0, USERS, BATCH):
            step(tf.constant(x[order[k : k + BATCH]]), tf.constant(0.2))
        return time.perf_counter() - t0

    epoch()  # warm-up: traces the graph
    secs = [epoch() for _ in range(args.epochs)]
    print(
        f"keras mult_vae epoch: median {statistics.median(secs):.2f} s "
        f"over {len(secs)} epochs ({', '.join(f'{s:.2f}' for s in secs)}), "
        f"{args.threads} threads, keras {keras.__version__}, tensorflow {tf.__version__}"
    )


if __name__ == "__main__":
    main()
