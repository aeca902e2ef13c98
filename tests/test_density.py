"""Conditional density models (hgtools.density): API, determinism, references, saving, bad input."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from scipy import stats

from hgtools import density
from hgtools.models import ModelFileError, load_model

# A linear Gaussian law: Y = X A + L eps, with correlated scatter (known mean and covariance).
A = np.array([[0.8, -0.5, 0.3, 0.2], [0.1, 0.4, -0.2, 0.0], [0.0, 0.1, 0.5, 0.1], [0.2, 0.0, 0.0, -0.3],
              [0.0, 0.0, 0.1, 0.0]])
L = np.array([[0.3, 0, 0, 0], [-0.15, 0.4, 0, 0], [0.1, 0.05, 0.2, 0], [-0.05, -0.2, 0.0, 0.1]])
FAST = {"flow": {"hidden": (16, 16), "epochs": 3, "n_bins": 4, "mass_knots": (-0.5, 0.5), "jit_compile": False,
                 "stellar_mass_floor": None},  # the law below is not the catalogue's: M* spans the whole line
        "gaussian": {"hidden": (16,), "epochs": 3}, "residual": {"n_neighbors": 5, "n_folds": 2}}


def law(n: int, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    return X, X @ A + rng.normal(size=(n, 4)) @ L.T


@pytest.fixture(scope="module")
def fitted():
    X, Y = law(1500, 0)
    Xv, Yv = law(300, 1)
    return {name: density.make_density(name, **FAST[name]).fit(X, Y, Xv, Yv) for name in density.DENSITY_MODELS}


@pytest.mark.parametrize("name", density.DENSITY_MODELS)
def test_sample_shape_and_determinism(fitted, name):
    model = fitted[name]
    X, _ = law(50, 2)
    draws = model.sample(X, n_draws=3, seed=7)
    assert draws.shape == (3, 50, 4) and np.isfinite(draws).all()
    np.testing.assert_array_equal(draws, model.sample(X, n_draws=3, seed=7))
    assert not np.array_equal(draws, model.sample(X, n_draws=3, seed=8))
    assert not np.array_equal(draws[0], draws[1])  # draws differ from each other


@pytest.mark.parametrize("name", density.DENSITY_MODELS)
def test_fit_is_deterministic(name):
    X, Y = law(400, 3)
    a = density.make_density(name, **FAST[name]).fit(X, Y, X[:100], Y[:100])
    b = density.make_density(name, **FAST[name]).fit(X, Y, X[:100], Y[:100])
    np.testing.assert_array_equal(a.sample(X[:20], 2, seed=1), b.sample(X[:20], 2, seed=1))


@pytest.mark.parametrize("name", density.DENSITY_MODELS)
def test_save_load_round_trip(fitted, name, tmp_path):
    model = fitted[name]
    folder = density.save_density(model, tmp_path / name, {"source": "test"})
    card = json.loads((folder / "card.json").read_text())
    assert card["kind"] == "density" and card["model"] == name and card["source"] == "test"
    assert card["units"]["stellar_mass"] == "log10 Msun/h" and card["features"][0] == "M_h"
    again, _ = load_model(folder)  # the models' loader hands density folders on
    X, Y = law(40, 4)
    np.testing.assert_array_equal(model.sample(X, 2, seed=3), again.sample(X, 2, seed=3))
    if model.has_log_prob:
        np.testing.assert_array_equal(model.log_prob(X, Y), again.log_prob(X, Y))
        # what the fit measured comes back with the model (the book reports it from the cache)
        assert again.validation_log_prob_ == pytest.approx(model.validation_log_prob_)
    assert density.is_density(folder)
    with pytest.raises(FileExistsError):
        density.save_density(model, folder)


def test_parameters_given_as_lists_or_arrays_are_saved(fitted, tmp_path):
    import copy

    model = copy.copy(fitted["flow"])  # the same fitted flow, its parameters given as a list and an array
    model.set_params(hidden=list(model.hidden), mass_knots=np.array(model.mass_knots))
    folder = density.save_density(model, tmp_path / "lists")
    assert json.loads((folder / "card.json").read_text())["params"]["hidden"] == [16, 16]
    again, _ = density.load_density(folder)
    X, _ = law(30, 5)
    np.testing.assert_array_equal(fitted["flow"].sample(X, 2, seed=3), again.sample(X, 2, seed=3))
    # a parameter the card cannot hold: a clear error, nothing written (not a card that rebuilds another model)
    model.set_params(mass_knots=[[-0.5], [0.5]])
    with pytest.raises(ValueError, match="mass_knots are not plain data"):
        density.save_density(model, tmp_path / "nested")
    assert not (tmp_path / "nested").exists()


@pytest.mark.parametrize("name", density.DENSITY_MODELS)
def test_haloes_outside_the_training_range_are_named(fitted, name, tmp_path):
    import warnings

    model = fitted[name]
    X, Y = law(50, 2)
    X = np.clip(X, model.x_min_, model.x_max_)  # the corners are in range
    with warnings.catch_warnings():
        warnings.simplefilter("error", density.ExtrapolationWarning)
        model.sample(X, seed=1)
    assert not model.outside_training_range(X).any()
    X[7, 2] = model.x_max_[2] + 1.0  # one halo with a spin beyond the training range
    with pytest.warns(density.ExtrapolationWarning, match=r"1 of 50 haloes .*\(S_h in \[") as caught:
        model.sample(X, seed=1)
    assert len(caught) == 1
    np.testing.assert_array_equal(np.flatnonzero(model.outside_training_range(X)), [7])
    low = X.copy()
    low[3, 0] = model.x_min_[0] - 0.5  # and one halo lighter than any trained on
    np.testing.assert_array_equal(np.flatnonzero(model.outside_training_range(low)), [3, 7])
    with pytest.warns(density.ExtrapolationWarning, match=r"2 of 50 haloes .*\(M_h in \[.*; S_h in \["):
        model.sample(low, seed=1)
    if model.has_log_prob:
        with pytest.warns(density.ExtrapolationWarning, match="1 of 50 haloes"):
            model.log_prob(X, Y)
    # a folder saved before the range was recorded loads, and warns about nothing
    folder = density.save_density(model, tmp_path / name)
    with np.load(folder / "arrays.npz") as stored:
        arrays = {k: stored[k] for k in stored.files if k not in ("x_min", "x_max")}
    np.savez(folder / "arrays.npz", **arrays)
    old, _ = density.load_density(folder)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", density.ExtrapolationWarning)
        expected = model.sample(X, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", density.ExtrapolationWarning)
        np.testing.assert_array_equal(old.sample(X, seed=1), expected)
    assert not old.outside_training_range(X).any()


def test_gaussian_log_prob_is_scipys(fitted):
    model = fitted["gaussian"]
    X, Y = law(30, 5)
    mean, cov = model.moments(X)
    expected = [stats.multivariate_normal(mean[i], cov[i]).logpdf(Y[i]) for i in range(len(X))]
    np.testing.assert_allclose(model.log_prob(X, Y), expected, rtol=1e-5, atol=1e-5)


def test_flow_matches_tensorflow_probabilitys_masked_autoregressive_flow(fitted):
    """Our sampling (one column at a time) and our log-density are TFP's chain of MaskedAutoregressiveFlows."""
    import tensorflow as tf
    import tensorflow_probability as tfp

    tfb = tfp.bijectors
    model = fitted["flow"]
    assert len(model.made_) == 2  # the second layer sees the properties in reverse order
    layers = [tfb.MaskedAutoregressiveFlow(
        bijector_fn=lambda u, conditional_input=None, made=made: model.spline(made(u, conditional_input=conditional_input)),
        name=f"maf{i}") for i, made in enumerate(model.made_)]
    reverse = tfb.Permute(permutation=[3, 2, 1, 0])
    chain = tfb.Chain([layers[0], reverse, layers[1], reverse])  # forward: the last first
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 5)).astype(np.float32)
    z = rng.normal(size=(64, 4)).astype(np.float32)
    kwargs = {f"maf{i}": {"conditional_input": model._context(x)} for i in range(2)}  # features and M_h hinges
    ours = model._forward(tf.constant(z), tf.constant(x)).numpy()
    np.testing.assert_allclose(ours, chain.forward(z, **kwargs).numpy(), rtol=1e-4, atol=1e-4)  # float32 rounding
    y = rng.normal(size=(64, 4)).astype(np.float32)
    flow = tfp.distributions.TransformedDistribution(tfp.distributions.MultivariateNormalDiag(tf.zeros(4)), chain)
    reference = flow.log_prob(y, bijector_kwargs=kwargs).numpy()
    np.testing.assert_allclose(-model._loss(tf.constant(y), tf.constant(x)).numpy(), reference, atol=1e-4)


