//! `digits::step_seconds`: the fused trainers of several configurations, timed step by step
//! as they take turns.
use score_sde::digits::{step_seconds, Digits, DigitsTrainConfig, Precision};
use score_sde::nn::Activation;
use score_sde::sde::Vp;

fn small(hidden: Vec<usize>, precision: Precision) -> DigitsTrainConfig {
    DigitsTrainConfig {
        hidden,
        frequencies: 2,
        batch: 32,
        threads: 1,
        precision,
        ..DigitsTrainConfig::book()
    }
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One list per configuration, in their order, of `rounds * block` positive step times; a
/// network with about 300 times the multiply-adds of another takes longer per step (median),
/// in either order and either precision, so each time belongs to its own trainer. The factor
/// leaves room for any noise of a shared host.
#[test]
fn each_trainer_gets_its_own_step_times() {
    let d = Digits::book().unwrap();
    let (big, tiny) = (vec![512, 512], vec![8]);
    let configs = [
        small(big.clone(), Precision::F64),
        small(tiny.clone(), Precision::F32),
        small(tiny, Precision::F64),
        DigitsTrainConfig {
            activation: Activation::Silu,
            ..small(big, Precision::F32)
        },
    ];
    let s = step_seconds(d.train.view(), &Vp::song(), &configs, 3, 4).unwrap();
    assert_eq!(s.len(), 4);
    for v in &s {
        assert_eq!(v.len(), 12);
        assert!(v.iter().all(|&t| t > 0.0 && t.is_finite()), "{v:?}");
    }
    let m: Vec<f64> = s.iter().map(|v| median(v)).collect();
    assert!(m[0] > m[1] && m[0] > m[2], "{m:?}");
    assert!(m[3] > m[1] && m[3] > m[2], "{m:?}");
}

/// No configuration, no round, an empty block, a step count beyond `2^24` and what
/// `train_digits` refuses (here no minibatch, and a non-finite training image) are typed
/// errors.
#[test]
fn bad_input_is_a_typed_error() {
    let d = Digits::book().unwrap();
    let vp = Vp::song();
    let ok = [small(vec![8], Precision::F32)];
    let x = d.train.view();
    for (configs, rounds, block) in [
        (&[][..], 1, 1),
        (&ok[..], 0, 1),
        (&ok[..], 1, 0),
        (&ok[..], 1 << 12, (1 << 12) + 1),
        (&ok[..], usize::MAX, 2),
    ] {
        let e = step_seconds(x, &vp, configs, rounds, block).unwrap_err();
        assert!(e.to_string().contains("step timing"), "{e}");
    }
    let no_batch = [DigitsTrainConfig {
        batch: 0,
        ..ok[0].clone()
    }];
    assert!(step_seconds(x, &vp, &no_batch, 1, 1).is_err());
    let mut bad = d.train.clone();
    bad[[3, 5]] = f64::NAN;
    assert!(step_seconds(bad.view(), &vp, &ok, 1, 1).is_err());
}
