"""Audited bulk profile deletion (issue 7, seeds 000/001): plan → gates → manifest → GX gate → batches → verify.

Stage functions, shaped for an orchestrator (one task per stage): `plan_deletion`, `freeze_manifest`,
`preview`, `confirm_deletion`, `run_gate`, `delete_batch`, `verify`, `resume`; `run_deletion` runs them all.
"""

from __future__ import annotations

from segpipe.deletion.execute import BatchResult, delete_batch, pending_batches, run_batches
from segpipe.deletion.gates import DeletionRefused, confirm_deletion, run_gate
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
