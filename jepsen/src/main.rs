//! `paddock-jepsen`: run one cell, re-check a stored history, or run a matrix.
//! Exit status: 0 valid (matrix: nothing failed that is not known), 1 invalid or
//! unknown, 2 usage, 3 the harness itself failed.
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use paddock_jepsen::checker::Validity;
use paddock_jepsen::matrix::{self, MatrixConfig, Verdict};
use paddock_jepsen::run::{self, Outcome, RunConfig};
use paddock_jepsen::{nemesis, workload};

#[derive(Parser)]
#[command(
    name = "paddock-jepsen",
    version,
    about = "Fault injection for Paddock: real members, real faults, checked histories"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs one cell: a workload under faults, then checks it.
    Run {
        /// register, set, fifo, sequential, watch, session, lock or election.
        #[arg(long)]
        workload: String,
        /// Faults, comma-separated: names (kill-leader, pause-one, partition-ring, ...),
        /// groups (kill, pause, partition, disk, all) or none.
        #[arg(long, default_value = "none")]
        nemesis: String,
        /// Members (3 or 5).
        #[arg(long, default_value_t = 3)]
        members: usize,
        /// Seconds of load (faults run during it).
        #[arg(long, default_value_t = 30)]
        time: u64,
        /// Total operations per second.
        #[arg(long, default_value_t = 400.0)]
        rate: f64,
        /// Client tasks.
        #[arg(long, default_value_t = 10)]
        concurrency: usize,
        /// Seeds the fault schedule and the clients' choices.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// The run directory.
        #[arg(long)]
        out: PathBuf,
        /// Lowest acceptable ok operations per second during faults.
        #[arg(long, default_value_t = 100.0)]
        floor: f64,
        /// The paddockd binary [default: next to this program, or $PADDOCKD].
        #[arg(long, env = "PADDOCKD")]
        paddockd: Option<PathBuf>,
        /// Failpoints for the members (`name=action;...`, needs a paddockd built with the
        /// `failpoints` feature).
        #[arg(long)]
        failpoints: Option<String>,
        /// Exit 0 only if this checker finds the run invalid, else 1 (for testing that a
        /// checker catches a planted bug).
        #[arg(long, value_name = "CHECKER")]
        expect_invalid: Option<String>,
    },
    /// Re-checks the history stored in DIR and rewrites its results and plots.
    Check {
        /// A run directory.
        dir: PathBuf,
    },
    /// Runs a list of cells.
    Matrix {
        /// The CI list (every workload and nemesis once, about ten minutes).
        #[arg(long, conflicts_with = "full")]
        quick: bool,
        /// Every workload against every nemesis group on 3 and 5 members (hours).
        #[arg(long)]
        full: bool,
        /// Where the cells' directories go.
        #[arg(long)]
        out: PathBuf,
        /// Seed of the first cell (cell i of the matrix runs with seed + i, also when
        /// `--only` picks it).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Run only cells whose name contains this.
        #[arg(long)]
        only: Option<String>,
        /// Repeat the list this many times (seeds keep counting up).
        #[arg(long, default_value_t = 1)]
        rounds: u64,
        /// Lowest acceptable ok operations per second during faults.
        #[arg(long, default_value_t = 100.0)]
        floor: f64,
        /// The paddockd binary [default: next to this program, or $PADDOCKD].
        #[arg(long, env = "PADDOCKD")]
        paddockd: Option<PathBuf>,
    },
}

fn find_paddockd(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p);
    }
    let me = std::env::current_exe().context("locating paddock-jepsen")?;
    let dir = me.parent().context("paddock-jepsen has no directory")?;
    for candidate in [dir.join("paddockd"), dir.join("../paddockd")] {
        if candidate.exists() {
            return Ok(candidate);
        }
    }
    anyhow::bail!(
        "paddockd not found next to {} (build it with `cargo build --release -p paddock-server`, or pass --paddockd)",
        me.display()
    )
}

