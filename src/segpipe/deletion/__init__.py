"""Audited bulk profile deletion (issue 7, seeds 000/001; docs/deletion.md).

`plan_deletion` checks the permission and the confirmation and creates a job; `stages.PLAN` is the one
sequence the job then runs (freeze the manifest, quality gate, preview or delete in batches, verify), driven by
`stages.advance` (here: `run_deletion`, `resume`) or one Prefect task per stage; `operations` lists, looks up,
cancels and carries out held jobs.
"""

from __future__ import annotations

from segpipe.deletion.execute import BatchResult, delete_batch, pending_batches, run_batches
from segpipe.deletion.gates import DeletionRefused, JobCancelled, confirm_deletion, run_gate
from segpipe.deletion.manifest import FrozenManifest, freeze_manifest
from segpipe.deletion.plan import DeletionPlan, DeletionRequest, Preview, plan_deletion, preview
from segpipe.deletion.run import DeletionResult, result_of, resume, run_deletion
from segpipe.deletion.verify import Verification, verify

__all__ = [
    "BatchResult",
    "DeletionPlan",
    "DeletionRefused",
    "DeletionRequest",
    "DeletionResult",
    "FrozenManifest",
    "JobCancelled",
    "Preview",
    "Verification",
    "confirm_deletion",
    "delete_batch",
    "freeze_manifest",
    "pending_batches",
    "plan_deletion",
    "preview",
    "result_of",
    "resume",
    "run_batches",
    "run_deletion",
    "run_gate",
    "verify",
]
