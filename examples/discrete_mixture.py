"""A Gaussian mixture with its assignments as discrete sites: each data point's assignment is
a winner-take-all group of three spiking neurons, beside the continuous network for the means,
the scale and the weights.

python examples/discrete_mixture.py [output_folder]     (default examples/figures/)

    w ~ Dirichlet(5, 5, 5);  mu_k ~ N(m_k, 1), m = (-2, 0, 2);  sigma ~ HalfNormal(2)
    z_n ~ Categorical(w);  y_n ~ N(mu_{z_n}, sigma)                      (N = 150)

The components have different prior means, so the labels are identified. The reference is
NUTS on the same model with the assignments summed out (logsumexp), started at mu = m (from
NumPyro's default start one of its four chains stays in a local mode, R-hat 1.5; the spiking
network's chains, from the default start, do not); its draws also give P(z_n = k | y) as the
average over draws of p(z_n = k | mu, sigma, w, y) (Rao-Blackwellised). Figures: the data
coloured by the spiking network's assignment probabilities with the fitted components; its
P(z_n = k) against NUTS's; the posteriors of mu; a raster of the winner-take-all groups of 20
data points.
"""

import argparse
import pathlib
import sys
import time

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.scipy.special import logsumexp
from numpyro.infer import MCMC, NUTS, init_to_value

matplotlib.use("Agg")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # the zoo, models/
import arviz as az  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

import models  # noqa: E402
from spiking_mcmc import SpikingKernel  # noqa: E402
from spiking_mcmc.discrete import neural as discrete_neural  # noqa: E402

PRIOR_MEANS = jnp.array([-2.0, 0.0, 2.0])
NUM_POINTS = 150


def data(seed=0):
    rng = np.random.default_rng(seed)
    z = rng.choice(3, NUM_POINTS, p=[0.3, 0.4, 0.3])
    return jnp.asarray(np.array([-3.0, 0.0, 3.0])[z] + 0.7 * rng.normal(size=NUM_POINTS))


def priors():
    w = numpyro.sample("w", dist.Dirichlet(5.0 * jnp.ones(3)))
    mu = numpyro.sample("mu", dist.Normal(PRIOR_MEANS, 1.0).to_event(1))
    sigma = numpyro.sample("sigma", dist.HalfNormal(2.0))
    return w, mu, sigma


def model(y):
    w, mu, sigma = priors()
    with numpyro.plate("data", y.shape[0]):
        z = numpyro.sample("z", dist.Categorical(w))
        numpyro.sample("y", dist.Normal(mu[z], sigma), obs=y)


def marginal_model(y):
    w, mu, sigma = priors()
    numpyro.factor("y", logsumexp(assignment_logits(y, w, mu, sigma), axis=-1).sum())


def assignment_logits(y, w, mu, sigma):
    """log w_k + log N(y_n; mu_k, sigma): (N, 3)."""
    return jnp.log(w) + dist.Normal(mu, sigma).log_prob(y[:, None])


def run(kernel, y, extra_fields=()):
    mcmc = MCMC(
        kernel,
        num_warmup=1000,
        num_samples=2000,
        num_chains=4,
        chain_method="vectorized",
        progress_bar=False,
    )
    start = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(0), y, extra_fields=extra_fields)
    return mcmc, time.perf_counter() - start