def test_the_flows_networks_get_hinges_of_halo_mass(fitted):
    """Beside the five standardised features: max(0, M_h - knot) per knot, in M_h's standardised units."""
    model = fitted["flow"]
    X = law(200, 7)[0]
    context = model._context(model._standardise(X).astype(np.float32)).numpy()
    assert context.shape == (200, 5 + len(model.mass_knots))
    hinges = np.maximum(0, X[:, :1] - np.array(model.mass_knots)) / model.x_scale_[0]
    np.testing.assert_allclose(context[:, 5:], hinges, rtol=1e-5, atol=1e-5)
    assert (hinges > 0).any() and (hinges == 0).any()


def test_a_flow_saved_before_the_hinges_still_loads(fitted, tmp_path):
    """A card without ``mass_knots`` is a flow fitted on the five features alone; one without
    ``stellar_mass_floor`` a flow of M* itself."""
    X = law(300, 8)[0]
    old = density.FlowDensity(**{**FAST["flow"], "mass_knots": (), "stellar_mass_floor": None}).fit(*law(400, 9))
    density.save_density(old, tmp_path / "old")
    card = json.loads((tmp_path / "old" / "card.json").read_text())
    del card["params"]["mass_knots"], card["params"]["stellar_mass_floor"], card["params"]["upweight_mass"]
    (tmp_path / "old" / "card.json").write_text(json.dumps(card))
    loaded, _ = density.load_density(tmp_path / "old")
    assert loaded.mass_knots == () and loaded.stellar_mass_floor is None and loaded.upweight_mass is None
    np.testing.assert_array_equal(loaded.sample(X, seed=1), old.sample(X, seed=1))


