"""What a score card means for its user: why a model is not ready, and what to try next, ranked.

Pure functions of a score-card dict (:func:`robust_snn.readiness.scorecard.score_card`, plus the optional
context of :func:`robust_snn.readiness.context.card_context`): no model, no data, no randomness, so the same
card always gives the same advice and a test can build the card by hand.

**Diagnosis**: each cause is named in the card's own terms, with its measured size (``shortfall``, accuracy
fraction below the spec, where one applies). With ``S`` the spec, ``F`` the float accuracy, ``N`` the
programmed nominal, ``P5`` the 5th-percentile chip, ``W`` the worst case under attack at the profile's scale:

- ``resources``: the network does not fit the device (each violation named);
- ``chance``: the programmed nominal accuracy is not clearly above chance (its 95% interval reaches it);
- ``nominal-below-spec``: ``N < S``: not even an ideal chip of this line meets the spec;
- ``programming``: ``F - N >= 0.02``: the deterministic programming stages (quantisation, shared levels)
  cost two points or more before any mismatch;
- ``spread``: ``P5 < S``: the chip-to-chip spread is too wide (shortfall ``S - P5``);
- ``attack``: ``W < S``: a worst-case chip within the profile's own spread misses the spec;
- ``undecided``: the yield interval straddles the target (``marginal``): the chips needed to decide;
- ``yield``: the summary: yield and interval against the target.

**Advice**, a decision list (the rule the tests check):

1. ``fit-device`` first when the network does not fit: no yield ships a network the chip cannot hold.
2. ``more-chips`` next when the grade is ``marginal`` and the point yield already meets the target: the
   evidence is missing, not accuracy.
3. Capacity, when an absolute spec is above the float network's accuracy (no chip beats the float network)
   or the network is at chance:
   ``more-epochs`` first if the training history was still improving (its best validation epoch was its
   last) or the network is at chance, then ``wider-network`` if the chip's fan-in leaves room.
4. Device losses, ranked by their measured size, largest first: ``device-aware-qat`` (fine-tune at the
   programmed values) scores ``F - N``; ``device-aware-training`` (adversarial, for this profile) scores
   ``max(S - P5, S - W)``. ``tune`` follows device-aware training, unless the model was already trained
   device-aware for this profile (then retraining alike is not the next step and ``tune`` goes first). If the
   sensitivity attribution's largest drop is in a family the model's training never perturbed,
   device-aware training (which perturbs every family the profile varies) is first in this tier whatever
   the sizes. ``wider-network`` (more neurons average out per-neuron mismatch) and ``more-epochs`` (if still
   improving) come after, when not already listed.
5. ``more-chips`` when ``marginal`` with the point yield below the target.
6. ``looser-spec`` last: it changes the requirement, not the product; the highest spec at which these chips
   would grade ``ready``, and only above chance.

A card that is not ``ready`` always gets at least one suggestion (device-aware training when nothing above
applies).

A ``ready`` card gets no diagnosis and no advice. Every suggestion carries a runnable ``command`` built from
the card's model path (``model_path``, else ``model``), data spec (``data``), device and seed: commands that
retrain take the model's training seed (``training.seed``) when the card knows it, commands that score chips the
card's chip-sampling seed (``seed``).
"""

from __future__ import annotations

import math
import re
import shlex
from pathlib import Path
from typing import Any, Mapping

from ..devices.limits import largest_hidden
from ..devices.profiles import ResourceLimits
from ..errors import ConfigError
from .statistics import chips_to_decide, spec_for_ready

PROGRAMMING_LOSS = 0.02
TRAINED_FAMILIES = ("weights", "biases")  # what the non-device-aware methods perturb (robust-snn methods)


def _fmt(x: float) -> str:
    return f"{x:.3f}"


def _model_path(card: Mapping[str, Any]) -> str:
    return str(card.get("model_path") or card.get("model") or "MODEL.rsnn")


def _data(card: Mapping[str, Any]) -> str:
    return str(card.get("data") or "DATA")


def _stem(card: Mapping[str, Any]) -> str:
    path = Path(_model_path(card))
    return str(path.with_name(path.name.split(".")[0] or "model"))


def _cmd(*words: Any) -> str:
    return " ".join(shlex.quote(str(w)) for w in words if w is not None and w != "")


def _spec_flags(card: Mapping[str, Any]) -> list[str]:
    """The card's own spec as evaluate/tune flags: ``--spec S`` or ``--spec-relative R``."""
    rule = str(card.get("spec_rule", ""))
    match = re.match(r"\s*([0-9.]+)\s*x", rule)
    if rule != "absolute" and match:
        return ["--spec-relative", match.group(1)]
    return ["--spec", _fmt(card["spec"])]


