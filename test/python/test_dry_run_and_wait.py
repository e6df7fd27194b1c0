"""Dry run (Test_Write_Permissions_Only) and wait mode (result.json)."""

import json
import os
import time
import unittest

from handoff_support import (FORBIDDEN_IN_DRY_RUN, HandoffTestCase, TASK_ID, handoff,
                             script_inputs)


def dry_run_inputs(job=""):
    # What Run_Workflow sends: two keys; OMERO fills in the other declared defaults.
    inputs = dict(handoff.PARAMETER_DEFAULTS)
    inputs.update({"Test_Write_Permissions_Only": True, "SLURM Job Id": job})
    return inputs


class DryRun(HandoffTestCase):
    def run_dry(self, inputs):
        def no_slurm():
            raise AssertionError("a dry run must not build a SlurmClient")

        def no_identity():
            raise AssertionError("a dry run needs no session lookups")
        return handoff.run_script(inputs, identity=no_identity, slurm_factory=no_slurm,
                                  tracker_factory=None, spool=self.spool, sleep=self.sleep)

    def test_ok_and_touches_nothing(self):
        for job in ("", "1", "977"):  # none, listing failed, an unrelated completed job
            with self.subTest(job=job):
                outcome = self.run_dry(dry_run_inputs(job))
                self.assertTrue(outcome.ok, outcome.message)
                self.assertEqual(outcome.message.splitlines()[0],
                                 "BIOMERO-REACTOR-HANDOFF/1 dry-run ok spool=%s" % self.spool)
                for bad in FORBIDDEN_IN_DRY_RUN:
                    self.assertNotIn(bad, outcome.message)
                self.assertEqual(self.ready_entries(), [])
                self.assertEqual(self.tmp_entries(), [])
                self.assertEqual(self.sleep.calls, [])

    def test_spool_that_is_not_a_directory_fails_at_spool(self):
        with open(os.path.join(self.tmp, "afile"), "w"):
            pass
        self.spool = os.path.join(self.tmp, "afile")
        outcome = self.run_dry(dry_run_inputs("977"))
        self.assertFalse(outcome.ok)
        self.assertEqual(outcome.exit_code, 1)
        self.assertRegex(outcome.message, r"^FAILED: BIOMERO-REACTOR-HANDOFF/1 handoff=- "
                         r"job=977 stage=spool error=spool .* is not usable: ")

    def test_ready_that_cannot_take_a_rename_fails(self):
        os.makedirs(os.path.join(self.spool, "tmp"))
        with open(os.path.join(self.spool, "ready"), "w"):
            pass  # ready/ is a file: the publish rename could never work
        outcome = self.run_dry(dry_run_inputs())
        self.assertFalse(outcome.ok)
        self.assertIn("stage=spool", outcome.message)
        self.assertEqual(self.tmp_entries(), [], "the probe was removed")

    def test_stale_reactor_heartbeat_is_noted(self):
        handoff.ensure_spool(self.spool)
        alive = os.path.join(self.spool, "reactor.alive")
        with open(alive, "w"):
            pass
        old = time.time() - 3600
        os.utime(alive, (old, old))
        outcome = self.run_dry(dry_run_inputs())
        self.assertTrue(outcome.ok)
        self.assertIn("reactor.alive was last touched 60 min ago", outcome.message)
        for bad in FORBIDDEN_IN_DRY_RUN:
            self.assertNotIn(bad, outcome.message)

    def test_fresh_heartbeat_says_nothing(self):
        handoff.ensure_spool(self.spool)
        with open(os.path.join(self.spool, "reactor.alive"), "w"):
            pass
        outcome = self.run_dry(dry_run_inputs())
        self.assertEqual(outcome.message.count("\n"), 0)

    def test_spool_from_the_environment(self):
        self.assertEqual(handoff.spool_dir({}), "/data/.biomero-reactor/spool")
        self.assertEqual(handoff.spool_dir({"BIOMERO_REACTOR_SPOOL": "/x/spool"}), "/x/spool")
        outcome = handoff.run_script(dry_run_inputs(), identity=None, slurm_factory=None,
                                     env={"BIOMERO_REACTOR_SPOOL": self.spool})
        self.assertTrue(outcome.ok, outcome.message)
        self.assertTrue(os.path.isdir(os.path.join(self.spool, "ready")))


