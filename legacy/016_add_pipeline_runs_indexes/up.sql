-- 016: indexes for the run history and the "in progress" dashboard.
DROP INDEX idx_pipeline_runs_pipeline_id;
CREATE INDEX idx_pipeline_runs_pipeline_started ON pipeline_runs (pipeline_id, started_at);
CREATE INDEX idx_pipeline_runs_bot_id ON pipeline_runs (bot_id);
CREATE INDEX idx_pipeline_runs_unfinished ON pipeline_runs (status) WHERE finished_at IS NULL;