def main(folder):
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    y = data()
    kernel = SpikingKernel(model)
    spiking, spiking_s = run(kernel, y, ("discrete.fired", "discrete.values"))
    start = init_to_value(values={"mu": PRIOR_MEANS})
    nuts, nuts_s = run(NUTS(marginal_model, init_strategy=start), y)
    samples, reference = spiking.get_samples(), nuts.get_samples()
    z = np.asarray(samples["z"])
    p_spiking = np.stack([(z == k).mean(axis=0) for k in range(3)], axis=1)
    logits = jax.vmap(lambda w, mu, s: assignment_logits(y, w, mu, s))(
        reference["w"], reference["mu"], reference["sigma"]
    )
    p_nuts = np.asarray(jax.nn.softmax(logits, axis=-1).mean(axis=0))

    grouped, reference_grouped = spiking.get_samples(True), nuts.get_samples(True)
    draws, nuts_summary = {}, {}
    for site, size in (("mu", 3), ("sigma", 0), ("w", 3)):
        for k in range(max(size, 1)):
            name = f"{site}[{k + 1}]" if size else site
            pick = (Ellipsis, k) if size else (Ellipsis,)
            draws[name] = np.asarray(grouped[site][pick])
            ref = np.asarray(reference_grouped[site][pick])
            nuts_summary[name] = {
                "mean": float(ref.mean()),
                "sd": float(ref.std()),
                "n_draws": float(az.ess(ref, method="bulk")),  # NUTS's own Monte-Carlo error
            }
    check = models.compare(draws, nuts_summary)
    print(check.table())
    print(f"max split R-hat (spiking): {float(np.max([az.rhat(x) for x in draws.values()])):.3f}")
    print(
        f"spiking: {spiking_s:.1f} s; NUTS (assignments summed out): {nuts_s:.1f} s "
        f"(both with compilation); max |P(z) spiking - P(z) NUTS| = "
        f"{np.abs(p_spiking - p_nuts).max():.3f}"
    )

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    y_np = np.asarray(y)
    axes[0].hist(y_np, 40, density=True, color="0.85")
    grid = np.linspace(y_np.min() - 1, y_np.max() + 1, 300)
    for k, colour in enumerate("rgb"):
        w, mu = float(np.mean(samples["w"][:, k])), float(np.mean(samples["mu"][:, k]))
        sigma = float(np.mean(samples["sigma"]))
        axes[0].plot(grid, w * np.exp(-0.5 * ((grid - mu) / sigma) ** 2) / (sigma * 2.5066), colour)
    height = 0.02 + 0.05 * np.random.default_rng(1).random(NUM_POINTS)
    axes[0].scatter(y_np, height, c=np.clip(p_spiking, 0, 1), s=12)
    axes[0].set_title("data, coloured by P(z_n = k) (r, g, b); fitted components")
    axes[1].scatter(p_nuts.ravel(), p_spiking.ravel(), s=8)
    axes[1].plot([0, 1], [0, 1], "k--", lw=0.8)
    axes[1].set_xlabel("NUTS, assignments summed out")
    axes[1].set_ylabel("spiking network")
    axes[1].set_title(f"P(z_n = k), {NUM_POINTS} x 3")
    for k, colour in enumerate("rgb"):
        axes[2].hist(np.asarray(samples["mu"][:, k]), 60, density=True, color=colour, alpha=0.5)
        axes[2].hist(
            np.asarray(reference["mu"][:, k]), 60, density=True, histtype="step", color="k"
        )
    axes[2].set_title("mu_k: spiking (filled), NUTS (black)")
    fig.tight_layout()
    fig.savefig(folder / "discrete_mixture.png", dpi=120)

    rec = discrete_neural.from_fields(spiking.get_extra_fields(group_by_chain=True), kernel)
    points = np.argsort(np.asarray(y))[:: NUM_POINTS // 20][:20]  # 20 points across the data
    fig, ax = plt.subplots(figsize=(9, 4.5))
    steps = 100
    for row, n in enumerate(points):
        for k, colour in enumerate("rgb"):
            t = np.flatnonzero(rec.spikes[:steps, 3 * n + k]) * rec.step_ms
            ax.scatter(t, np.full(t.shape, row), marker="|", color=colour, s=40)
    ax.set_yticks(range(len(points)), [f"y = {float(y[n]):.1f}" for n in points], fontsize=7)
    ax.set_xlabel("time (ms): one step of every group per draw")
    ax.set_title("winner-take-all groups of 20 data points (neuron k fires: z_n = k; r, g, b)")
    fig.tight_layout()
    fig.savefig(folder / "discrete_mixture_raster.png", dpi=120)
    print(f"figures in {folder}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", nargs="?", default=pathlib.Path(__file__).parent / "figures")
    main(parser.parse_args().folder)
