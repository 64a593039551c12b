//! What the benchmarks share: the PostgreSQL server they measure against.

/// The maintenance database of the server (`FERRY_BENCH_PG_URL`, default the local one), when
/// it answers.
pub fn pg_admin_url() -> Option<String> {
    let url = std::env::var("FERRY_BENCH_PG_URL")
        .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=postgres".into());
    postgres::Client::connect(&url, postgres::NoTls)
        .ok()
        .map(|_| url)
}

/// The same server's database `name`, as a key=value string.
pub fn with_db(admin: &str, name: &str) -> String {
    let mut config: postgres::Config = admin.parse().expect("config");
    config.dbname(name);
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(h)) => h.clone(),
        Some(postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => "127.0.0.1".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "host={host} port={port} user={} dbname={name}",
        config.get_user().unwrap_or("postgres")
    )
}
