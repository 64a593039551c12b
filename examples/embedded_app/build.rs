//! Checks the migration set in db/ (a touched frozen legacy chain fails this build, saying new
//! schema changes go in revisions/) and embeds it for `ferry::include_migrations!()`.

fn main() -> Result<(), ferry::build::EmbedError> {
    ferry::build::embed_migrations("db")
}
