-- One row per job, for dashboards (NL-BIOMERO's Metabase) and for people: who, what,
-- where it stands, why it failed, when each step happened, and its upload orders with the
-- last stage the reactor saw. Shows what the importer's own dashboards cannot: a job that
-- failed before any upload order existed (unknown user, no results, no images).
CREATE VIEW biomero_reactor.job_overview AS
SELECT j.id                AS job,
       j.workflow_id,
       j.slurm_job_id,
       j.user_name,
       j.group_name,
       j.state,
       j.error,
       j.attempt,
       j.submission,
       j.job_dir,
       j.created_at,
       h.started_at,
       h.archived_at,
       j.submitted_at,
       j.finished_at,
       j.updated_at,
       coalesce(o.order_uuids, '{}') AS order_uuids,
       o.last_stage,
       o.last_stage_description
FROM biomero_reactor.jobs j
LEFT JOIN LATERAL (
    SELECT max(at) FILTER (WHERE to_state = 'started')  AS started_at,
           max(at) FILTER (WHERE to_state = 'archived') AS archived_at
    FROM biomero_reactor.job_history
    WHERE job_id = j.id AND attempt = j.attempt
) h ON true
LEFT JOIN LATERAL (
    SELECT array_agg(order_uuid ORDER BY submitted_at, order_uuid)              AS order_uuids,
           (array_agg(stage ORDER BY submitted_at DESC, order_uuid))[1]         AS last_stage,
           (array_agg(description ORDER BY submitted_at DESC, order_uuid))[1]   AS last_stage_description
    FROM biomero_reactor.orders
    WHERE job_id = j.id AND attempt = j.attempt AND submission = j.submission
) o ON true;
