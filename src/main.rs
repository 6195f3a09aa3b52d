//! The `vastar` command: parse the arguments, run, report errors.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = vastar::config::protocol::hey_spellings(std::env::args_os());
    let cli = match vastar::cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => return vastar::cli::exit_on_parse_error(e),
    };
    match vastar::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vastar: {}", e.one_line());
            e.exit_code()
        }
    }
}
