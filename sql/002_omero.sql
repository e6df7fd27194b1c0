-- The OMERO.web connection's state on a job.
-- destination_*: the container the job's orders point at, recorded before the first
-- order is written, so a retry reuses it instead of finding or creating another.
-- annotation_*: the workflow annotations on the imported images, written after the job
-- is imported: pending (annotation_attempts tried so far, the next at annotation_next_at)
-- -> done | given_up (annotation_error says why). NULL: nothing to annotate.
ALTER TABLE biomero_reactor.jobs
    ADD COLUMN destination_type    text CHECK (destination_type IN ('Dataset', 'Screen')),
    ADD COLUMN destination_id      bigint,
    ADD COLUMN annotation_state    text CHECK (annotation_state IN ('pending', 'done', 'given_up')),
    ADD COLUMN annotation_attempts integer NOT NULL DEFAULT 0,
    ADD COLUMN annotation_next_at  timestamptz,
    ADD COLUMN annotation_error    text;
CREATE INDEX jobs_annotation_due_idx ON biomero_reactor.jobs (annotation_next_at)
    WHERE state = 'imported' AND annotation_state = 'pending';
