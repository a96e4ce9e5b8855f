"""Continuous monitoring: drift detectors, change points, performance, baselines, alerts."""

from mlpilot.monitor.detector import (
    DETECTORS,
    ChangePoint,
    Detector,
    DetectorResult,
    StreamingDetector,
    get_detector,
    register,
)

__all__ = ["DETECTORS", "ChangePoint", "Detector", "DetectorResult", "StreamingDetector",
           "get_detector", "register"]

# Drift detectors (registered on import) and the drift report.
from mlpilot.monitor.categorical import (  # noqa: E402
    ChiSquareTest,
    JensenShannonDetector,
    NewCategoriesDetector,
    PSICategoricalDetector,
)
from mlpilot.monitor.drift import ColumnDrift, DriftReport, adjust_p_values, drift_report  # noqa: E402
from mlpilot.monitor.numeric import (  # noqa: E402
    CDFDetector,
    KSTest,
    PSIDetector,
    WassersteinDetector,
)

__all__ += ["CDFDetector", "ChiSquareTest", "ColumnDrift", "DriftReport",  # noqa: PLE0605
            "JensenShannonDetector", "KSTest", "NewCategoriesDetector", "PSICategoricalDetector",
            "PSIDetector", "WassersteinDetector", "adjust_p_values", "drift_report"]
from mlpilot.monitor.baseline import (  # noqa: E402
    BaselineScore,
    OpsMetrics,
    SeasonalBaseline,
    ops_metrics,
    ops_series,
)
from mlpilot.monitor.cbpe import CBPE, CBPEEstimate, EstimatedMetric  # noqa: E402
from mlpilot.monitor.performance import (  # noqa: E402
    MetricValue,
    Performance,
    classification_performance,
    regression_performance,
    wilson_interval,
    window_performance,
)
from mlpilot.monitor.quality import (  # noqa: E402
    QualityFinding,
    QualityReport,
    check_quality,
    features_frame,
)

__all__ += ["BaselineScore", "OpsMetrics", "SeasonalBaseline", "ops_metrics", "ops_series",
            "CBPE", "CBPEEstimate", "EstimatedMetric", "MetricValue", "Performance",
            "classification_performance", "regression_performance", "wilson_interval",
            "window_performance", "QualityFinding", "QualityReport", "check_quality",
            "features_frame"]
# Multivariate drift, change points on metric series, prediction and label drift.
from mlpilot.monitor.changepoint import ADWIN, CUSUM, PageHinkley  # noqa: E402
from mlpilot.monitor.multivariate import (  # noqa: E402
    DomainClassifier,
    FrameEncoder,
    PCAReconstruction,
)
from mlpilot.monitor.outputs import OutputDrift, label_drift, prediction_drift  # noqa: E402

__all__ += ["ADWIN", "CUSUM", "DomainClassifier", "FrameEncoder", "OutputDrift",
            "PCAReconstruction", "PageHinkley", "label_drift", "prediction_drift"]
