SELECT COALESCE(SUM(CASE
    WHEN n_trials - n_done <= 0 OR max_parallel <= 0 THEN 0
    WHEN n_trials - n_done < max_parallel THEN n_trials - n_done
    ELSE max_parallel
END), 0) AS wanted_workers
FROM regtune_studies
WHERE status IN ('queued', 'running')
