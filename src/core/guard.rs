//! Guard directives: `-- ferry:if-missing column t.c` … `-- ferry:end` make a block of a
//! script run only when an object is missing (or present), so a step can be idempotent.
//!
//! Pure, and shared with build.rs. The SQL between directives is never split at `;`: each
//! segment is executed as a whole script by the database.
//!
//! A plain `pg_dump` output is a psql script rather than pure SQL; the parse also accepts its
//! two psql parts. A `COPY … FROM stdin;` statement and its rows up to the `\.` line become a
//! [`Segment::CopyIn`], and `\restrict` / `\unrestrict` lines are skipped. Any other psql
//! meta-command line is refused. These are found by a scan that follows SQL's quoting
//! (`'…'`, `E'…'`, `"…"`, `` `…` ``, `$tag$…$tag$`, `--` and nested `/* */` comments), so a
//! `COPY` or a backslash inside a string, a comment or a function body is left alone. Its
//! limits: a meta-command is recognised only as the first thing on a line between statements
//! (elsewhere the database reports it), and strings are read with
//! `standard_conforming_strings` on (PostgreSQL's default, and what pg_dump sets).

use std::fmt;

/// The object a guard looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    Table(String),
    Column { table: String, column: String },
    Index(String),
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Object::Table(t) => write!(f, "table {t}"),
            Object::Column { table, column } => write!(f, "column {table}.{column}"),
            Object::Index(i) => write!(f, "index {i}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// `if-missing` (true) or `if-present` (false).
    pub if_missing: bool,
    pub object: Object,
}

