"""Operations on a whole mlpilot installation: backup and restore (disaster recovery).

Example:
    >>> import mlpilot, mlpilot.ops  # doctest: +SKIP
    >>> summary = mlpilot.ops.backup(mlpilot.get_context(), "backups/2025-01-01.tar.gz")
    >>> mlpilot.ops.restore("backups/2025-01-01.tar.gz", Settings.from_env("/srv/new-home"))
"""

from mlpilot.ops._format import BackupCorrupt, BackupError, RestoreRefused
from mlpilot.ops.backup import BackupSummary, backup
from mlpilot.ops.restore import RestoreSummary, restore, verify_backup

__all__ = [
    "BackupCorrupt",
    "BackupError",
    "BackupSummary",
    "RestoreRefused",
    "RestoreSummary",
    "backup",
    "restore",
    "verify_backup",
]