def test_mass_weights_rise_linearly_over_the_ramp():
    w = density.mass_weights([10.0, 12.75, 13.0, 13.25, 15.0], start=12.75, factor=4.0, ramp=0.5)
    np.testing.assert_allclose(w, [1.0, 1.0, 2.5, 4.0, 4.0])
    for factor, ramp in ((0.5, 0.5), (2.0, 0.0)):
        with pytest.raises(ValueError, match="factor >= 1 and a ramp > 0"):
            density.mass_weights([12.0], start=12.0, factor=factor, ramp=ramp)


def test_repeats_are_the_weights_rounded_at_random():
    weights = np.repeat([1.0, 2.5, 4.0], 20_000)
    counts = density.repeats(weights, np.random.default_rng(0))
    assert counts.dtype.kind == "i" and set(np.unique(counts)) == {1, 2, 3, 4}
    assert (counts[:20_000] == 1).all() and (counts[-20_000:] == 4).all()
    assert set(np.unique(counts[20_000:40_000])) == {2, 3}
    assert counts[20_000:40_000].mean() == pytest.approx(2.5, abs=0.02)  # 4 standard errors
    np.testing.assert_array_equal(counts, density.repeats(weights, np.random.default_rng(0)))


def test_the_flow_weighs_massive_haloes_by_repeating_them():
    """A weight of 1 everywhere is the unweighted fit, draw for draw; weights above 1 change the fit."""
    X, Y = law(400, 12)
    fits = {k: density.make_density("flow", **FAST["flow"], **settings).fit(X, Y, X[:100], Y[:100])
            for k, settings in {"none": {"upweight_mass": None}, "one": {"upweight_mass": 0.0, "upweight": 1.0},
                                "four": {"upweight_mass": 0.0, "upweight": 4.0}}.items()}
    draws = {k: model.sample(X[:50], seed=3) for k, model in fits.items()}
    np.testing.assert_array_equal(draws["none"], draws["one"])
    assert not np.array_equal(draws["none"], draws["four"])