impl Condition {
    /// Whether the block runs, given whether the object exists.
    pub fn holds(&self, exists: bool) -> bool {
        exists != self.if_missing
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = if self.if_missing {
            "if-missing"
        } else {
            "if-present"
        };
        write!(f, "{word} {}", self.object)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment<'a> {
    Plain(&'a str),
    Guarded {
        condition: Condition,
        body: &'a str,
        /// 1-based line of the directive, for messages.
        line: usize,
    },
    /// `COPY … FROM stdin;` and the rows that follow it (PostgreSQL's text format, as pg_dump
    /// writes them), up to the line `\.`, which is in neither part.
    CopyIn {
        /// The statement, from `COPY` to its `;`.
        statement: &'a str,
        /// Every row line, each with its end of line.
        data: &'a str,
        /// 1-based line where the statement starts, for messages.
        line: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script<'a> {
    pub segments: Vec<Segment<'a>>,
}

impl Script<'_> {
    pub fn is_guarded(&self) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s, Segment::Guarded { .. }))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct GuardError {
    pub line: usize,
    pub message: String,
}

const PREFIX: &str = "-- ferry:";

/// Splits a script at its directive lines. Text outside directives is kept byte for byte.
pub fn parse(sql: &str) -> Result<Script<'_>, GuardError> {
    let mut segments = Vec::new();
    let mut open: Option<(Condition, usize, usize)> = None; // condition, body start, line
    let mut plain_start = 0;
    let mut offset = 0;
    let mut scan = Scan::default();
    // An open COPY … FROM stdin: statement start and end, start of its rows, its line.
    let mut copy: Option<(usize, usize, usize, usize)> = None;
    for (index, raw) in sql.split_inclusive('\n').enumerate() {
        let line_no = index + 1;
        let start = offset;
        offset += raw.len();
        let err = |message: String| GuardError {
            line: line_no,
            message,
        };
        if let Some((from, to, data, line)) = copy {
            if raw.trim_end_matches(['\n', '\r']) == "\\." {
                segments.push(Segment::CopyIn {
                    statement: &sql[from..to],
                    data: &sql[data..start],
                    line,
                });
                copy = None;
                plain_start = offset;
            }
            continue;
        }
        let line = raw.trim();
        let Some(directive) = line.strip_prefix(PREFIX) else {
            if scan.between_statements() && line.starts_with('\\') {
                let command = line.split_whitespace().next().unwrap_or(line);
                if !matches!(command, "\\restrict" | "\\unrestrict") {
                    return Err(err(format!(
                        "`{command}` is a psql meta-command: ferry runs SQL, not psql scripts \
                         (of psql's lines it accepts only pg_dump's COPY … FROM stdin data and \
                         `\\restrict` / `\\unrestrict`); write it as SQL or remove it"
                    )));
                }
                if let Some((_, _, opened)) = &open {
                    return Err(err(format!(
                        "`{command}` inside the guarded block opened on line {opened}: psql lines \
                         cannot be guarded; put it outside the block"
                    )));
                }
                push_plain(&mut segments, &sql[plain_start..start]);
                plain_start = offset;
                continue;
            }
            if let Some((from, semi, line)) = scan.line(sql, start, offset, line_no) {
                let err = |message: String| GuardError { line, message };
                if let Some((_, _, opened)) = &open {
                    return Err(err(format!(
                        "COPY … FROM stdin inside the guarded block opened on line {opened}: its \
                         rows cannot be guarded; put it outside the block"
                    )));
                }
                if !sql[semi + 1..offset].trim().is_empty() {
                    return Err(err(
                        "text after `COPY … FROM stdin;` on its line: the rows start on the next line"
                            .into(),
                    ));
                }
                push_plain(&mut segments, &sql[plain_start..from]);
                copy = Some((from, semi + 1, offset, line));
            }
            continue;
        };
        let mut words = directive.split_whitespace();
        match words.next() {
            // A file that is a no-op on purpose (`lint` refuses an empty one otherwise).
            Some("empty") => {
                if words.next().is_some() {
                    return Err(err("`-- ferry:empty` takes nothing after it".into()));
                }
            }
            Some("end") => {
                if words.next().is_some() {
                    return Err(err("`-- ferry:end` takes nothing after it".into()));
                }
                let (condition, body_start, line) = open.take().ok_or_else(|| {
                    err("`-- ferry:end` without an open `-- ferry:if-…` block".into())
                })?;
                segments.push(Segment::Guarded {
                    condition,
                    body: &sql[body_start..start],
                    line,
                });
                plain_start = offset;
            }
            Some(word @ ("if-missing" | "if-present")) => {
                if let Some((_, _, opened)) = &open {
                    return Err(err(format!(
                        "guards do not nest: the block opened on line {opened} is not closed with `-- ferry:end`"
                    )));
                }
                let object = parse_object(words.next(), words.next()).map_err(err)?;
                if let Some(extra) = words.next() {
                    return Err(err(format!("unexpected {extra:?} after the object")));
                }
                push_plain(&mut segments, &sql[plain_start..start]);
                open = Some((
                    Condition {
                        if_missing: word == "if-missing",
                        object,
                    },
                    offset,
                    line_no,
                ));
            }
            other => {
                return Err(err(format!(
                    "unknown directive {:?}; use `-- ferry:if-missing|if-present table T|column T.C|index I` and `-- ferry:end` (or `-- ferry:empty` alone in a file that does nothing on purpose)",
                    other.unwrap_or("")
                )));
            }
        }
    }
    if let Some((_, _, _, line)) = copy {
        return Err(GuardError {
            line,
            message: "the rows of this COPY … FROM stdin never end with a line `\\.`".into(),
        });
    }
    if let Some((_, _, line)) = open {
        return Err(GuardError {
            line,
            message: "this block is never closed with `-- ferry:end`".into(),
        });
    }
    push_plain(&mut segments, &sql[plain_start..]);
    Ok(Script { segments })
}

/// Where the SQL scan stands between lines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Lex {
    #[default]
    Code,
    /// Inside `'…'` (backslash escapes in `E'…'`), `"…"` or `` `…` ``.
    Quoted { close: u8, backslashes: bool },
    /// Inside `/* … */`, nested this deep.
    Comment(usize),
    /// Inside a `$tag$ … $tag$` body; the tag with its dollars.
    Dollar(String),
}

/// A scan of SQL text, line by line, that knows where statements start and end.
#[derive(Debug, Default)]
struct Scan {
    lex: Lex,
    /// The byte offset and line of the current statement's first character.
    statement: Option<(usize, usize)>,
}

/// A byte that may continue an identifier (a `$` after one is not a dollar quote).
fn ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

impl Scan {
    /// Outside every statement, string and comment: where a psql meta-command line would be.
    fn between_statements(&self) -> bool {
        self.lex == Lex::Code && self.statement.is_none()
    }

