-- biomero-reactor's own tables, in the event store's database.
-- One row per workflow that completed (the intake decision), one per SLURM job in it
-- (the unit of work, leased by one reactor at a time), one per upload order submitted,
-- and the history of every job state change.

CREATE TABLE biomero_reactor.intake_cursor (
    source        text PRIMARY KEY,
    last_event_id bigint NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
INSERT INTO biomero_reactor.intake_cursor (source) VALUES ('workflowtracker_events');

CREATE TABLE biomero_reactor.workflows (
    workflow_id        uuid PRIMARY KEY,
    completed_event_id bigint NOT NULL,
    decision           text NOT NULL CHECK (decision IN ('jobs', 'skipped', 'replayed')),
    reason             text,
    job_count          integer NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now()
);

-- state: pending -> started (IMPORTING reported) -> archiving -> archived -> submitted
--        (orders waiting for the importer) -> imported | failed; or skipped.
CREATE TABLE biomero_reactor.jobs (
    id               bigserial PRIMARY KEY,
    workflow_id      uuid NOT NULL,
    slurm_job_id     text NOT NULL,
    analysis_task_id uuid,
    state            text NOT NULL CHECK (state IN ('pending', 'started', 'archiving', 'archived',
                                                    'submitted', 'imported', 'failed', 'skipped')),
    attempt          integer NOT NULL DEFAULT 1,   -- import attempt: replay starts the next one
    submission       integer NOT NULL DEFAULT 1,   -- order generation: resubmission starts the next one
    step_failures    integer NOT NULL DEFAULT 0,   -- transient failures of the current step
    next_run_at      timestamptz NOT NULL DEFAULT now(),
    lease_owner      text,
    lease_expires_at timestamptz,
    import_task_id   uuid,
    group_name       text,
    user_name        text,
    job_dir          text,
    images           jsonb,
    submitted_at     timestamptz,
    error            text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    UNIQUE (workflow_id, slurm_job_id)
);
CREATE INDEX jobs_runnable_idx ON biomero_reactor.jobs (next_run_at)
    WHERE state IN ('pending', 'started', 'archiving', 'archived');
CREATE INDEX jobs_submitted_idx ON biomero_reactor.jobs (id) WHERE state = 'submitted';

CREATE TABLE biomero_reactor.job_history (
    id          bigserial PRIMARY KEY,
    job_id      bigint NOT NULL REFERENCES biomero_reactor.jobs (id) ON DELETE CASCADE,
    from_state  text,
    to_state    text NOT NULL,
    attempt     integer NOT NULL,
    detail      text,
    instance    text,
    at          timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX job_history_job_idx ON biomero_reactor.job_history (job_id, id);

CREATE TABLE biomero_reactor.orders (
    order_uuid   uuid PRIMARY KEY,
    job_id       bigint NOT NULL REFERENCES biomero_reactor.jobs (id) ON DELETE CASCADE,
    attempt      integer NOT NULL,
    submission   integer NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('images', 'labels')),
    files        jsonb NOT NULL,
    submitted_at timestamptz NOT NULL DEFAULT now(),
    stage        text NOT NULL DEFAULT 'Import Pending',
    description  text,
    alerted_at   timestamptz
);
CREATE INDEX orders_job_idx ON biomero_reactor.orders (job_id);
