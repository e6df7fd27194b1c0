"""Shared helpers for the handoff tests (stdlib only)."""

import logging
import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DEPLOY = os.path.join(REPO, "deploy", "biomero")
FIXTURES = os.path.join(REPO, "test", "fixtures")
MODULE_PATH = os.path.join(DEPLOY, "biomero_reactor_handoff.py")
SCRIPT_PATH = os.path.join(DEPLOY, "SLURM_Import_Results.py")

if DEPLOY not in sys.path:
    sys.path.insert(0, DEPLOY)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import biomero_reactor_handoff as handoff  # noqa: E402
from slurm_standin import StandinSlurmClient  # noqa: E402

# The module logs every retry and failure; HANDOFF_TEST_LOG=1 shows them.
logging.getLogger("biomero_reactor_handoff").setLevel(
    logging.DEBUG if os.environ.get("HANDOFF_TEST_LOG") else logging.CRITICAL + 1)

TASK_ID = "5b0c1f3e-8d2a-4c1b-9e6f-0a1b2c3d4e5f"
WORKFLOW_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"
OTHER_ID = "11111111-2222-4333-8444-555555555555"
JOB_ID = "4242"
DATA_PATH_NAME = "biomero_cellpose_" + WORKFLOW_ID

FORBIDDEN_IN_DRY_RUN = ("Script execution failed:", "Permission denied", "FAILED:",
                        "RuntimeError:", "Exception:", "ERROR:")


class FakeSleep:
    """Records sleeps and advances a fake monotonic clock; runs hooks per call."""

    def __init__(self):
        self.calls = []
        self.now = 1000.0
        self.hooks = []

    def __call__(self, seconds):
        self.calls.append(seconds)
        self.now += seconds
        for hook in list(self.hooks):
            hook(len(self.calls))

    def monotonic(self):
        return self.now


class RecordingTracker(handoff.Tracker):
    def __init__(self, job_view_id=None, fail_on=()):
        self.statuses = []
        self.job_view_id = job_view_id
        self.fail_on = set(fail_on)

    def update_task_status(self, task_id, status):
        if status in self.fail_on:
            raise RuntimeError("event store unavailable")
        self.statuses.append((task_id, status))

    def workflow_id_for_job(self, job_id):
        return self.job_view_id


def result_files(n=3, size=3000):
    """Incompressible files, so the zip is well above the 1 KiB minimum."""
    files = {"image_%d.tif" % i: os.urandom(size) for i in range(n)}
    files["tables/measurements.csv"] = b"label,area\n1,20\n2,31\n"
    return files


def script_inputs(**overrides):
    """Inputs as OMERO would hand them over: declared defaults plus Run_Workflow's keys."""
    inputs = dict(handoff.PARAMETER_DEFAULTS)
    inputs.update({
        "SLURM Job Id": JOB_ID,
        "workflow_uuid": WORKFLOW_ID,
        "Task_ID": TASK_ID,
        "Log_Fallback_Target": "Dataset:51",
        "Dataset_ID": 77,
        "Output - Add as new images in NEW dataset": True,
        "New Dataset": "cellpose results",
        "ROI_Target_Image_IDs": [101, 102],
        "Import_Plate_Label_Preview": False,  # an undeclared key of a newer Run_Workflow
    })
    inputs.update(overrides)
    return inputs


class HandoffTestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="handoff-test-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.spool = os.path.join(self.tmp, "spool")
        self.sleep = FakeSleep()
        self.tracker = RecordingTracker()
        self.identity = handoff.Identity(52, "alice", 3, "Research")

    def standin(self, data_path=None, files=None, add=True, **kw):
        client = StandinSlurmClient(os.path.join(self.tmp, "slurm"), **kw)
        if data_path is None:
            data_path = os.path.join(self.tmp, "slurm", "scratch", DATA_PATH_NAME)
        self.data_path = data_path
        if add:
            client.add_job(JOB_ID, data_path, result_files() if files is None else files)
        return client

    def run_handoff(self, client, inputs=None, wait_s=0, keep_alive=None, identity=None):
        return handoff.run_script(
            script_inputs() if inputs is None else inputs,
            identity=identity or self.identity,
            slurm_factory=lambda: client,
            tracker_factory=lambda c: self.tracker,
            spool=self.spool, wait_s=wait_s, sleep=self.sleep,
            monotonic=self.sleep.monotonic, keep_alive=keep_alive)

    # -- assertions ----------------------------------------------------------------------

    def ready_entries(self):
        ready = os.path.join(self.spool, "ready")
        return sorted(os.listdir(ready)) if os.path.isdir(ready) else []

    def tmp_entries(self):
        tmp = os.path.join(self.spool, "tmp")
        return sorted(os.listdir(tmp)) if os.path.isdir(tmp) else []

    def assertFailed(self, outcome, stage, error_part=None, handoff_id=TASK_ID):
        first = outcome.message.splitlines()[0]
        self.assertFalse(outcome.ok, outcome.message)
        self.assertEqual(outcome.exit_code, 1)
        self.assertEqual(outcome.stage, stage, outcome.message)
        self.assertRegex(first, r"^FAILED: BIOMERO-REACTOR-HANDOFF/1 handoff=(%s) job=(\S+) "
                         r"stage=%s error=\S.*$" % (handoff_id or r"[0-9a-f-]{36}|-", stage))
        if error_part:
            self.assertIn(error_part, first)
        self.assertEqual(self.ready_entries(), [], "nothing may be published on failure")
        return first