    /// Scans the line `sql[start..end]`; when a `COPY … FROM stdin` statement ends on it,
    /// returns where the statement starts, where its `;` is, and its first line.
    fn line(
        &mut self,
        sql: &str,
        start: usize,
        end: usize,
        line_no: usize,
    ) -> Option<(usize, usize, usize)> {
        let bytes = sql.as_bytes();
        let mut i = start;
        while i < end {
            let b = bytes[i];
            let next = bytes.get(i + 1).copied().filter(|_| i + 1 < end);
            match &mut self.lex {
                Lex::Quoted { close, backslashes } => {
                    if b == b'\\' && *backslashes {
                        i += 1;
                    } else if b == *close {
                        if next == Some(*close) {
                            i += 1;
                        } else {
                            self.lex = Lex::Code;
                        }
                    }
                }
                Lex::Comment(depth) => {
                    if b == b'/' && next == Some(b'*') {
                        *depth += 1;
                        i += 1;
                    } else if b == b'*' && next == Some(b'/') {
                        *depth -= 1;
                        i += 1;
                        if *depth == 0 {
                            self.lex = Lex::Code;
                        }
                    }
                }
                Lex::Dollar(tag) => match sql[i..end].find(tag.as_str()) {
                    Some(at) => {
                        i += at + tag.len();
                        self.lex = Lex::Code;
                        continue;
                    }
                    None => break,
                },
                Lex::Code => {
                    if b.is_ascii_whitespace() {
                    } else if b == b'-' && next == Some(b'-') {
                        break;
                    } else if b == b'/' && next == Some(b'*') {
                        self.lex = Lex::Comment(1);
                        i += 1;
                    } else if b == b';' {
                        if let Some((from, line)) = self.statement.take()
                            && copy_from_stdin(&sql[from..i])
                        {
                            return Some((from, i, line));
                        }
                    } else {
                        if self.statement.is_none() {
                            self.statement = Some((i, line_no));
                        }
                        let after_ident = i > start && ident_byte(bytes[i - 1]);
                        match b {
                            b'\'' => {
                                let e_prefix = after_ident
                                    && matches!(bytes[i - 1], b'e' | b'E')
                                    && (i < start + 2 || !ident_byte(bytes[i - 2]));
                                self.lex = Lex::Quoted {
                                    close: b,
                                    backslashes: e_prefix,
                                };
                            }
                            b'"' | b'`' => {
                                self.lex = Lex::Quoted {
                                    close: b,
                                    backslashes: false,
                                }
                            }
                            b'$' if !after_ident => {
                                if let Some(tag) = dollar_tag(&sql[i..end]) {
                                    i += tag.len();
                                    self.lex = Lex::Dollar(tag.to_string());
                                    continue;
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
            i += 1;
        }
        None
    }
}

/// The `$tag$` (or `$$`) that `text` starts with, if it starts with one.
fn dollar_tag(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let mut j = 1;
    while j < bytes.len() {
        let b = bytes[j];
        if b == b'$' {
            return Some(&text[..=j]);
        }
        let ok = b.is_ascii_alphabetic() || b == b'_' || b >= 0x80 || (j > 1 && b.is_ascii_digit());
        if !ok {
            return None;
        }
        j += 1;
    }
    None
}

/// Whether a statement (without its `;`) is `COPY … FROM STDIN`: its first word is COPY and,
/// outside parentheses and quotes, FROM is followed by STDIN.
fn copy_from_stdin(statement: &str) -> bool {
    let bytes = statement.as_bytes();
    let mut words: Vec<&str> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_alphabetic() || b == b'_' {
            let from = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            if depth == 0 {
                words.push(&statement[from..i]);
            }
            continue;
        }
        match b {
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            b'\'' | b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b {
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    words
        .first()
        .is_some_and(|w| w.eq_ignore_ascii_case("copy"))
        && words
            .windows(2)
            .any(|w| w[0].eq_ignore_ascii_case("from") && w[1].eq_ignore_ascii_case("stdin"))
}

fn push_plain<'a>(segments: &mut Vec<Segment<'a>>, text: &'a str) {
    if !text.trim().is_empty() {
        segments.push(Segment::Plain(text));
    }
}

fn parse_object(kind: Option<&str>, name: Option<&str>) -> Result<Object, String> {
    let name = name.ok_or("the directive names no object (e.g. `column users.email`)")?;
    let ident = |s: &str| -> Result<String, String> {
        if super::set::valid_identifier(s) {
            Ok(s.to_string())
        } else {
            Err(format!("{s:?} is not a plain SQL identifier"))
        }
    };
    match kind {
        Some("table") => Ok(Object::Table(ident(name)?)),
        Some("index") => Ok(Object::Index(ident(name)?)),
        Some("column") => {
            let (table, column) = name
                .split_once('.')
                .ok_or_else(|| format!("column {name:?} must be written TABLE.COLUMN"))?;
            Ok(Object::Column {
                table: ident(table)?,
                column: ident(column)?,
            })
        }
        other => Err(format!(
            "unknown object kind {:?}; use table, column or index",
            other.unwrap_or("")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_script_is_one_segment_kept_verbatim() {
        let sql = "CREATE TABLE a(x TEXT DEFAULT ';');\nINSERT INTO a VALUES ('--');\n";
        assert_eq!(parse(sql).unwrap().segments, vec![Segment::Plain(sql)]);
    }

    #[test]
    fn guarded_block_splits_around_directives() {
        let sql = "SELECT 1;\n-- ferry:if-missing column llm.ctx\nALTER TABLE llm ADD COLUMN ctx INT;\n  -- ferry:end  \nSELECT 2;\n";
        let script = parse(sql).unwrap();
        assert_eq!(
            script.segments,
            vec![
                Segment::Plain("SELECT 1;\n"),
                Segment::Guarded {
                    condition: Condition {
                        if_missing: true,
                        object: Object::Column {
                            table: "llm".into(),
                            column: "ctx".into()
                        }
                    },
                    body: "ALTER TABLE llm ADD COLUMN ctx INT;\n",
                    line: 2
                },
                Segment::Plain("SELECT 2;\n"),
            ]
        );
        assert!(script.is_guarded());
    }

    #[test]
    fn if_present_table_and_index() {
        let s = parse("-- ferry:if-present table t\nDROP TABLE t;\n-- ferry:end\n-- ferry:if-missing index ix\nCREATE INDEX ix ON t(a);\n-- ferry:end").unwrap();
        assert_eq!(s.segments.len(), 2);
        let Segment::Guarded { condition, .. } = &s.segments[0] else {
            panic!("expected a guard")
        };
        assert!(!condition.if_missing);
        assert!(condition.holds(true) && !condition.holds(false));
        let Segment::Guarded { condition, .. } = &s.segments[1] else {
            panic!("expected a guard")
        };
        assert_eq!(condition.object, Object::Index("ix".into()));
        assert!(condition.holds(false) && !condition.holds(true));
    }

    #[test]
    fn malformed_directives_name_the_line() {
        let cases = [
            (
                "-- ferry:if-missing column nodot\n-- ferry:end",
                1,
                "TABLE.COLUMN",
            ),
            (
                "-- ferry:if-missing view v\n-- ferry:end",
                1,
                "unknown object kind",
            ),
            (
                "-- ferry:if-missing table\n-- ferry:end",
                1,
                "names no object",
            ),
            (
                "-- ferry:if-missing table \"x y\"\n-- ferry:end",
                1,
                "not a plain SQL identifier",
            ),
            ("SELECT 1;\n-- ferry:end", 2, "without an open"),
            (
                "-- ferry:if-missing table a\n-- ferry:if-missing table b\n",
                2,
                "do not nest",
            ),
            (
                "x;\n-- ferry:if-missing table a\nSELECT 1;",
                2,
                "never closed",
            ),
            ("-- ferry:unless table a", 1, "unknown directive"),
            (
                "-- ferry:if-missing table a b\n-- ferry:end",
                1,
                "unexpected",
            ),
        ];
        for (sql, line, text) in cases {
            let e = parse(sql).unwrap_err();
            assert_eq!(e.line, line, "{sql}");
            assert!(e.message.contains(text), "{sql}: {}", e.message);
        }
    }

    #[test]
    fn copy_from_stdin_takes_its_rows_up_to_the_end_line() {
        let sql = "SET x = 1;\n--\n-- Data\n--\n\nCOPY public.t (a, \"b c\") FROM stdin;\n1\tx\\ty\n2\t\\N\n\\.\n\nSELECT 2;\n";
        let script = parse(sql).unwrap();
        assert_eq!(
            script.segments,
            vec![
                Segment::Plain("SET x = 1;\n--\n-- Data\n--\n\n"),
                Segment::CopyIn {
                    statement: "COPY public.t (a, \"b c\") FROM stdin;",
                    data: "1\tx\\ty\n2\t\\N\n",
                    line: 6,
                },
                Segment::Plain("\nSELECT 2;\n"),
            ]
        );
        // Rows that look like SQL, directives or meta-commands are rows; CRLF ends too.
        let sql = "copy t from STDIN ;\r\n-- ferry:end\r\n\\connect x\r\n\\.\r\n";
        let Segment::CopyIn { data, line, .. } = &parse(sql).unwrap().segments[0] else {
            panic!("expected a COPY")
        };
        assert_eq!((*data, *line), ("-- ferry:end\r\n\\connect x\r\n", 1));
        // A statement over several lines, and an empty table.
        let sql = "COPY t (a,\n  b)\n  FROM stdin WITH (FORMAT text);\n\\.\n";
        assert_eq!(
            parse(sql).unwrap().segments,
            vec![Segment::CopyIn {
                statement: "COPY t (a,\n  b)\n  FROM stdin WITH (FORMAT text);",
                data: "",
                line: 1
            }]
        );
    }

    #[test]
    fn copy_elsewhere_is_plain_sql() {
        for sql in [
            "COPY t TO stdout;\n",
            "COPY (SELECT a FROM stdin) TO '/tmp/x';\n",
            "SELECT 'COPY t FROM stdin;';\n",
            "-- COPY t FROM stdin;\n",
            "/* COPY t FROM stdin;\n */ SELECT 1;\n",
            "CREATE FUNCTION f() RETURNS void AS $body$\nCOPY t FROM stdin;\n$body$ LANGUAGE sql;\n",
            "SELECT E'it\\'s';\nCOPY_t FROM stdin;\n",
        ] {
            let script = parse(sql).unwrap();
            assert_eq!(script.segments, vec![Segment::Plain(sql)], "{sql}");
        }
    }

    #[test]
    fn restrict_lines_are_skipped() {
        let sql = "--\n\\restrict AbC123\n\nSET a = 1;\nCOPY t FROM stdin;\n1\n\\.\n\\unrestrict AbC123\n\n";
        assert_eq!(
            parse(sql).unwrap().segments,
            vec![
                Segment::Plain("--\n"),
                Segment::Plain("\nSET a = 1;\n"),
                Segment::CopyIn {
                    statement: "COPY t FROM stdin;",
                    data: "1\n",
                    line: 5
                },
            ]
        );
    }

    #[test]
    fn other_meta_commands_are_refused_naming_the_line() {
        let cases = [
            (
                "SELECT 1;\n\\connect other\n",
                2,
                "`\\connect` is a psql meta-command",
            ),
            (
                "\\set ON_ERROR_STOP on\n",
                1,
                "ferry runs SQL, not psql scripts",
            ),
            ("  \\i other.sql\n", 1, "`\\i`"),
            (
                "-- ferry:if-missing table t\n\\restrict k\n-- ferry:end\n",
                2,
                "cannot be guarded",
            ),
            (
                "-- ferry:if-missing table t\nCOPY t FROM stdin;\n\\.\n-- ferry:end\n",
                2,
                "cannot be guarded",
            ),
            ("x;\nCOPY t FROM stdin;\n1\n", 2, "never end with a line"),
            (
                "COPY t FROM stdin; SELECT 1;\n\\.\n",
                1,
                "rows start on the next line",
            ),
        ];
        for (sql, line, text) in cases {
            let e = parse(sql).unwrap_err();
            assert_eq!(e.line, line, "{sql}");
            assert!(e.message.contains(text), "{sql}: {}", e.message);
        }
        // Inside a statement, a string, a comment or a body, a backslash is the database's.
        for sql in [
            "SELECT\n\\x;\n",
            "SELECT '\n\\connect x';\n",
            "/*\n\\connect x\n*/\n",
            "DO $$\n\\connect x\n$$;\n",
            "SELECT \"a\n\\connect\";\n",
        ] {
            assert!(parse(sql).is_ok(), "{sql}");
        }
    }

    #[test]
    fn ordinary_comments_are_not_directives() {
        let sql = "-- ferry is great\n-- ferryman:x\nSELECT 1;";
        assert_eq!(parse(sql).unwrap().segments, vec![Segment::Plain(sql)]);
    }
}
