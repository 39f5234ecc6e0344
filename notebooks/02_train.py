# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
# ---

# %% [markdown]
# # 02 — Training the CNNs
#
# Trains one of the paper's networks (Chudy et al. 2025, Sect. 3.2.2) on one input kind, taken
# from the fitting stage's products:
#
# | `input_kind` | network | input channels |
# |---|---|---|
# | `raw` | CNN1 | the raw 128x128 cutout |
# | `model` | CNN2 | the Sérsic model image |
# | `residual` | CNN3 | raw minus model |
# | `stack` | CNN4 (not in the paper) | raw, model and residual as three channels |
#
# `run_all.py` runs this notebook once per entry of the profile's `input_kinds`, injecting
# `input_kind`. Each image is normalised linearly to [0, 1], channel by channel, on the fly
# (`galmerge.nets.training.normalise_images`), streamed from the HDF5 cubes in batches (a dataset
# larger than memory trains), shuffled with `train_seed`. The weights of the epoch with the
# highest validation accuracy at the threshold where validation precision equals recall are kept,
# as in the paper (Sect. 3.2): after every epoch the validation split is scored, that epoch's
# precision = recall threshold is found on those scores, and the accuracy there is compared.
#
# Outputs, in `<run>/train/<input_kind>/`: `model.keras` (best epoch), `history.csv` (every epoch,
# best flagged), `config.json` (parameters, versions, devices, parameter count),
# `scores_validation.csv` and `scores_test.csv` (ID, label, score = P(merger)). A folder that
# already holds a finished run with the same parameters and products is reused, not retrained.
#
# **Train seeds** (issue 23: two trainings of CNN1 on the same data differed by several accuracy
# points): with `seeds = k` the network is trained k times, with train seeds `train_seed`, ...,
# `train_seed + k - 1`; the first seed's outputs stay in `train/<input_kind>/`, each further seed's go
# to `train/<input_kind>/seed_<s>/` (`galmerge.runs.Run.seed_dirs`), each reused on its own, and
# `seeds.json` lists them. The analysis gives each seed its own validation threshold, reports the
# seed mean and spread (Tables 1, 2) and resamples seeds with the merger sequences (conclusions).
#
# **Where this departs from the paper's text** (details in the docstring of `galmerge.nets.cnn`):
#
# * the output neuron uses a **sigmoid**: the paper's "softmax" on a single neuron is
#   exp(z)/exp(z) = 1 for every input and cannot learn;
# * the paper quotes **8,186,113** trainable parameters, which no reading of its layer list
#   gives: with 'valid' padding (used here) the list gives **7,594,241**, with 'same' padding
#   20,177,153;
# * the text says "after the four convolutional layers" but lists three: three are used.
#
# The quick and smoke profiles use a narrower network (fewer kernels and dense units) and fewer
# epochs than the paper so that they run on a laptop CPU; the paper profile uses the paper's
# sizes and 50 epochs. The quick profile's network also averages 2 x 2 pixels of the 128 px crop
# before its first convolution (`cnn_input_bin`, kernels 7, 6, 5 covering the paper's sky), about
# 7 times cheaper. With `cnn_asymmetry_channel` (not in the paper) every input channel is joined by
# its rotational asymmetry map, the image less itself turned by 180 degrees (`galmerge.nets.asymmetry`).
# With `batch_norm_recalibration` (not in the paper) the batch-normalisation statistics the network
# uses at inference are re-estimated after every epoch on training images with dropout off, instead
# of Keras' moving averages, which carry dropout's variance (`galmerge.nets.batchnorm`).
# With `patience` set (not in these profiles) training stops after that many epochs
# without a lower validation loss.

# %% tags=["parameters"]
run_dir = "../runs/quick-mock_quick"
data_dir = "../data/mock_quick"
figures_dir = "../figures/quick-mock_quick"
input_kind = "raw"
cnn_filters = 16
cnn_kernel_sizes = [7, 6, 5]
cnn_dense_units = [64, 16]
cnn_input_bin = 2
cnn_asymmetry_channel = True
batch_norm_recalibration = True
epochs = 40
patience = None
batch_size = 32
learning_rate = 0.0003
augment = True
mixed_precision = False
train_seed = 1
seeds = 1

# %% tags=["remove-input"]
import tensorflow as tf
from IPython.display import display

from galmerge.nets import cnn, training
from galmerge.report import figures
from galmerge.runs import Run
from galmerge.sersic.products import Products
from galmerge.vocab import network_label

run = Run(run_dir)
out_dir = run.train_dir(input_kind)
seed_dirs = run.seed_dirs(input_kind, range(train_seed, train_seed + seeds))
channels = Products(run.products).input_channels(input_kind)  # one per band with the bands parameter
print(f"{network_label(input_kind)}: input channels {channels}; outputs in {out_dir}"
      + (f" (train seed {train_seed}) and {seeds - 1} further seed folder(s)" if seeds > 1 else ""))
