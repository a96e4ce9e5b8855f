"""Progressive delivery: pure policies that decide how traffic moves between versions.

Every policy here reads a state and returns a :class:`Decision` (action, reason,
evidence, new routes); none touches the store or the gateway. An engine applies
the decision, e.g. ``store.put_deployment(name, ..., routes=d.routes, reason=d.reason)``.

* :class:`CanaryAnalysis` — canary vs baseline, per metric, with tests and bounds.
* :class:`CanaryPolicy` — steps a canary 5 → 25 → 50 → 100 %, promotes or rolls back.
* :class:`DiscountedThompsonBandit` — non-stationary bandit allocation with hysteresis.
* :class:`StickySplit`, :func:`ab_test` — fixed A/B split and its result.
* :class:`BlueGreen` — atomic switch and switch-back.
* :class:`CanaryController` — the engine: applies :class:`CanaryPolicy` decisions to
  the store, with windows from the inference log (:func:`window_stats`).
* :class:`BanditController` — feeds rewards (feedback joined with the inference log,
  :func:`collect_rewards`) to a :class:`DiscountedThompsonBandit` and applies its moves.
* :class:`ABController` — tests an A/B deployment's versions and reports; never moves traffic.
* :class:`BlueGreenController` — applies blue-green switches and switch-backs.
"""

from mlpilot.delivery.ab import ABTestResult, StickySplit, ab_test, bucket
from mlpilot.delivery.ab_engine import ABController
from mlpilot.delivery.analysis import (
    AnalysisConfig,
    AnalysisResult,
    CanaryAnalysis,
    CheckResult,
    WindowStats,
)
from mlpilot.delivery.bandit import DiscountedThompsonBandit
from mlpilot.delivery.bandit_engine import BanditController
from mlpilot.delivery.blue_green import BlueGreen
from mlpilot.delivery.blue_green_engine import BlueGreenController
from mlpilot.delivery.canary import CanaryPolicy, CanaryState
from mlpilot.delivery.decision import ACTIONS, Decision, make_routes
from mlpilot.delivery.engine import CanaryController
from mlpilot.delivery.windows import (
    Reward,
    collect_rewards,
    collect_windows,
    new_feedback,
    window_stats,
)

__all__ = [
    "ACTIONS",
    "ABController",
    "ABTestResult",
    "AnalysisConfig",
    "AnalysisResult",
    "BanditController",
    "BlueGreen",
    "BlueGreenController",
    "CanaryAnalysis",
    "CanaryController",
    "CanaryPolicy",
    "CanaryState",
    "CheckResult",
    "Decision",
    "DiscountedThompsonBandit",
    "Reward",
    "StickySplit",
    "WindowStats",
    "ab_test",
    "bucket",
    "collect_rewards",
    "collect_windows",
    "make_routes",
    "new_feedback",
    "window_stats",
]
