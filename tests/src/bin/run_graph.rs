//! Runs one graph sent as bytes: reads a `Job` from standard input, writes
//! the encoded results to standard output. Tests use it as a stand-in for a
//! cluster worker: a separate process that knows the program's registered
//! ops and functions and nothing else about the graph.

use std::io::{Read, Write};

fn main() {
    let mut job = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut job) {
        eprintln!("run_graph: reading standard input: {e}");
        std::process::exit(2);
    }
    match oxidask_tests::run_job(&job) {
        Ok(values) => {
            let bytes = postcard::to_stdvec(&values).expect("encoding byte vectors");
            std::io::stdout()
                .write_all(&bytes)
                .expect("writing standard output");
        }
        Err(e) => {
            eprintln!("run_graph: {e}");
            std::process::exit(1);
        }
    }
}
