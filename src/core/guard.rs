//! Guard directives: `-- ferry:if-missing column t.c` … `-- ferry:end` make a block of a
//! script run only when an object is missing (or present), so a step can be idempotent.
//!
//! Pure, and shared with build.rs. The SQL between directives is never split further: each
//! segment is executed as a whole script by the database.

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
    for (index, raw) in sql.split_inclusive('\n').enumerate() {
        let line_no = index + 1;
        let start = offset;
        offset += raw.len();
        let line = raw.trim();
        let Some(directive) = line.strip_prefix(PREFIX) else {
            continue;
        };
        let err = |message: String| GuardError {
            line: line_no,
            message,
        };
        let mut words = directive.split_whitespace();
        match words.next() {
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
                    "unknown directive {:?}; use `-- ferry:if-missing|if-present table T|column T.C|index I` and `-- ferry:end`",
                    other.unwrap_or("")
                )));
            }
        }
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
    fn ordinary_comments_are_not_directives() {
        let sql = "-- ferry is great\n-- ferryman:x\nSELECT 1;";
        assert_eq!(parse(sql).unwrap().segments, vec![Segment::Plain(sql)]);
    }
}
