//! Bulk rows for a legacy-1 database of the reference set (shared by the benchmark and the
//! crash tests): portable SQL apart from the row generator.

use ferry::core::set::Dialect;

/// Rows spread like a real installation: many runs per pipeline, bots with old-shape JSON.
pub fn bulk_sql(dialect: Dialect, rows: u64) -> String {
    let users = (rows / 20).max(10);
    let pipelines = (rows / 1000).max(10);
    let bots = (rows / 20).max(10);
    let runs = rows.saturating_sub(users + pipelines * 4 + bots);
    let series = |n: u64| match dialect {
        Dialect::Sqlite => format!(
            "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) SELECT i FROM s)"
        ),
        Dialect::Postgres => format!("(SELECT generate_series(1, {n}) AS i)"),
    };
    format!(
        "INSERT INTO users (id, username, email, password_hash) SELECT 100000 + i, 'u' || i, 'u' || i || '@x.io', 'h' FROM {users_s} g;\n\
         INSERT INTO pipelines (id, uuid, name, priority) SELECT 100000 + i, 'p-' || i, 'pipe ' || i, CAST(i % 7 AS TEXT) FROM {pipes_s} g;\n\
         INSERT INTO pipeline_stages (id, pipeline_id, stage_order, stage_type) SELECT 100000 + i, 100000 + (i - 1) / 3 + 1, (i - 1) % 3 + 1, 'llm' FROM {stages_s} g;\n\
         INSERT INTO bots (id, uuid, owner_id, pipeline_id, name, adapter, config) SELECT 100000 + i, 'b-' || i, 100000 + (i % {users}) + 1, 100000 + (i % {pipelines}) + 1, 'bot ' || i, 'telegram', \
           '{{\"model\": \"gpt-4o\", \"temp\": 0.5, \"max_tokens\": 512}}' FROM {bots_s} g;\n\
         INSERT INTO pipeline_runs (id, pipeline_id, bot_id, status, input_tokens, output_tokens) SELECT 100000 + i, 100000 + (i % {pipelines}) + 1, 100000 + (i % {bots}) + 1, 'done', i % 900, i % 300 FROM {runs_s} g;\n",
        users_s = series(users),
        pipes_s = series(pipelines),
        stages_s = series(pipelines * 3),
        bots_s = series(bots),
        runs_s = series(runs),
    )
}
