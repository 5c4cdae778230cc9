SELECT COALESCE(SUM((
    SELECT COUNT(DISTINCT busy.worker_id) FROM regtune_claims AS busy
    WHERE busy.study_id = regtune_studies.id AND NOT busy.reserved
) + (CASE
    WHEN optuna_study_id IS NULL OR stopped_by IS NOT NULL OR deadline <= timezone('UTC', now()) THEN 0
    WHEN n_done + n_running + n_reserved >= n_trials OR n_running >= max_parallel THEN 0
    WHEN max_parallel - n_running < n_trials - n_done - n_running - n_reserved
        THEN max_parallel - n_running
    ELSE n_trials - n_done - n_running - n_reserved
END + COALESCE(slots_per_claim, 1) - 1) / COALESCE(slots_per_claim, 1)), 0) + (
    SELECT COUNT(*) FROM regtune_studies AS done
    WHERE done.status = 'completed'
    AND done.optuna_study_id IS NOT NULL
    AND EXISTS (SELECT 1 FROM trials AS t
        WHERE t.study_id = done.optuna_study_id AND t.state = 'COMPLETE')
    AND NOT EXISTS (SELECT 1 FROM study_user_attributes AS model
        WHERE model.study_id = done.optuna_study_id AND model.key = 'regtune:best_model')
    AND NOT EXISTS (SELECT 1 FROM study_system_attributes AS mark
        WHERE mark.study_id = done.optuna_study_id AND mark.key = 'regtune:no_best_model')
) AS wanted_workers
FROM regtune_studies
WHERE status IN ('queued', 'running')
