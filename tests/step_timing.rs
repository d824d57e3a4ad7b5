//! `digits::time_steps`: the fused trainers of several configurations, timed step by step
//! as they take turns.
use score_sde::digits::{time_steps, train_digits, Digits, DigitsTrainConfig, Precision};
use score_sde::nn::Activation;
use score_sde::sde::Vp;

fn small(precision: Precision, activation: Activation, threads: usize) -> DigitsTrainConfig {
    DigitsTrainConfig {
        hidden: vec![16, 16],
        frequencies: 2,
        batch: 16,
        threads,
        precision,
        activation,
        ..DigitsTrainConfig::book()
    }
}

/// Each trainer, taking turns with the others in blocks of 40 steps, records the losses that
/// `train_digits` records (every 100th step, bit for bit) for its own configuration: each
/// is set up from its own seed, precision, activation and thread count, and each list
/// belongs to its own trainer. Every step has a positive, finite time.
#[test]
fn each_trainer_steps_as_train_digits_does() {
    let d = Digits::book().unwrap();
    let vp = Vp::song();
    let configs = [
        small(Precision::F64, Activation::Relu, 1),
        small(Precision::F32, Activation::Relu, 2),
        DigitsTrainConfig {
            seed: 8,
            ..small(Precision::F32, Activation::Silu, 1)
        },
    ];
    let (rounds, block) = (3, 40);
    let times = time_steps(d.train.view(), &vp, &configs, rounds, block).unwrap();
    assert_eq!(times.len(), configs.len());
    for (t, config) in times.iter().zip(&configs) {
        assert_eq!(t.seconds.len(), rounds * block);
        assert_eq!(t.losses.len(), rounds * block);
        assert!(t.seconds.iter().all(|&s| s > 0.0 && s.is_finite()));
        let trained = train_digits(
            d.train.view(),
            &vp,
            &DigitsTrainConfig {
                steps: rounds * block,
                ..config.clone()
            },
            None,
        )
        .unwrap();
        assert_eq!(trained.losses, [t.losses[0], t.losses[100]]);
    }
    // The three trainers' losses differ from each other from the first step.
    assert!(times[0].losses[0] != times[1].losses[0]);
    assert!(times[1].losses[0] != times[2].losses[0]);
}

/// No configuration, no round, an empty block, a step count beyond `2^24` and what
/// `train_digits` refuses (here no minibatch, and a non-finite training image) are typed
/// errors.
#[test]
fn bad_input_is_a_typed_error() {
    let d = Digits::book().unwrap();
    let vp = Vp::song();
    let ok = [small(Precision::F32, Activation::Relu, 1)];
    let x = d.train.view();
    for (configs, rounds, block) in [
        (&[][..], 1, 1),
        (&ok[..], 0, 1),
        (&ok[..], 1, 0),
        (&ok[..], 1 << 12, (1 << 12) + 1),
        (&ok[..], usize::MAX, 2),
    ] {
        let e = time_steps(x, &vp, configs, rounds, block).unwrap_err();
        assert!(e.to_string().contains("step timing"), "{e}");
    }
    let no_batch = [DigitsTrainConfig {
        batch: 0,
        ..ok[0].clone()
    }];
    assert!(time_steps(x, &vp, &no_batch, 1, 1).is_err());
    let mut bad = d.train.clone();
    bad[[3, 5]] = f64::NAN;
    assert!(time_steps(bad.view(), &vp, &ok, 1, 1).is_err());
}