def _network(card: Mapping[str, Any]) -> dict[str, Any]:
    return dict((card.get("resources") or {}).get("used") or {})


def _limits(card: Mapping[str, Any]) -> dict[str, Any]:
    return dict((card.get("resources") or {}).get("limits") or {})


def _arch_flags(card: Mapping[str, Any], hidden: int | None = None) -> list[str]:
    """Flags that rebuild the card's architecture (one hidden layer), with ``hidden`` neurons if given."""
    net = _network(card)
    hidden = hidden if hidden is not None else net.get("neurons")
    flags = ["--hidden", str(hidden)] if hidden else []
    if net and not net.get("recurrent", True):
        flags.append("--no-recurrent")
    return flags


def max_hidden(card: Mapping[str, Any]) -> int | None:
    """The widest single hidden layer the card's device holds with the same input and recurrence.

    The card's limits and input width go to :func:`robust_snn.devices.limits.largest_hidden`, the one place
    the fan-in arithmetic lives (a recurrent neuron's fan-in is ``n_in + hidden - 1``: no self-connection).
    ``None`` when the device states no such limit (an abstract noise model) or no width fits.
    """
    net, limits = _network(card), _limits(card)
    known = {key: int(limits[key]) for key in ("neurons", "fan_in") if limits.get(key)}
    if not known:
        return None
    try:  # n_classes=1: the width bound only (too many outputs is its own diagnosis, not a width question)
        return largest_hidden(ResourceLimits(**known), int(net.get("input_channels") or 0), n_classes=1,
                              recurrent=bool(net.get("recurrent", True)))
    except ConfigError:
        return None


def _still_improving(card: Mapping[str, Any]) -> bool:
    training = card.get("training") or {}
    epochs, best = training.get("epochs"), training.get("best_epoch")
    return bool(epochs) and best == epochs


def _trained_for_device(card: Mapping[str, Any]) -> bool:
    training = card.get("training") or {}
    return training.get("device") == card.get("device") and "adversarial" in str(training.get("method", ""))


def _untrained_top_family(card: Mapping[str, Any]) -> str | None:
    """The family of the sensitivity attribution's largest drop, if the model's training never perturbed it."""
    rows = [r for r in card.get("sensitivity") or [] if r.get("accuracy_drop", 0) > 0]
    if not rows:
        return None
    top = max(rows, key=lambda r: r["accuracy_drop"])
    training = card.get("training") or {}
    if training.get("device") == card.get("device"):
        return None  # device-aware training perturbs every family the profile varies
    covered = tuple(training.get("families") or (TRAINED_FAMILIES if training.get("method") not in
                                                 (None, "standard", "dropout", "qat") else ()))
    return None if top["family"] in covered else top["family"]


def _sensitivity_note(card: Mapping[str, Any]) -> str:
    rows = [r for r in card.get("sensitivity") or [] if r.get("accuracy_drop", 0) > 0]
    if not rows:
        return ""
    total = sum(r["accuracy_drop"] for r in rows)
    top = max(rows, key=lambda r: r["accuracy_drop"])
    return (f"; sensitivity: {top['group']} costs the most ({_fmt(top['accuracy_drop'])} when it alone varies, "
            f"{100 * top['accuracy_drop'] / total:.0f}% of the attributed drop)")


