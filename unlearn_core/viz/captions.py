"""The explanatory sentences shown under figures and tables, shared by the dashboard pages and the HTML report so
the two never explain one number in two ways. Plain text (no markdown): the report escapes it, Streamlit shows it.
Captions of a method's own diagnostics live with its panels (unlearn_core.methods.base.Panel)."""

from __future__ import annotations

METRICS_TABLE = ("Accuracies are shares of images; MIA efficacy is the share of forget images a membership attack "
                 "calls 'not trained on'; a loss-attack AUC of 0.5 means forget images look like unseen ones.")
METRICS_COLOURS = ("Green: close to retrain (or best for cost); red: far from it (or worst). Headers: ↑ higher is "
                   "better, ↓ lower is better, (closer to retrain) where retrain's value is the target.")
TRADE_OFF = ("Left: forgets as much as retrain did. Up: keeps accuracy on the kept classes. Outlined points are not "
             "beaten on both axes by any other run (the Pareto front).")
PER_CLASS = ("Test accuracy of every class under every model: after class forgetting the forgotten class should drop "
             "like in retrain, the others stay.")
LAYER_CHANGE = ("‖θ − θ₀‖ / ‖θ₀‖ per parameter tensor, from the stored weights against the original model: one-shot "
                "methods touch few layers, fine-tuning style methods all of them.")
ATTRIBUTIONS = ("Which pixels push each model towards the image's true class (red) or away from it (blue). After good "
                "class forgetting the evidence for the forgotten class fades, as in the retrain oracle.")
PRIVACY_ATTACKS = ("Membership-inference attacks on the forget images, read against the retrain row: a run that truly "
                   "forgot scores like retrain. SVC efficacy is the share of forget images called unseen; loss and "
                   "threshold attack accuracy near 0.5 means they cannot tell forget images from unseen ones; "
                   "privacy score 1 means no threshold separates the model's forget outputs from retrain's.")
TPR_AT_LOW_FPR = ("True-positive rate of each attack at 1% and 0.1% false positives (LiRA's standard): the share of "
                  "forget images an attacker flags with almost no false alarms. With a few hundred non-members, 0.1% "
                  "FPR allows no false positive at all.")
VERDICT_SUMMARY = ("✓ within the band of independent retrains (its 95% CI overlaps it), ✗ outside, – not measured or "
                   "no band yet. A run is 'forgotten' only when every measured signal is within; the Forget quality "
                   "page shows each run's evidence with error bars, docs/verdicts.md defines the labels.")
EVIDENCE = ("A signal is within the band when its 95% bootstrap interval (the error bar) overlaps the range of the "
            "oracle and the independent retrains; the top label needs every measured signal within. docs/verdicts.md "
            "has the rule and a worked example.")


def ulira_below_chance(value: float | None, what: str = "The U-LiRA-lite attack accuracy") -> str | None:
    """A plain-language note for U-LiRA-lite scoring under chance (accuracy or AUC below 0.5), else None.

    Below 0.5 is not "better than retrain": an attack's rule was fitted elsewhere (shadow models, other images),
    and here it points the wrong way. How far under 0.5 it lands is as much a measurement as how far over."""
    if value is None or not value < 0.5:
        return None
    return (f"{what} is {value:.2f}, below chance (0.5). This does not mean the run forgot better than retrain: the "
            f"attack's rule, fitted on shadow models, points the wrong way here (reversing it would score "
            f"{1 - value:.2f}). Near 0.5 it is noise (few forget images or few shadow pairs); far below, the shadows "
            "do not behave like the attacked models (e.g. fewer shadow epochs than the original's recipe): read "
            "the distance from 0.5, in either direction, as how much the attack can tell.")
