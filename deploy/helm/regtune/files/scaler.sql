WITH tenants AS (
    SELECT tenant, CASE
        WHEN :tenant_max_running <= 0 THEN NULL
        WHEN SUM(n_running) >= :tenant_max_running THEN 0
        ELSE :tenant_max_running - SUM(n_running)
    END AS room
    FROM regtune_studies
    GROUP BY tenant
), open_slots AS (
    SELECT regtune_studies.tenant, room, COALESCE(slots_per_claim, 1) AS per_claim, (
        SELECT COUNT(DISTINCT busy.worker_id) FROM regtune_claims AS busy
        WHERE busy.study_id = regtune_studies.id AND NOT busy.reserved
    ) AS busy, CASE
        WHEN optuna_study_id IS NULL OR stopped_by IS NOT NULL OR deadline <= timezone('UTC', now()) THEN 0
        WHEN n_done + n_running + n_reserved >= n_trials OR n_running >= max_parallel THEN 0
        WHEN max_parallel - n_running < n_trials - n_done - n_running - n_reserved
            THEN max_parallel - n_running
        ELSE n_trials - n_done - n_running - n_reserved
    END AS slots
    FROM regtune_studies JOIN tenants ON tenants.tenant = regtune_studies.tenant
    WHERE status IN ('queued', 'running')
), per_tenant AS (
    SELECT room, SUM(busy) AS busy,
        SUM((CASE WHEN room < slots THEN room ELSE slots END + per_claim - 1) / per_claim) AS fresh
    FROM open_slots
    GROUP BY tenant, room
)
SELECT COALESCE(SUM(busy + CASE WHEN room < fresh THEN room ELSE fresh END), 0) + (
    SELECT COUNT(*) FROM regtune_studies AS done
    WHERE done.status = 'completed'
    AND done.optuna_study_id IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM study_user_attributes AS model
        WHERE model.study_id = done.optuna_study_id AND model.key = 'regtune:best_model')
    AND NOT EXISTS (SELECT 1 FROM study_system_attributes AS mark
        WHERE mark.study_id = done.optuna_study_id AND mark.key = 'regtune:no_best_model')
) AS wanted_workers
FROM per_tenant
