"""Xylo Audio 2's programmed values of one of our networks, computed by hand from the documented rules (numpy,
float64) -- an independent reference for tests of ``qat`` and bundles, which use the package's own code.

- shift ``dash = clip(round(-log2(1 - exp(-dt / tau))), 0, 15)``, time constant ``-dt / ln(1 - 2^-dash)``;
- hidden neuron ``j``: ``s_j = min(127 / max|incoming w_j|, 32767 / |b_j|, 32767 / theta_j)``;
- leaky readout ``c``: also ``s_c <= (32767 - V1_c / 2) / V_c`` with ``V = (beta sum|W_c| / (1 - beta) + |b_c|) /
  (1 - alpha)`` at the programmed decays and ``V1`` the same with every weight and the bias 1;
- linear readout: also ``s_c <= 32767 / theta``, ``theta = max_c sum_j max(W_cj, 0) + max(b_c, 0)``;
- value ``round(s x) / s`` (thresholds at least one code).
"""

from __future__ import annotations

import numpy as np
import torch

Q_W, Q_16 = 127.0, 32767.0


def _n(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().numpy()


def _tau(tau: np.ndarray, dt: float) -> np.ndarray:
    dash = np.clip(np.round(-np.log2(1 - np.exp(-dt / tau))), 0, 15)
    with np.errstate(divide="ignore"):
        return np.where(dash > 0, -dt / np.log(1 - 2.0 ** -np.maximum(dash, 1)), dt / 1000)


def _min_bound(*pairs: tuple[float, np.ndarray]) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.min([np.where(peak > 0, q / peak, np.inf) for q, peak in pairs], axis=0)


def xylo_levels(model) -> dict[str, np.ndarray]:  # noqa: ANN001 - an SNNClassifier
    """``{physical name: programmed value}`` of ``model`` (our ``SNNClassifier``) at its ``dt``."""
    dt, out = model.config.dt, {}
    for k, layer in enumerate(model.layers):
        at = f"layers.{k}."
        w, b, theta = _n(layer.weight), _n(layer.bias), _n(layer.threshold)
        incoming = np.abs(w).max(1)
        if layer.recurrent:
            incoming = np.maximum(incoming, np.abs(_n(layer.w_rec)).max(1))
        s = _min_bound((Q_W, incoming), (Q_16, np.abs(b)), (Q_16, theta))
        out[at + "weight"] = np.round(w * s[:, None]) / s[:, None]
        if layer.recurrent:
            out[at + "w_rec"] = np.round(_n(layer.w_rec) * s[:, None]) / s[:, None]
        out[at + "bias"] = np.round(b * s) / s
        out[at + "threshold"] = np.maximum(np.round(theta * s), 1) / s
        out[at + "tau_mem"], out[at + "tau_syn"] = _tau(_n(layer.tau_mem), dt), _tau(_n(layer.tau_syn), dt)
    ro = model.readout
    w, b = _n(ro.weight), _n(ro.bias)
    bounds = [(Q_W, np.abs(w).max(1)), (Q_16, np.abs(b))]
    if hasattr(ro, "tau_mem"):
        out["readout.tau_mem"], out["readout.tau_syn"] = _tau(_n(ro.tau_mem), dt), _tau(_n(ro.tau_syn), dt)
        alpha, beta = np.exp(-dt / out["readout.tau_mem"]), np.exp(-dt / out["readout.tau_syn"])
        v = (beta * np.abs(w).sum(1) / (1 - beta) + np.abs(b)) / (1 - alpha)
        v1 = (beta * w.shape[1] / (1 - beta) + 1) / (1 - alpha)
        room = np.where(Q_16 - v1 / 2 > 0, Q_16 - v1 / 2, Q_16)
        s = np.minimum(_min_bound(*bounds), np.where(v > 0, room / np.where(v > 0, v, 1), np.inf))
    else:
        theta = max(float((np.clip(w, 0, None).sum(1) + np.clip(b, 0, None)).max()), 1e-6)
        s = _min_bound(*bounds, (Q_16, np.full(len(b), theta)))
    out["readout.weight"] = np.round(w * s[:, None]) / s[:, None]
    out["readout.bias"] = np.round(b * s) / s
    return out