print("devices:", [d.name for d in tf.config.list_physical_devices()])

# %% [markdown]
# ## Data
#
# The splits and labels come from the products' image table (the catalogue's 75:15:10 split,
# grouped by merger sequence).

# %%
products = Products(run.products)
counts = (products.images.groupby(["split", "label"]).size().unstack("label", fill_value=0)
          .rename(columns={0: "non-merger", 1: "merger"}).reindex(["train", "validation", "test"]))
counts["merger fraction"] = (counts["merger"] / counts.sum(axis=1)).round(3)
display(counts)

# %% [markdown]
# ## The network
#
# The summary below is the network this notebook trains (the profile's widths). The count for
# the paper's widths is computed from the layer list (`galmerge.nets.cnn.trainable_parameter_count`)
# and checked against a built model in the test suite.

# %%
network = cnn.build_model(input_shape=(128, 128, len(channels)), filters=cnn_filters,
                          kernel_sizes=cnn_kernel_sizes, dense_units=cnn_dense_units, input_bin=cnn_input_bin,
                          asymmetry_channel=cnn_asymmetry_channel, learning_rate=learning_rate,
                          name=f"cnn_{input_kind}")
network.summary()
n_params = cnn.count_trainable_params(network)
paper_valid = cnn.trainable_parameter_count((128, 128, 1), padding="valid")
paper_same = cnn.trainable_parameter_count((128, 128, 1), padding="same")
print(f"trainable parameters of this network: {n_params:,}")
print(f"paper's widths, one channel: {paper_valid:,} with 'valid' padding (used), {paper_same:,} with 'same';"
      f" the paper quotes {cnn.PAPER_QUOTED_TRAINABLE_PARAMS:,}, which matches neither")
del network

# %% [markdown]
# ## Training
#
# Adam (learning rate `learning_rate`), binary cross-entropy, `epochs` passes; the kept epoch is
# the one with the highest validation accuracy at its validation precision = recall threshold
# (the first one, on a tie). With `seeds` above 1, the same for every train seed in turn; the table
# after the training lists each seed's kept epoch and accuracies.

# %%
results = training.train_seeds(
    products, input_kind, seed_dirs, epochs=epochs, batch_size=batch_size, filters=cnn_filters,
    kernel_sizes=cnn_kernel_sizes, dense_units=cnn_dense_units, learning_rate=learning_rate,
    augment=augment, mixed_precision=mixed_precision, input_bin=cnn_input_bin,
    asymmetry_channel=cnn_asymmetry_channel, batch_norm_recalibration=batch_norm_recalibration, patience=patience)
run.write_train_seeds(input_kind, list(seed_dirs))
result = results[train_seed]  # the first seed: the learning curves and scores shown below
for seed, each in results.items():
    if each.reused:
        print(f"seed {seed}: {each.out_dir} already holds a finished run with the same parameters and products: "
              f"reused, not retrained (it trained in {each.seconds:.0f} s). Delete the folder or use "
              "run_all.py --force to retrain.")
    else:
        rate = each.config["results"]["images_per_second"]
        print(f"seed {seed}: trained in {each.seconds:.0f} s ({rate:.1f} training images/s, "
              "validation passes included)")
print(f"seed {train_seed}: kept epoch {result.best_epoch} of {len(result.history)}: validation accuracy "
      f"{result.val_accuracy_best:.3f} at its precision = recall threshold {result.val_threshold_best:.3f}; "
      f"test accuracy at threshold 0.5: {result.test_accuracy:.3f}")
display(result.history.round(4))
if seeds > 1:
    display(training.seed_summary(results).round(4))

# %% [markdown]
# ## Learning curves
#
# The paper saw all three networks overfit after about 15 epochs (training accuracy rising
# while validation accuracy stays flat); the dotted line marks the kept epoch. Accuracies at
# threshold 0.5 (dashed: training, solid: validation) and, dash-dotted, the validation accuracy at
# each epoch's precision = recall threshold, which chooses the kept epoch.

# %%
figures.show("learning_curves", figures_dir, result.history, kind=input_kind, best_epoch=result.best_epoch)

# %% [markdown]
# ## Scores
#
# Distribution of the saved network's validation scores per class; the analysis notebooks
# choose the threshold where precision equals recall on this split.

# %%
scores = run.scores(input_kind, "validation")
figures.show("scores", figures_dir, scores, kind=input_kind)

# %%
summary = run.update_summary(f"train_{input_kind}", {**result.summary(), "reused": result.reused,
                                                    "seeds": {s: r.summary() for s, r in results.items()}})
summary[f"train_{input_kind}"]

# %%
products.close()
