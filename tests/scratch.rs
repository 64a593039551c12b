//! Scratch databases: the expected schema of a position is built beside the live database,
//! never in it, and equals what a real database at that position has.

mod common;

use common::*;
use ferry::core::graph::Graph;
use ferry::core::state::Position;
use ferry::core::state::State;
use ferry::driver::url::DatabaseUrl;
use ferry::fixture::TestDirs;
use ferry::scratch::{self, Scratch};

#[test]
fn expected_schemas_equal_real_databases_and_leave_nothing_behind() {
    on_both(|dialect| {
        let set = reference_set();
        let graph = Graph::new(&set).unwrap();
        let live = TestDb::new(dialect);
        let url = DatabaseUrl::parse(&live.url).unwrap();
        let before = live.fingerprint();

        let head = graph.id(graph.heads()[0]).to_string();
        let expected = scratch::expected_schema(
            &set,
            &graph,
            &url,
            &State::Managed {
                heads: vec![head.clone()],
            },
        )
        .unwrap()
        .expect("a managed state has a schema");
        assert_same_schema(&fresh_schema(dialect, &set), &expected, "scratch head");

        // Every legacy version, replayed once, equals the fixture built for it.
        let schemas = scratch::legacy_schemas(&set, &graph, &url).unwrap();
        assert_eq!(schemas.len(), set.cap() as usize + 1);
        assert!(schemas[0].tables.is_empty());
        for n in [1, 12, 25] {
            let db = TestDb::new(dialect);
            let mut d = db.open();
            let mut r = runner(&set, &graph, d.as_mut());
            ferry::fixture::build(&mut r, &Position::Legacy(n), &TestDirs::default()).unwrap();
            drop(r);
            drop(d);
            assert_same_schema(
                &db.snapshot(&set),
                &schemas[n as usize],
                &format!("legacy {n}"),
            );
            assert_ne!(
                schemas[n as usize - 1],
                schemas[n as usize],
                "legacy {n} changes the schema"
            );
        }

        // A scratch on the live database's server is private, and gone once dropped.
        let mut s = Scratch::beside(&url).unwrap();
        s.driver()
            .execute("CREATE TABLE scratch_only (id INTEGER)")
            .unwrap();
        drop(s);
        assert_eq!(live.fingerprint(), before, "the live database is untouched");
        if dialect == ferry::core::set::Dialect::Postgres {
            let left = live.scalar(
                "SELECT count(*)::text FROM pg_namespace WHERE nspname LIKE 'ferry_scratch_%'",
            );
            assert_eq!(left.as_deref(), Some("0"), "scratch schemas are dropped");
        }
    });
}
