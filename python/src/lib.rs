//! `ferry_migrate._ferry`: ferry's command line, run in process for Python. The Python part of
//! the package (`python/ferry_migrate/`) builds the argument lists and reads the JSON.

use pyo3::prelude::*;

/// run(args: list[str]) -> tuple[int, str, str]
///
/// Runs one `ferry` command line (`args[0]` is the program name) exactly as the `ferry`
/// binary would, and returns its exit code, its stdout and its stderr. The GIL is released
/// while ferry works, so other Python threads go on.
#[pyfunction]
fn run(py: Python<'_>, args: Vec<String>) -> (u8, String, String) {
    py.detach(move || ferry::cli::run_captured(args))
}

#[pymodule]
fn _ferry(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
