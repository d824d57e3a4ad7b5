use score_sde::book::experiment::guidance::{self, GuidanceConfig};
use score_sde::book::experiment::guidance_network::{self, NetworkConfig};
#[test]
fn probe() {
    let em = guidance::run(&GuidanceConfig::book()).unwrap();
    let t0 = std::time::Instant::now();
    let r = guidance_network::run(&NetworkConfig::book(), &em).unwrap();
    eprintln!("total {:?} train {:.2}s loss {:.4}", t0.elapsed(), r.train_seconds, r.final_loss);
    eprintln!("w1 cond {:.4} exact {:.4} uncond {:.4}", r.w1_conditional, r.w1_conditional_exact, r.w1_unconditional);
    for (row, e) in r.rows.iter().zip(&em.rows) {
        eprintln!("w={} w1_exact_guided {:.4} w1_tilted {:.4} (exact {:.4}) mean {:.4} (exact {:.4}) upper {:.4} (exact {:.4})", row.w, row.w1_exact_guided, row.w1_tilted, row.w1_tilted_exact, row.mean, e.mean_guided, row.upper, e.upper_guided);
    }
}