def diagnose(card: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Why the card is not ``ready``: ``[{cause, summary, shortfall}]`` (empty for a ``ready`` card)."""
    if card.get("grade") == "ready":
        return []
    spec, nominal, p5 = card["spec"], card["nominal_accuracy"], card["p5_accuracy"]
    target, (low, high), value = card["target_yield"], card["yield_ci95"], card["yield"]
    device = card["device"]
    out: list[dict[str, Any]] = []

    def add(cause: str, summary: str, shortfall: float | None = None) -> None:
        out.append({"cause": cause, "summary": summary, "shortfall": shortfall})

    if card.get("violations") or not card.get("fits_device", True):
        add("resources", f"does not fit {device}: " + "; ".join(card.get("violations") or ["resource check failed"]))
    if card.get("above_chance") is False:
        lo_n, hi_n = card.get("nominal_accuracy_ci95") or (nominal, nominal)
        add("chance", f"nominal {_fmt(nominal)} [{_fmt(lo_n)}, {_fmt(hi_n)}] is not clearly above chance "
                      f"({_fmt(card.get('chance_accuracy', 0.0))}): the network has not learned the task", None)
    if nominal < spec:
        add("nominal-below-spec", f"programmed nominal {_fmt(nominal)} is below the spec {_fmt(spec)}: not even an "
                                  f"ideal {device} chip passes", spec - nominal)
    float_acc = card.get("float_accuracy")
    if float_acc is not None and float_acc - nominal >= PROGRAMMING_LOSS:
        add("programming", f"programming for {device} costs {_fmt(float_acc - nominal)} before any mismatch "
                           f"(float {_fmt(float_acc)} -> programmed {_fmt(nominal)})", float_acc - nominal)
    if p5 < spec:
        add("spread", f"chip-to-chip spread too wide: p5 chip {_fmt(p5)} vs spec {_fmt(spec)} (mean "
                      f"{_fmt(card['mean_accuracy'])}, nominal {_fmt(nominal)}){_sensitivity_note(card)}", spec - p5)
    worst = card.get("worst_case_accuracy")
    if worst is not None and card.get("worst_case_eps") and worst < spec:
        scale = ", ".join(f"{k} {v:.2f}" for k, v in sorted(card["worst_case_eps"].items()))
        add("attack", f"worst case {_fmt(worst)} vs spec {_fmt(spec)} under an attack within {device}'s own "
                      f"spread (relative {scale})", spec - worst)
    if card.get("grade") == "marginal":
        n = chips_to_decide(value, target)
        need = (f"about {n} chips at this yield would decide (now {card['n_chips']})" if n is not None
                else "the yield sits on the target: more chips alone will not decide")
        add("undecided", f"yield interval [{low:.2f}, {high:.2f}] straddles the target {target}: {need}", None)
    add("yield", f"yield {value:.2f} [{low:.2f}, {high:.2f}] at spec {_fmt(spec)} against target {target}",
        max(0.0, target - value))
    return out


def _action(action: str, why: str, command: str | None, addresses: list[str]) -> dict[str, Any]:
    return {"action": action, "why": why, "command": command, "addresses": addresses}


def advise(card: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What to try next, ranked by the module's decision list: ``[{rank, action, why, command, addresses}]``."""
    causes = {d["cause"]: d for d in diagnose(card)}
    if not causes:
        return []
    # a user-written profile is named by its file (its name alone is not found by --device)
    device = card.get("device_file") or card["device"]
    data, model, seed = _data(card), _model_path(card), card.get("seed", 0)
    spec, nominal, p5 = card["spec"], card["nominal_accuracy"], card["p5_accuracy"]
    float_acc = card.get("float_accuracy", nominal)
    training = card.get("training") or {}
    train_seed = training.get("seed", seed)
    epochs = training.get("epochs")
    method = training.get("method") or "standard"
    hidden_now = _network(card).get("neurons")
    room = max_hidden(card)
    out: list[dict[str, Any]] = []
    listed: set[str] = set()

    def push(item: dict[str, Any]) -> None:
        if item["action"] not in listed:
            listed.add(item["action"])
            out.append(item)

    def more_chips() -> dict[str, Any]:
        n = chips_to_decide(card["yield"], card["target_yield"]) or 4 * card["n_chips"]
        return _action("more-chips", f"the yield interval is too wide to decide; about {n} chips narrow it enough",
                       _cmd("robust-snn", "evaluate", model, "--data", data, "--device", device, "--chips", n,
                            "--seed", seed, *_spec_flags(card), "--target-yield", card["target_yield"]),
                       ["undecided"])

    def wider() -> dict[str, Any] | None:
        if not hidden_now:
            return None
        width = min(room, 2 * hidden_now) if room else 2 * hidden_now
        if width <= hidden_now:
            return None
        bound = f" (the widest layer {device}'s fan-in holds)" if room and width == room else ""
        return _action("wider-network", f"{width} hidden neurons instead of {hidden_now}{bound}: more capacity, and "
                                        "more neurons average out per-neuron mismatch",
                       _cmd("robust-snn", "train", "--data", data, "--method", method, *_arch_flags(card, width),
                            "--epochs" if epochs else None, epochs, "--seed", train_seed,
                            "--out", f"{_stem(card)}-h{width}.rsnn"),
                       ["nominal-below-spec", "spread"])

    def more_epochs() -> dict[str, Any]:
        why = (f"validation accuracy was still rising at the last of {epochs} epochs" if _still_improving(card)
               else f"the network has not learned the task in {epochs} epochs (check the data and labels too)")
        return _action("more-epochs", why,
                       _cmd("robust-snn", "train", "--data", data, "--method", method, *_arch_flags(card),
                            "--epochs", 2 * epochs, "--seed", train_seed, "--out", f"{_stem(card)}-e{2 * epochs}.rsnn"),
                       ["nominal-below-spec", "chance"])

    def device_training() -> dict[str, Any]:
        family = _untrained_top_family(card)
        why = (f"train against {device}'s own mismatch (fresh chips per batch, attack at its per-family scale)"
               + (f"; the largest sensitivity drop is in {family}, which this model's training never perturbed"
                  if family else ""))
        return _action("device-aware-training", why,
                       _cmd("robust-snn", "train", "--data", data, "--device", device, "--method", "adversarial",
                            *_arch_flags(card), "--epochs" if epochs else None, epochs, "--seed", train_seed,
                            "--out", f"{_stem(card)}-{device}.rsnn"),
                       ["spread", "attack", "programming"])

    def qat() -> dict[str, Any]:
        return _action("device-aware-qat", f"fine-tune at {device}'s programmed values (straight-through): the "
                                           f"programming stages cost {_fmt(float_acc - nominal)}",
                       _cmd("robust-snn", "train", "--data", data, "--init", model, "--method", "qat", "--device",
                            device, "--epochs", max(2, (epochs or 4) // 4), "--seed", train_seed,
                            "--out", f"{_stem(card)}-qat-{device}.rsnn"),
                       ["programming", "nominal-below-spec"])

    def tune() -> dict[str, Any]:
        return _action("tune", f"search the robust method's hyperparameters (beta, eps, width) for the best yield "
                               f"on {device} at this spec",
                       _cmd("robust-snn", "tune", "--data", data, "--device", device, *_spec_flags(card),
                            "--target-yield", card["target_yield"], "--seed", train_seed, "--out", f"tune-{device}"),
                       ["spread", "attack"])

    # 1. blocking
    if "resources" in causes:
        fits = _action("fit-device", causes["resources"]["summary"], None, ["resources"])
        if room and hidden_now and hidden_now > room:
            fits["command"] = _cmd("robust-snn", "train", "--data", data, "--method", method,
                                   *_arch_flags(card, room), "--epochs" if epochs else None, epochs,
                                   "--seed", train_seed, "--out", f"{_stem(card)}-h{room}.rsnn")
            fits["why"] += f"; {room} hidden neurons fit"
        push(fits)
    # 2. evidence, when the point estimate already meets the target
    if "undecided" in causes and card["yield"] >= card["target_yield"]:
        push(more_chips())
    # 3. capacity
    if (float_acc < spec and _spec_flags(card)[0] == "--spec") or "chance" in causes:
        if _still_improving(card) or ("chance" in causes and epochs):
            push(more_epochs())
        if (item := wider()) is not None:
            push(item)
    # 4. device losses, largest measured first (ties: device-aware training, then qat, then tune)
    prog = float_acc - nominal if "programming" in causes else 0.0
    spread = max(spec - p5 if "spread" in causes else 0.0, causes.get("attack", {}).get("shortfall") or 0.0)
    tier: list[tuple[float, int, dict[str, Any]]] = []
    if prog > 0:
        tier.append((prog, 1, qat()))
    if spread > 0 or prog > 0:
        tier.append((math.inf if _untrained_top_family(card) else spread, 0, device_training()))
    if spread > 0:
        tier.append((math.inf if _trained_for_device(card) else spread, 2, tune()))
    for _, _, item in sorted(tier, key=lambda t: (-t[0], t[1])):
        push(item)
    if spread > 0 and (item := wider()) is not None:
        push(item)
    if spread > 0 and _still_improving(card):
        push(more_epochs())
    # 5. evidence, when the point estimate misses the target
    if "undecided" in causes:
        push(more_chips())
    # 6. the requirement
    looser = spec_for_ready(card["per_chip_accuracy"], card["target_yield"]) if card.get("per_chip_accuracy") else None
    chance = card.get("chance_accuracy")
    if looser is not None and looser < spec and "chance" not in causes and (chance is None or looser > chance):
        push(_action("looser-spec", f"only if the product tolerates it: at spec {math.floor(looser * 1000) / 1000:.3f} these "
                                    f"{card['n_chips']} chips grade ready (resources aside)",
                     _cmd("robust-snn", "evaluate", model, "--data", data, "--device", device,
                          "--chips", card["n_chips"], "--seed", seed, "--spec", f"{math.floor(looser * 1000) / 1000:.3f}",
                          "--target-yield", card["target_yield"]),
                     ["spread", "yield"]))
    if not out:  # nothing measured points elsewhere: training for this chip line is the general remedy
        push(device_training())
    for i, item in enumerate(out, 1):
        item["rank"] = i
    return [{"rank": item.pop("rank"), **item} for item in out]


def with_advice(card: dict[str, Any]) -> dict[str, Any]:
    """The card with ``diagnosis`` and ``advice`` added (a new dict)."""
    return {**card, "diagnosis": diagnose(card), "advice": advise(card)}


__all__ = ["advise", "diagnose", "max_hidden", "with_advice"]