def test_the_flows_sampler_takes_another_spline(fitted):
    """_forward's ``spline`` replaces the splines (bench/density.py times the networks so): with the
    identity, the layers' permutations undo each other and the base draws come out unchanged."""
    import tensorflow as tf

    rng = np.random.default_rng(4)
    z = rng.normal(size=(50, 4)).astype(np.float32)
    x = tf.constant(rng.normal(size=(50, 5)).astype(np.float32))
    model = fitted["flow"]
    np.testing.assert_array_equal(model._forward(tf.constant(z), x, lambda params, v: v).numpy(), z)
    assert not np.allclose(model._forward(tf.constant(z), x).numpy(), z, atol=1e-3)


def test_the_flows_spline_is_tensorflow_probabilitys(fitted):
    import tensorflow as tf

    model = fitted["flow"]
    rng = np.random.default_rng(2)
    params = tf.constant(rng.normal(scale=2.0, size=(3000, 3 * model.n_bins - 1)).astype(np.float32))
    x = rng.normal(scale=0.6 * model.bound, size=3000)
    x[:6] = [-model.bound - 1, -model.bound, model.bound, model.bound + 0.5, 0.0, -0.0]  # outside and on the edges
    x = tf.constant(x.astype(np.float32))
    tfp_spline = model.spline(params)
    np.testing.assert_allclose(model.spline_forward(tf.transpose(params), x).numpy(), tfp_spline.forward(x).numpy(),
                               rtol=1e-6, atol=1e-6)


def test_the_trained_made_kernels_keep_their_masks(fitted):
    """Sampling skips the masked-out weights (FlowDensity._column_units): training must keep them zero."""
    for made in fitted["flow"].made_:
        for kernel, _, _, mask in fitted["flow"]._made_layers(made):
            assert not np.any(kernel.numpy()[mask == 0])


def test_the_xla_compiled_flow_computes_what_the_plain_one_does(fitted):
    plain = fitted["flow"]
    xla = density.FlowDensity(**{**plain.get_params(), "jit_compile": True})
    xla._set_arrays(plain._arrays())  # the same weights
    X, Y = law(1500, 5)  # 1,500 rows: padded to 2,048 for XLA
    np.testing.assert_allclose(xla.log_prob(X, Y), plain.log_prob(X, Y), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(xla.sample(X, 2, seed=3), plain.sample(X, 2, seed=3), rtol=1e-4, atol=1e-4)


def test_the_flows_draws_do_not_depend_on_the_sampling_chunks_nor_threads(fitted, monkeypatch):
    xla = density.FlowDensity(**{**fitted["flow"].get_params(), "jit_compile": True})
    xla._set_arrays(fitted["flow"]._arrays())
    X, _ = law(2500, 6)
    monkeypatch.setattr(density, "sampler_threads", lambda: 1)
    whole = xla.sample(X, 2, seed=4)  # one chunk of 5,000 rows (padded to 8,192)
    monkeypatch.setattr(density, "SAMPLE_CHUNK_ROWS", density.MIN_PADDED_ROWS)
    chunked = xla.sample(X, 2, seed=4)  # chunks of 1,024 rows (the last of 904)
    np.testing.assert_array_equal(chunked, whole)  # the same blocks of rows, the same arithmetic
    monkeypatch.setattr(density, "sampler_threads", lambda: 3)
    np.testing.assert_array_equal(xla.sample(X, 2, seed=4), whole)  # chunks on three threads
    assert not np.allclose(chunked, xla.sample(X, 2, seed=5), atol=1e-2)


def test_sampler_threads_follow_tensorflows_setting(monkeypatch):
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "1")  # as hgtools' worker processes
    assert density.sampler_threads() == 1
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS")
    assert density.sampler_threads() == (os.cpu_count() or 1)


