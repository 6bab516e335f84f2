//! The generator against WORKLOAD.md: byte-identical to the reference
//! `gen.py` for a small N, the sha256 check figure for N = 2,000,000, and
//! the floor's output against the check figures of Q1–Q3.

use oort_bench::floor;
use oort_bench::workload::{self, DEFAULT_EVENTS, SHA256_2M, Workload};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::process::Command;

/// `gen.py` in `shared/bench/` beside the repository (or `$OORT_GEN_PY`).
fn gen_py() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("OORT_GEN_PY") {
        return Some(PathBuf::from(p));
    }
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.ancestors().map(|a| a.join("shared/bench/gen.py")).find(|p| p.is_file())
}

#[test]
fn byte_identical_to_gen_py() {
    let Some(script) = gen_py() else {
        println!("skipped: shared/bench/gen.py not found (set OORT_GEN_PY)");
        return;
    };
    let n = 20_000u64;
    let out = match Command::new("python3").arg(&script).arg("-").arg(n.to_string()).output() {
        Ok(o) if o.status.success() => o.stdout,
        Ok(o) => panic!("gen.py failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => {
            println!("skipped: python3 not runnable: {e}");
            return;
        }
    };
    let ours = workload::generate(Workload::new(), n);
    assert_eq!(ours.len(), out.len());
    assert!(ours == out, "the Rust generator differs from gen.py");
    let mut streamed = Vec::new();
    workload::write_to(&mut streamed, n).unwrap();
    assert_eq!(streamed, out);
}

#[test]
fn sha256_check_figure_of_workload_md() {
    let data = workload::generate(Workload::new(), DEFAULT_EVENTS);
    assert_eq!(data.len(), 145_401_502);
    let digest = Sha256::digest(&data);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, SHA256_2M);
}

/// The floor's Q1–Q3 output on 2 M events against WORKLOAD.md (≈10 s in a
/// release build, much longer in debug): `cargo test --release -p oort-bench -- --ignored`.
/// `oort-bench all` checks the engine's output against the same figures on every run.
#[test]
#[ignore]
fn query_check_figures_of_workload_md() {
    let data = workload::generate(Workload::new(), DEFAULT_EVENTS);
    let q1 = floor::q1(workload::lines(&data));
    assert_eq!(q1.checksum.rows, 998_887);
    let q2 = floor::q2(workload::lines(&data));
    assert_eq!((q2.checksum.rows, q2.checksum.sum_c, q2.checksum.sum_h), (199_993, 2_000_000, 18_080_848));
    let q3 = floor::q3(workload::lines(&data));
    assert_eq!((q3.checksum.rows, q3.checksum.sum_c), (400_978, 4_000_000));
}