class WaitMode(HandoffTestCase):
    def write_result(self, status, message, at_sleep=2):
        def hook(n):
            if n == at_sleep:
                path = os.path.join(self.spool, "ready", TASK_ID, "result.json")
                with open(path + ".tmp", "w") as fh:
                    json.dump({"schema": "biomero-reactor/handoff-result@1", "handoff_id": TASK_ID,
                               "reactor_task_id": "9d0a7c59-7f43-5d2c-9e57-1d3f1b2a0c4e",
                               "status": status, "message": message,
                               "finished_at": "2026-12-03T10:20:00.000000+00:00"}, fh)
                os.rename(path + ".tmp", path)
        self.sleep.hooks.append(hook)

    def test_imported(self):
        self.write_result("IMPORTED", "Imported 4 files into Dataset 77 (order 3f1c...)")
        alive = []
        outcome = self.run_handoff(self.standin(), wait_s=600, keep_alive=lambda: alive.append(1))
        self.assertTrue(outcome.ok, outcome.message)
        self.assertEqual(outcome.import_status, "IMPORTED")
        self.assertRegex(outcome.message.splitlines()[0], handoff.MARKER_RE)
        self.assertTrue(outcome.message.endswith(
            "\nImported 4 files into Dataset 77 (order 3f1c...)"))
        self.assertEqual(self.sleep.calls, [10, 10])
        self.assertEqual(len(alive), 2)
        self.assertEqual(self.tracker.statuses, [(TASK_ID, "HANDED_OFF")])
        with open(os.path.join(self.spool, "ready", TASK_ID, "manifest.json")) as fh:
            self.assertEqual(json.load(fh)["wait"], {"enabled": True, "timeout_s": 600})

    def test_import_failed(self):
        self.write_result("IMPORT_FAILED", "importer: Import Failed (bad file)\nsecond line",
                          at_sleep=1)
        outcome = self.run_handoff(self.standin(), wait_s=600)
        self.assertFalse(outcome.ok)
        self.assertEqual(outcome.exit_code, 1)
        self.assertEqual(outcome.stage, "import")
        self.assertEqual(outcome.message.splitlines()[0],
                         "FAILED: BIOMERO-REACTOR-HANDOFF/1 handoff=%s job=4242 stage=import "
                         "error=importer: Import Failed (bad file) second line" % TASK_ID)
        self.assertEqual(self.tracker.statuses, [(TASK_ID, "HANDED_OFF"), (TASK_ID, "FAILED")])
        self.assertEqual(self.ready_entries(), [TASK_ID], "the handoff itself stays published")

    def test_timeout_falls_back_to_the_handoff_message(self):
        outcome = self.run_handoff(self.standin(), wait_s=25)
        self.assertTrue(outcome.ok)
        self.assertIsNone(outcome.import_status)
        self.assertEqual(self.sleep.calls, [10, 10, 5])
        self.assertIn("had not finished the import after 25 s", outcome.message)
        self.assertRegex(outcome.message.splitlines()[0], handoff.MARKER_RE)

    def test_unreadable_or_unfinished_result_keeps_waiting(self):
        def hook(n):
            path = os.path.join(self.spool, "ready", TASK_ID, "result.json")
            with open(path, "w") as fh:
                fh.write("{not json" if n == 1 else '{"status": "IMPORTING"}' if n == 2 else
                         '{"status": "IMPORTED", "message": "done"}')
        self.sleep.hooks.append(hook)
        outcome = self.run_handoff(self.standin(), wait_s=600)
        self.assertTrue(outcome.ok)
        self.assertEqual(outcome.import_status, "IMPORTED")
        self.assertEqual(len(self.sleep.calls), 3)

    def test_entry_removed_by_the_reactor(self):
        import shutil

        def hook(n):
            shutil.rmtree(os.path.join(self.spool, "ready", TASK_ID), ignore_errors=True)
        self.sleep.hooks.append(hook)
        outcome = self.run_handoff(self.standin(), wait_s=600)
        self.assertTrue(outcome.ok)
        self.assertIn("removed ready/%s before its result.json" % TASK_ID, outcome.message)

    def test_wait_seconds_from_env_and_settings(self):
        handoff.ensure_spool(self.spool)
        self.assertEqual(handoff.wait_seconds(self.spool, {}), 0)
        self.assertEqual(handoff.wait_seconds(self.spool, {"BIOMERO_REACTOR_HANDOFF_WAIT_S": "900"}),
                         900)
        self.assertEqual(handoff.wait_seconds(self.spool, {"BIOMERO_REACTOR_HANDOFF_WAIT_S": "soon"}),
                         0)
        self.assertEqual(handoff.wait_seconds(self.spool, {"BIOMERO_REACTOR_HANDOFF_WAIT_S": "-5"}), 0)
        with open(os.path.join(self.spool, "handoff-settings.json"), "w") as fh:
            json.dump({"wait_s": 3600}, fh)
        self.assertEqual(handoff.wait_seconds(self.spool, {}), 3600)
        self.assertEqual(handoff.wait_seconds(self.spool, {"BIOMERO_REACTOR_HANDOFF_WAIT_S": "0"}),
                         0, "the environment wins")
        with open(os.path.join(self.spool, "handoff-settings.json"), "w") as fh:
            fh.write("[1, 2")
        self.assertEqual(handoff.wait_seconds(self.spool, {}), 0)

    def test_run_script_reads_the_wait_setting(self):
        handoff.ensure_spool(self.spool)
        client = self.standin()
        outcome = handoff.run_script(
            script_inputs(), self.identity, slurm_factory=lambda: client,
            tracker_factory=lambda c: self.tracker, spool=self.spool,
            env={"BIOMERO_REACTOR_HANDOFF_WAIT_S": "20"}, sleep=self.sleep,
            monotonic=self.sleep.monotonic)
        self.assertTrue(outcome.ok)
        self.assertEqual(self.sleep.calls, [10, 10])


if __name__ == "__main__":
    unittest.main()