def test_flow_density_is_its_base_law_pushed_forward(fitted):
    """log p(f(z)) = log N(z) - log|det df/dz| for the sampler f (Jacobian by autodiff): the density is the
    standard normal carried through a bijection, so it is normalised.  (An importance-sampling integral of
    the density is no test here: the weights of the 3-epoch flow are heavy-tailed, standard error ~0.06.)"""
    import tensorflow as tf

    model = fitted["flow"]
    rng = np.random.default_rng(1)
    x = tf.constant(model._standardise(law(200, 6)[0]).astype(np.float32))
    z = tf.constant(rng.normal(size=(200, 4)).astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(z)
        y = model._forward(z, x)
    _, log_det = np.linalg.slogdet(tape.batch_jacobian(y, z).numpy().astype(float))
    expected = stats.norm.logpdf(z.numpy()).sum(axis=1) - log_det
    np.testing.assert_allclose(-model._loss(y, x).numpy(), expected, rtol=1e-4, atol=1e-3)


def test_a_floored_flow_draws_above_its_floor_with_the_density_of_its_warp(tmp_path):
    """With ``stellar_mass_floor`` the flow models w log(exp((M* - floor) / w) - 1) instead of M*: its draws
    stay above the floor, and its density is the unfloored flow's at the warped point times the warp's
    derivative (here by finite differences); below the floor the density is zero."""
    X, Y = law(2000, 12)
    floor = np.quantile(Y[:, 0], 0.3)
    keep = Y[:, 0] > floor  # a sample truncated as the catalogue's log M* >= 8.75 truncates the law
    model = density.FlowDensity(**{**FAST["flow"], "stellar_mass_floor": floor, "floor_width": 0.1}).fit(X[keep], Y[keep])
    Xt, Yt = law(300, 13)
    draws = model.sample(Xt, n_draws=4, seed=3)
    assert (draws[..., 0] > floor).all() and np.isfinite(draws).all()
    plain = density.FlowDensity(**FAST["flow"])  # the same networks and scaling, on the warped M*
    plain._set_arrays(model._arrays())
    above = Yt[:, 0] > floor
    h = 1e-6
    slope = (model._warp(Yt[above] + [h, 0, 0, 0])[:, 0] - model._warp(Yt[above] - [h, 0, 0, 0])[:, 0]) / (2 * h)
    np.testing.assert_allclose(model.log_prob(Xt[above], Yt[above]),
                               plain.log_prob(Xt[above], model._warp(Yt[above])) + np.log(slope), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(model._unwarp(plain.sample(Xt, n_draws=4, seed=3)), draws, rtol=0, atol=1e-12)
    assert np.isneginf(model.log_prob(Xt[~above], Yt[~above])).all()
    np.testing.assert_allclose(model._unwarp(model._warp(Yt[above])), Yt[above], rtol=0, atol=1e-12)
    loaded, card = density.load_density(density.save_density(model, tmp_path / "floored"))
    assert card["params"]["stellar_mass_floor"] == floor
    np.testing.assert_array_equal(loaded.sample(Xt, seed=5), model.sample(Xt, seed=5))
    with pytest.raises(ValueError, match=r"Y_val: 1 galaxies lie outside the flow model's support \(stellar_mass above"):
        density.FlowDensity(**{**FAST["flow"], "stellar_mass_floor": floor}).fit(X[keep], Y[keep], X[:1], Y[~keep][:1])


def test_gaussian_network_learns_the_law():
    X, Y = law(6000, 7)
    Xv, Yv = law(1500, 8)
    model = density.make_density("gaussian", hidden=(32,), epochs=60, patience=5, learning_rate=3e-3).fit(X, Y, Xv, Yv)
    Xt, _ = law(200, 9)
    mean, cov = model.moments(Xt)
    assert np.sqrt(((mean - Xt @ A) ** 2).mean()) < 0.05  # the scatter is 0.1-0.45 per property
    np.testing.assert_allclose(cov.mean(axis=0), L @ L.T, atol=0.02)


def test_the_learning_rate_drops_on_a_validation_plateau():
    X, Y = law(600, 10)
    Xv, Yv = law(200, 11)
    settings = dict(hidden=(8,), epochs=300, patience=4, batch_size=50, learning_rate=0.1)
    model = density.make_density("gaussian", lr_drops=2, **settings).fit(X, Y, Xv, Yv)
    rates = [h["learning_rate"] for h in model.history_]
    steps = sorted(set(rates), reverse=True)
    assert steps == [0.1, 0.1 / density.LR_DROP_FACTOR, 0.1 / density.LR_DROP_FACTOR**2]
    assert rates == sorted(rates, reverse=True) and model.epochs_run_ < 300  # dropped twice, then stopped
    best = min(h["validation"] for h in model.history_)  # the best weights are the ones kept
    assert -model.log_prob(Xv, Yv).mean() == pytest.approx(best + np.log(model.y_scale_).sum(), abs=1e-3)
    no_drop = density.make_density("gaussian", lr_drops=0, **settings).fit(X, Y, Xv, Yv)
    assert {h["learning_rate"] for h in no_drop.history_} == {0.1}


def test_the_flow_keeps_the_moving_average_of_its_weights():
    X, Y = law(2000, 20)
    Xv, Yv = law(1000, 21)
    noisy = dict(FAST["flow"], epochs=8, batch_size=32, learning_rate=0.01, lr_drops=0, patience=100)
    plain = density.make_density("flow", ema=0.0, **noisy).fit(X, Y, Xv, Yv)
    averaged = density.make_density("flow", ema=0.99, **noisy).fit(X, Y, Xv, Yv)
    # steps this large leave the last weights noisy; their average is nearer the optimum (0.3-0.5 nats, seeds 0-2)
    assert averaged.validation_log_prob_ > plain.validation_log_prob_ + 0.2
    best = min(h["validation"] for h in averaged.history_)  # the averaged weights were scored, and the best kept
    assert -averaged.log_prob(Xv, Yv).mean() == pytest.approx(best + np.log(averaged.y_scale_).sum(), abs=1e-3)
    with pytest.raises(ValueError, match="ema must be in"):
        density.make_density("flow", **{**FAST["flow"], "ema": 1.0}).fit(X[:100], Y[:100])


def test_residual_draws_are_prediction_plus_a_training_residual(fitted):
    model = fitted["residual"]
    X, _ = law(10, 10)
    draws = model.sample(X, 4, seed=0)
    x = (X - model.x_mean_) / model.x_scale_
    means = model.y_mean_ + model.y_scale_ * model._means_std(x)
    residuals = (draws - means) / model.y_scale_
    _, neighbours = model.tree_.query(x, k=model.n_neighbors)
    for d in range(4):
        for i in range(len(X)):
            assert np.isclose(model.residuals_[neighbours[i]], residuals[d, i]).all(axis=1).any()
    with pytest.raises(NotImplementedError, match="no density"):
        model.log_prob(X, draws[0])


@pytest.mark.parametrize("bad, match", [
    (np.full((3, 5), np.nan), "NaN or infinite"), (np.zeros((3, 4)), r"shape \(n, 5\)"), (np.zeros((0, 5)), "n >= 1")])
def test_bad_features(fitted, bad, match):
    with pytest.raises(ValueError, match=match):
        fitted["gaussian"].sample(bad)


@pytest.mark.parametrize("n_draws", [0, -1, 1.5, True])
def test_bad_n_draws(fitted, n_draws):
    with pytest.raises(ValueError, match="n_draws"):
        fitted["residual"].sample(np.zeros((2, 5)), n_draws=n_draws)


def test_bad_targets_and_unfitted(tmp_path):
    X, Y = law(50, 11)
    with pytest.raises(ValueError, match=r"shape \(n, 4\)"):
        density.make_density("gaussian").fit(X, Y[:, :3])
    with pytest.raises(ValueError, match="rows"):
        density.make_density("gaussian").fit(X, Y[:10])
    with pytest.raises(ValueError, match="unknown density model"):
        density.make_density("spline")
    with pytest.raises(RuntimeError, match="not fitted"):
        density.save_density(density.FlowDensity(), tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_damaged_folders(fitted, tmp_path):
    folder = density.save_density(fitted["gaussian"], tmp_path / "g")
    (folder / "arrays.npz").write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match="arrays.npz cannot be loaded"):
        density.load_density(folder)
    folder = density.save_density(fitted["flow"], tmp_path / "f")
    arrays = dict(np.load(folder / "arrays.npz"))
    np.savez(folder / "arrays.npz", **{**arrays, "weight_000": np.zeros((2, 2))})
    with pytest.raises(ModelFileError, match="weight_000 has shape"):
        density.load_density(folder)
    np.savez(folder / "arrays.npz", **arrays, extra=np.array([object()], dtype=object))
    with pytest.raises(ModelFileError, match="cannot be loaded"):  # pickled objects are never read
        density.load_density(folder)
    folder = density.save_density(fitted["residual"], tmp_path / "r")
    (folder / "mean-radius.txt").unlink()
    with pytest.raises(ModelFileError, match="mean-radius.txt is missing"):
        density.load_density(folder)
    card = json.loads((folder / "card.json").read_text())
    (folder / "card.json").write_text(json.dumps({**card, "model": "magic"}))
    with pytest.raises(ModelFileError, match="not a density model"):
        density.load_density(folder)
    with pytest.raises(ModelFileError, match="no model card"):
        density.load_density(tmp_path / "nowhere")


# -- the command line: train-density, then predict --draws ---------------------------------------------------

def test_train_density_and_predict_draws(small_catalogue, tmp_path, capsys):
    import pandas as pd

    from hgtools import cli
    from hgtools.catalogue import FEATURES, TARGETS, write_catalogue

    catalogue = tmp_path / "catalogue.parquet"
    write_catalogue(small_catalogue, catalogue, {"source": "mock"})
    models = tmp_path / "flow"
    assert cli.main(["train-density", "--catalogue", str(catalogue), "--model", "flow", "--out", str(models),
                     "--epochs", "2"]) == 0
    assert "flow density model" in capsys.readouterr().out
    halos = tmp_path / "halos.csv"
    small_catalogue[["ID", *FEATURES]].iloc[:30].to_csv(halos, index=False)
    out = tmp_path / "draws.parquet"
    assert cli.main(["predict", "--models", str(models), "--halos", str(halos), "--out", str(out),
                     "--draws", "3", "--seed", "5"]) == 0
    table = pd.read_parquet(out)
    assert list(table.columns) == ["ID", "draw", *TARGETS] and len(table) == 90
    assert (table.groupby("draw")["ID"].apply(list).map(len) == 30).all()
    again = tmp_path / "again.parquet"
    assert cli.main(["predict", "--models", str(models), "--halos", str(halos), "--out", str(again),
                     "--draws", "3", "--seed", "5"]) == 0
    pd.testing.assert_frame_equal(table, pd.read_parquet(again))
    # a halo beyond the training range: drawn, with a one-line warning naming the command
    odd = tmp_path / "odd.csv"
    small_catalogue[["ID", *FEATURES]].iloc[:3].assign(S_h=[0.05, 0.05, 0.9]).to_csv(odd, index=False)
    capsys.readouterr()
    assert cli.main(["predict", "--models", str(models), "--halos", str(odd), "--out", str(tmp_path / "odd.parquet"),
                     "--draws", "2"]) == 0
    err = capsys.readouterr().err
    assert "hgtools predict: warning: 1 of 3 haloes lie outside the flow model's training range (S_h in" in err
    assert "Traceback" not in err and "warnings.warn" not in err
    # refusals: nothing written, a clear message, no traceback
    assert cli.main(["predict", "--models", str(models), "--halos", str(halos), "--out", str(tmp_path / "x.parquet"),
                     "--draws", "0"]) != 0
    assert "--draws must be a positive integer" in capsys.readouterr().err
    assert cli.main(["predict", "--models", str(models), "--halos", str(halos), "--out", str(out), "--draws", "2"]) != 0
    assert "exists" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    small_catalogue[["ID", *FEATURES]].iloc[:3].assign(C_h=np.nan).to_csv(bad, index=False)
    assert cli.main(["predict", "--models", str(models), "--halos", str(bad), "--out", str(tmp_path / "y.parquet"),
                     "--draws", "2"]) != 0
    assert "C_h" in capsys.readouterr().err
    (models / "arrays.npz").write_bytes(b"damaged")
    assert cli.main(["predict", "--models", str(models), "--halos", str(halos), "--out", str(tmp_path / "z.parquet"),
                     "--draws", "2"]) != 0
    assert "arrays.npz cannot be loaded" in capsys.readouterr().err
    assert not any((tmp_path / name).exists() for name in ("x.parquet", "y.parquet", "z.parquet"))


def test_train_density_sets_or_turns_off_the_flows_weights(small_catalogue, tmp_path, capsys):
    from hgtools import cli
    from hgtools.catalogue import write_catalogue

    catalogue = tmp_path / "catalogue.parquet"
    write_catalogue(small_catalogue, catalogue, {"source": "mock"})
    for value, expected in (("none", None), ("12.25", 12.25)):
        out = tmp_path / f"flow-{value}"
        assert cli.main(["train-density", "--catalogue", str(catalogue), "--out", str(out), "--epochs", "1",
                         "--upweight-mass", value]) == 0
        assert json.loads((out / "card.json").read_text())["params"]["upweight_mass"] == expected
    capsys.readouterr()
    for args, message in ((["--upweight-mass", "heavy"], "--upweight-mass must be a halo mass"),
                          (["--upweight-mass", "inf"], "--upweight-mass must be a halo mass"),
                          (["--model", "gaussian", "--upweight-mass", "12"], "applies to the flow only")):
        assert cli.main(["train-density", "--catalogue", str(catalogue), "--out", str(tmp_path / "x"), *args]) != 0
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_point_models_refuse_draws(tmp_path, capsys):
    from hgtools import cli

    (tmp_path / "set").mkdir()
    halos = tmp_path / "h.csv"
    halos.write_text("M_h,C_h,S_h,z_h,Delta3_h\n12,1,0.03,1,1\n")
    assert cli.main(["predict", "--models", str(tmp_path / "set"), "--halos", str(halos),
                     "--out", str(tmp_path / "o.parquet"), "--draws", "2"]) != 0
    assert "draws need a density model" in capsys.readouterr().err


def test_a_refit_on_the_same_split_takes_its_own_model_seed(tmp_path, small_catalogue, universe):
    # bench/density_seeds.py refits the book's flow with other model seeds on the book's split
    from hgtools import pipeline
    from hgtools.catalogue import Catalogue
    from hgtools.config import RunConfig
    from hgtools.models import read_card

    config = RunConfig(box_size=128.0, seed=4, data_dir=str(tmp_path / "data"))
    run = pipeline.Run(config, Catalogue(small_catalogue, {**universe[1]}), verbose=False)
    refits = run.refit_density("residual", [7, 8], tmp_path / "refits")
    assert [(seed, model.random_state) for seed, model in refits.items()] == [(7, 7), (8, 8)]
    assert read_card(tmp_path / "refits" / "residual-8")["model_seed"] == 8
    book = density.fit_on_catalogue(small_catalogue, "residual", seed=config.training_seed)
    assert book.random_state == config.training_seed
    for model in refits.values():
        np.testing.assert_array_equal(book.train_x_, model.train_x_)  # the same training haloes
    assert not np.array_equal(refits[7].sample(book.train_x_[:50], 1, seed=1),
                              refits[8].sample(book.train_x_[:50], 1, seed=1))
    assert not run.cache_dir.exists()  # the run's own fits are left alone
    with pytest.raises(FileExistsError, match="residual-7"):  # refused before any fitting
        run.refit_density("residual", [7], tmp_path / "refits")
    other_split = density.fit_on_catalogue(small_catalogue, "residual", seed=7)
    assert not np.array_equal(book.train_x_, other_split.train_x_)


def test_fits_side_by_side_equal_fits_one_after_the_other(tmp_path, small_catalogue):
    # the book fits its density models side by side, Run.fit_density and the CLI one by one: the same models
    from hgtools.catalogue import FEATURES
    from hgtools.parallel import run_concurrently

    def task(name, where):
        return {"table": small_catalogue, "name": name, "seed": 4, "params": FAST[name],
                "folder": tmp_path / where / name}

    names = ("gaussian", "residual")
    for workers in (2, 1):
        fits = run_concurrently(density.fit_and_save, [task(n, str(workers)) for n in names], workers, "fits")
        assert all(fit["seconds"] >= 0 for fit in fits)
    assert fits[0]["validation_log_prob"] is not None and fits[1]["validation_log_prob"] is None
    X = small_catalogue[list(FEATURES)].to_numpy()[:300]
    for name in names:
        side, one = (density.load_density(tmp_path / w / name)[0] for w in ("2", "1"))
        np.testing.assert_array_equal(side.sample(X, 2, seed=1), one.sample(X, 2, seed=1))
