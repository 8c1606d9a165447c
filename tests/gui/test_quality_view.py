"""The Quality view: table, chart points and the recommendation that follows the KL threshold slider."""

from __future__ import annotations

import math
from pathlib import Path

from app.gui.quality_view import QualityView
from app.runtime.evaluate import CandidateResult, EvaluatedModel, KLSummary, ValueWithError
from app.runtime.settings import Settings


def _result(name: str, size: int, kl: float) -> CandidateResult:
    e = lambda v: ValueWithError(v, 0.0)  # noqa: E731
    summary = KLSummary(n_positions=100, ppl=e(10.0), ppl_base=e(9.5), ln_ppl_ratio=e(0.05), ppl_ratio=e(1.05),
                        ppl_diff=e(0.5), kl_mean=e(kl), kl_median=kl, kl_p90=kl, kl_p99=2 * kl, kl_p999=3 * kl,
                        kl_max=4 * kl, same_top=e(0.9), p_diff_mean=e(0.0), p_diff_rms=e(0.0))
    return CandidateResult(EvaluatedModel(Path(f"/nonexistent/{name}.gguf"), size, 1000, size), summary)


def test_recommendation_follows_the_threshold(qtbot):
    view = QualityView(Settings(kl_threshold=0.05))
    qtbot.addWidget(view)
    results = [_result("m-Q3_K_M", 300, 0.20), _result("m-Q4_K_M", 400, 0.04), _result("m-Q8_0", 800, 0.0015)]
    view.show_results(results)
    assert view.table.rowCount() == 3 and view.table.item(1, 3).text() == "0.0400"
    assert math.isclose(view.kl_threshold(), 0.05, rel_tol=0.03)
    assert "m-Q4_K_M.gguf" in view.recommendation.text() and view.chart.chosen == "Q4_K_M"
    view.threshold.setValue(int((math.log10(0.3) + 3) * 100))  # looser: the smaller Q3_K_M qualifies
    assert "m-Q3_K_M.gguf" in view.recommendation.text()
    view.threshold.setValue(int((math.log10(0.002) + 3) * 100))  # stricter: only Q8_0
    assert "m-Q8_0.gguf" in view.recommendation.text()
    view.threshold.setValue(0)  # 0.001: nothing qualifies, the closest is named
    assert "closest" in view.recommendation.text() and view.chart.chosen is None
    assert len(view.chart.points) == 3
    view.grab()  # paints the chart without errors
