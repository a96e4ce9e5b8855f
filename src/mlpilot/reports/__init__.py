"""Human-readable forms of a check report: the terminal summary, an HTML page, model cards.

    report = mlpilot.checks.run_checks("credit-risk/2")
    print_report(report, Console())
    paths = write_reports(report, version, "check-report", store)
"""

from mlpilot.reports._write import report_json, write_reports
from mlpilot.reports.console import print_report
from mlpilot.reports.html import render_html
from mlpilot.reports.model_card import model_card, model_card_html

__all__ = [
    "model_card",
    "model_card_html",
    "print_report",
    "render_html",
    "report_json",
    "write_reports",
]
