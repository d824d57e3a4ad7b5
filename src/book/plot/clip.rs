//! Clipping to the visible box. plotters clamps each out-of-range point onto the edge of the
//! plotting area, which draws a line that leaves the box *along* the edge; here a line is cut
//! where it leaves the box instead, and off-box points are dropped.
use super::axis::Axis;

/// Liang–Barsky: the part of segment `p -> q` inside the box, as `(t0, t1, a, b)`.
#[allow(clippy::type_complexity)]
fn clip_segment(
    p: (f64, f64),
    q: (f64, f64),
    bx: (f64, f64, f64, f64),
) -> Option<(f64, f64, (f64, f64), (f64, f64))> {
    let (u0, u1, v0, v1) = bx;
    let (dx, dy) = (q.0 - p.0, q.1 - p.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (pk, qk) in [
        (-dx, p.0 - u0),
        (dx, u1 - p.0),
        (-dy, p.1 - v0),
        (dy, v1 - p.1),
    ] {
        if pk == 0.0 {
            if qk < 0.0 {
                return None;
            }
        } else {
            let r = qk / pk;
            if pk < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    if t0 > t1 {
        return None;
    }
    let at = |t: f64| (p.0 + t * dx, p.1 + t * dy);
    Some((t0, t1, at(t0), at(t1)))
}

/// Splits a polyline into the visible pieces (data coordinates), breaking at non-finite
/// points and where it leaves the box.
pub(super) fn clip_polyline(
    pts: impl IntoIterator<Item = (f64, f64)>,
    xa: &Axis,
    ya: &Axis,
) -> Vec<Vec<(f64, f64)>> {
    let bx = (xa.u_lo(), xa.u_hi(), ya.u_lo(), ya.u_hi());
    let inv = |(u, v): (f64, f64)| (xa.inv(u), ya.inv(v));
    let mut pieces = Vec::new();
    let mut cur: Vec<(f64, f64)> = Vec::new();
    let flush = |cur: &mut Vec<(f64, f64)>, pieces: &mut Vec<Vec<(f64, f64)>>| {
        if cur.len() >= 2 {
            pieces.push(std::mem::take(cur));
        } else {
            cur.clear();
        }
    };
    let mut prev: Option<(f64, f64)> = None;
    for (x, y) in pts {
        let q = xa.fwd(x).zip(ya.fwd(y));
        match (prev, q) {
            (Some(p), Some(q)) => match clip_segment(p, q, bx) {
                Some((t0, t1, a, b)) => {
                    if t0 > 0.0 || cur.is_empty() {
                        flush(&mut cur, &mut pieces);
                        cur.push(inv(a));
                    }
                    cur.push(inv(b));
                    if t1 < 1.0 {
                        flush(&mut cur, &mut pieces);
                    }
                }
                None => flush(&mut cur, &mut pieces),
            },
            (_, None) => flush(&mut cur, &mut pieces),
            (None, Some(_)) => {}
        }
        prev = q;
    }
    flush(&mut cur, &mut pieces);
    pieces
}

pub(super) fn inside(xa: &Axis, ya: &Axis, x: f64, y: f64) -> bool {
    let ok = |a: &Axis, v: f64| a.fwd(v).is_some_and(|u| u >= a.u_lo() && u <= a.u_hi());
    ok(xa, x) && ok(ya, y)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNIT: Axis = Axis {
        lo: 0.0,
        hi: 1.0,
        log: false,
    };

    #[test]
    fn segments_are_cut_at_the_box() {
        let bx = (0.0, 1.0, 0.0, 1.0);
        let inside = clip_segment((0.2, 0.2), (0.8, 0.6), bx).unwrap();
        assert_eq!(inside, (0.0, 1.0, (0.2, 0.2), (0.8, 0.6)));
        // Leaves through the right edge halfway along.
        let (t0, t1, a, b) = clip_segment((0.5, 0.5), (1.5, 0.5), bx).unwrap();
        assert_eq!((t0, t1, a, b), (0.0, 0.5, (0.5, 0.5), (1.0, 0.5)));
        // Crosses the whole box diagonally from outside.
        let (_, _, a, b) = clip_segment((-1.0, -1.0), (2.0, 2.0), bx).unwrap();
        assert_eq!((a, b), ((0.0, 0.0), (1.0, 1.0)));
        assert!(clip_segment((1.5, 0.0), (2.0, 1.0), bx).is_none());
        assert!(clip_segment((0.0, 2.0), (1.0, 2.0), bx).is_none());
    }

    #[test]
    fn a_spike_out_of_range_is_cut_not_flattened() {
        let pieces = clip_polyline([(0.0, 0.0), (0.5, 10.0), (1.0, 0.0)], &UNIT, &UNIT);
        // Each side of the spike up to where it leaves through the top edge (y = 1 at
        // x = 0.05 and x = 0.95), not clamped onto the edge in between.
        let close =
            |p: (f64, f64), q: (f64, f64)| (p.0 - q.0).abs() < 1e-12 && (p.1 - q.1).abs() < 1e-12;
        assert_eq!(pieces.len(), 2);
        assert!(close(pieces[0][0], (0.0, 0.0)) && close(pieces[0][1], (0.05, 1.0)));
        assert!(close(pieces[1][0], (0.95, 1.0)) && close(pieces[1][1], (1.0, 0.0)));
        assert_eq!(pieces.iter().map(Vec::len).sum::<usize>(), 4);
    }

    #[test]
    fn missing_points_break_the_line() {
        let nan = f64::NAN;
        let pts = [
            (0.1, 0.1),
            (0.2, 0.2),
            (0.3, nan),
            (0.4, 0.4),
            (0.5, 0.5),
            (0.6, 0.6),
        ];
        let pieces = clip_polyline(pts, &UNIT, &UNIT);
        assert_eq!(pieces.iter().map(Vec::len).collect::<Vec<_>>(), [2, 3]);
        // On a log axis non-positive values are missing too; a lone point draws nothing.
        let log = Axis {
            lo: 0.1,
            hi: 10.0,
            log: true,
        };
        let pieces = clip_polyline([(0.1, 1.0), (0.2, 0.0), (0.3, 2.0)], &UNIT, &log);
        assert!(pieces.is_empty());
        assert!(inside(&UNIT, &log, 0.5, 1.0));
        assert!(!inside(&UNIT, &log, 0.5, -1.0));
        assert!(!inside(&UNIT, &log, 1.5, 1.0));
    }
}