fn report(o: &Outcome, dir: &std::path::Path) {
    println!(
        "{} / {} / {} members / seed {}: {:?}  (ok {} fail {} unknown {}, {} faults, {:.0} ok ops/s during faults)",
        o.workload,
        o.nemeses.join(","),
        o.members,
        o.seed,
        o.valid,
        o.ok,
        o.fail,
        o.info,
        o.faults,
        o.ops_per_s_during_faults
    );
    for c in &o.checkers {
        let counts: Vec<String> = c.counts.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!(
            "  {:<16} {:<8} {}",
            c.name,
            format!("{:?}", c.valid).to_lowercase(),
            counts.join(" ")
        );
        if let Some(ex) = &c.counterexample {
            println!("    first counterexample: {ex}");
        }
    }
    println!(
        "  details: {}/results.json, history.jsonl, latency.svg, rate.svg",
        dir.display()
    );
}

async fn main_async(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Run {
            workload,
            nemesis,
            members,
            time,
            rate,
            concurrency,
            seed,
            out,
            floor,
            paddockd,
            failpoints,
            expect_invalid,
        } => {
            if !workload::NAMES.contains(&workload.as_str()) {
                eprintln!(
                    "paddock-jepsen: unknown workload {workload:?}; known: {}",
                    workload::NAMES.join(", ")
                );
                return Ok(ExitCode::from(2));
            }
            let nemeses = match nemesis::parse(&nemesis) {
                Ok(n) => n,
                Err(e) => {
                    eprintln!("paddock-jepsen: {e}");
                    return Ok(ExitCode::from(2));
                }
            };
            if !(1..=7).contains(&members) || concurrency == 0 || rate < 0.0 {
                eprintln!(
                    "paddock-jepsen: --members must be 1 to 7, --concurrency > 0, --rate >= 0"
                );
                return Ok(ExitCode::from(2));
            }
            let env = failpoints
                .map(|f| vec![("FAILPOINTS".to_string(), f)])
                .unwrap_or_default();
            let o = run::run(RunConfig {
                workload,
                nemeses,
                members,
                time: Duration::from_secs(time),
                rate,
                concurrency,
                seed,
                out: out.clone(),
                paddockd: find_paddockd(paddockd)?,
                floor,
                env,
                progress: true,
            })
            .await?;
            report(&o, &out);
            let as_expected = match &expect_invalid {
                Some(name) => o
                    .checkers
                    .iter()
                    .any(|c| &c.name == name && c.valid == Validity::Invalid),
                None => o.valid == Validity::Valid,
            };
            Ok(ExitCode::from(u8::from(!as_expected)))
        }
        Command::Check { dir } => {
            let o = run::check_dir(&dir)?;
            report(&o, &dir);
            Ok(ExitCode::from(u8::from(o.valid != Validity::Valid)))
        }
        Command::Matrix {
            quick,
            full,
            out,
            seed,
            only,
            rounds,
            floor,
            paddockd,
        } => {
            let list = if full {
                matrix::full()
            } else if quick {
                matrix::quick()
            } else {
                eprintln!("paddock-jepsen: matrix needs --quick or --full");
                return Ok(ExitCode::from(2));
            };
            let list: Vec<_> = list
                .into_iter()
                .filter(|c| only.as_ref().is_none_or(|o| c.name().contains(o.as_str())))
                .collect();
            // Each round's cells keep their positions, shifted by a whole matrix.
            let len = if full {
                matrix::full().len()
            } else {
                matrix::quick().len()
            } as u64;
            let cells: Vec<_> = (0..rounds)
                .flat_map(|round| {
                    list.iter().cloned().map(move |mut c| {
                        c.index += round * len;
                        c
                    })
                })
                .collect();
            let rows = matrix::run_matrix(MatrixConfig {
                cells,
                out: out.clone(),
                paddockd: find_paddockd(paddockd)?,
                seed,
                floor,
                progress: false,
            })
            .await?;
            println!(
                "{}",
                std::fs::read_to_string(out.join("summary.md")).unwrap_or_default()
            );
            let failed: Vec<_> = rows
                .iter()
                .filter(|r| matches!(r.verdict, Verdict::Fail | Verdict::HarnessError))
                .collect();
            for r in &failed {
                println!(
                    "FAILED {} (seed {}): {}\n  repeat with: {}",
                    r.cell, r.seed, r.note, r.repeat
                );
            }
            Ok(ExitCode::from(u8::from(!failed.is_empty())))
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("paddock-jepsen: starting the runtime: {e}");
            return ExitCode::from(3);
        }
    };
    match rt.block_on(main_async(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("paddock-jepsen: {e:#}");
            ExitCode::from(3)
        }
    }
}
