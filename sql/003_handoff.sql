-- Handoffs: results that BIOMERO's handoff import script (deploy/biomero) staged in the
-- spool. A handoff is one job, keyed by its handoff id (unique: a second scan or a
-- replayed notification finds the row and does nothing). The manifest is kept with the
-- job, so the job never reads the spool entry again after intake; the names and group
-- come from its omero block.
ALTER TABLE biomero_reactor.jobs
    ADD COLUMN handoff_id          uuid UNIQUE,
    ADD COLUMN handoff_dir         text,          -- spool/ready/<handoff id>
    ADD COLUMN handoff_manifest    jsonb,
    ADD COLUMN handoff_result_at   timestamptz,   -- result.json written (for this attempt)
    ADD COLUMN handoff_verdict_at  timestamptz,   -- the verdict event appended (or none needed)
    ADD COLUMN handoff_cleaned_at  timestamptz;   -- ready/<handoff id> removed or left for the operator
CREATE INDEX jobs_handoff_open_idx ON biomero_reactor.jobs (id)
    WHERE handoff_id IS NOT NULL AND handoff_cleaned_at IS NULL;

-- Handoffs refused at intake (bad manifest): the entry moved to spool/rejected/.
CREATE TABLE biomero_reactor.handoff_rejections (
    handoff_dir  text PRIMARY KEY,
    reason       text NOT NULL,
    rejected_at  timestamptz NOT NULL DEFAULT now()
);

-- The verdict events the reactor appended to workflows (WorkflowCompleted/WorkflowFailed
-- rows in workflowtracker_events), so a later handoff of the same workflow does not take
-- one of them for BIOMERO's own terminal event.
CREATE TABLE biomero_reactor.verdict_events (
    event_id  bigint PRIMARY KEY,
    job_id    bigint NOT NULL REFERENCES biomero_reactor.jobs (id) ON DELETE CASCADE
);
