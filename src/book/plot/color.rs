//! Colours: the categorical palette handed out to layers and the viridis map of heat maps.
use plotters::style::RGBColor;

/// Fixed colours: a tab10-like categorical palette assigned to layers in order, plus the
/// colours of reference lines and of non-finite heatmap cells.
pub mod palette {
    use super::RGBColor;

    pub const BLUE: RGBColor = RGBColor(31, 119, 180);
    pub const ORANGE: RGBColor = RGBColor(255, 127, 14);
    pub const GREEN: RGBColor = RGBColor(44, 160, 44);
    pub const RED: RGBColor = RGBColor(214, 39, 40);
    pub const PURPLE: RGBColor = RGBColor(148, 103, 189);
    pub const BROWN: RGBColor = RGBColor(140, 86, 75);
    pub const PINK: RGBColor = RGBColor(227, 119, 194);
    pub const GREY: RGBColor = RGBColor(127, 127, 127);
    pub const OLIVE: RGBColor = RGBColor(188, 189, 34);
    pub const CYAN: RGBColor = RGBColor(23, 190, 207);
    /// Layer colours in the order they are handed out.
    pub const CATEGORICAL: [RGBColor; 10] = [
        BLUE, ORANGE, GREEN, RED, PURPLE, BROWN, PINK, GREY, OLIVE, CYAN,
    ];
    /// Default colour of reference lines ([`Chart::hline`](crate::book::plot::Chart::hline),
    /// [`Chart::vline`](crate::book::plot::Chart::vline)).
    pub const REFERENCE: RGBColor = RGBColor(64, 64, 64);
    /// Colour of NaN / infinite heatmap cells.
    pub const MISSING: RGBColor = RGBColor(190, 190, 190);
}

/// Viridis-like anchors at `t = 0, 1/8, ..., 1` (matplotlib's viridis sampled at 9 points).
const VIRIDIS: [(u8, u8, u8); 9] = [
    (68, 1, 84),
    (72, 40, 120),
    (62, 73, 137),
    (49, 104, 142),
    (38, 130, 142),
    (31, 158, 137),
    (53, 183, 121),
    (109, 205, 89),
    (253, 231, 37),
];

/// Perceptual colour for `t` in `[0, 1]` (clamped), linearly interpolated between viridis
/// anchors; NaN gives [`palette::MISSING`].
pub fn viridis(t: f64) -> RGBColor {
    if t.is_nan() {
        return palette::MISSING;
    }
    let s = t.clamp(0.0, 1.0) * (VIRIDIS.len() - 1) as f64;
    let i = (s.floor() as usize).min(VIRIDIS.len() - 2);
    let f = s - i as f64;
    let (a, b) = (VIRIDIS[i], VIRIDIS[i + 1]);
    let mix = |p: u8, q: u8| (p as f64 + f * (q as f64 - p as f64)).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}
