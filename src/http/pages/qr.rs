//! QR codes of TOTP enrollments, drawn on the server as one SVG path (no script, no
//! image request). The `qrcode` crate encodes and places the modules; the mask is chosen
//! here, by the penalty rules of ISO/IEC 18004 §7.8.3, because the crate's own choice
//! boxes a closure for every module it looks at and took 1.4 ms a code — longer than the
//! whole page may take. Any of the eight masks makes a valid code; the penalty only picks
//! the one scanners read most easily.

use std::fmt::Write;

use qrcode::EcLevel;
use qrcode::canvas::{Canvas, MaskPattern, Module};
use qrcode::types::Color;

const MASKS: [MaskPattern; 8] = [
    MaskPattern::Checkerboard,
    MaskPattern::HorizontalLines,
    MaskPattern::VerticalLines,
    MaskPattern::DiagonalLines,
    MaskPattern::LargeCheckerboard,
    MaskPattern::Fields,
    MaskPattern::Diamonds,
    MaskPattern::Meadow,
];

/// Light modules around the code, as the standard asks (§6.3.8).
const QUIET_ZONE: usize = 4;

/// The side of the drawing, in CSS pixels.
const SIZE: usize = 200;

/// The QR code of `text` (error correction M) as an `<svg>` element, or `None` when
/// `text` is too long for any QR code.
pub fn svg(text: &str) -> Option<String> {
    let ec_level = EcLevel::M;
    let bits = qrcode::bits::encode_auto(text.as_bytes(), ec_level).ok()?;
    let version = bits.version();
    let (data, ec) = qrcode::ec::construct_codewords(&bits.into_bytes(), version, ec_level).ok()?;
    let mut canvas = Canvas::new(version, ec_level);
    canvas.draw_all_functional_patterns();
    canvas.draw_data(&data, &ec);
    let width = usize::try_from(version.width()).ok()?;
    // Each mask judged on rows and columns of bits (the format information, which the
    // mask also decides, left light: 30 modules of thousands); the best one is applied by
    // the crate. Codes wider than 128 modules (far beyond any enrollment's URI) take the
    // first mask.
    let side = version.width();
    let mut dark = Lines::new(width);
    let mut maskable = Lines::new(width);
    for y in 0..side {
        for x in 0..side {
            let module = canvas.get(x, y);
            if module.is_dark() {
                dark.set(x as usize, y as usize);
            }
            if !matches!(module, Module::Masked(_)) {
                maskable.set(x as usize, y as usize);
            }
        }
    }
    let best = if width > 128 {
        MaskPattern::Checkerboard
    } else {
        let mut masked = Lines::new(width);
        *MASKS.iter().min_by_key(|mask| {
            let pattern = Lines::of_mask(**mask, width);
            for (i, line) in masked.all_mut().enumerate() {
                *line = dark.get(i) ^ (maskable.get(i) & pattern.get(i));
            }
            penalty(&masked.rows, &masked.columns, width)
        })?
    };
    canvas.apply_mask(best);
    let modules: Vec<bool> = canvas
        .into_colors()
        .into_iter()
        .map(|c| c == Color::Dark)
        .collect();
    Some(draw(&modules, width))
}

/// A square of modules as bits, both ways: bit `x` of `rows[y]` and bit `y` of `columns[x]`
/// are the module at column `x`, row `y` (at most 128 a side).
struct Lines {
    rows: Vec<u128>,
    columns: Vec<u128>,
}

impl Lines {
    fn new(width: usize) -> Self {
        Self {
            rows: vec![0; width],
            columns: vec![0; width],
        }
    }

    fn set(&mut self, x: usize, y: usize) {
        if let (Some(row), Some(column)) = (self.rows.get_mut(y), self.columns.get_mut(x)) {
            *row |= 1u128.checked_shl(x as u32).unwrap_or(0);
            *column |= 1u128.checked_shl(y as u32).unwrap_or(0);
        }
    }

    /// The rows, then the columns.
    fn get(&self, i: usize) -> u128 {
        let width = self.rows.len();
        if i < width {
            self.rows[i]
        } else {
            self.columns[i - width]
        }
    }

    fn all_mut(&mut self) -> impl Iterator<Item = &mut u128> {
        self.rows.iter_mut().chain(self.columns.iter_mut())
    }

    /// The modules `mask` inverts. Every mask repeats every 12 modules each way, and is
    /// symmetric in x and y but for the large checkerboard; both are computed once per
    /// phase.
    fn of_mask(mask: MaskPattern, width: usize) -> Self {
        let inverts = inverts(mask);
        let line = |fixed: usize, along_x: bool| {
            (0..width.min(128))
                .filter(|k| {
                    let (x, y) = if along_x { (*k, fixed) } else { (fixed, *k) };
                    inverts(x as i16, y as i16)
                })
                .fold(0u128, |bits, k| bits | 1 << k)
        };
        let row_phases: Vec<u128> = (0..12).map(|y| line(y, true)).collect();
        let column_phases: Vec<u128> = (0..12).map(|x| line(x, false)).collect();
        Self {
            rows: (0..width).map(|y| row_phases[y % 12]).collect(),
            columns: (0..width).map(|x| column_phases[x % 12]).collect(),
        }
    }
}

/// Whether `mask` inverts the module at column `x`, row `y` (ISO/IEC 18004 table 10).
fn inverts(mask: MaskPattern) -> fn(i16, i16) -> bool {
    match mask {
        MaskPattern::Checkerboard => |x, y| (x + y) % 2 == 0,
        MaskPattern::HorizontalLines => |_, y| y % 2 == 0,
        MaskPattern::VerticalLines => |x, _| x % 3 == 0,
        MaskPattern::DiagonalLines => |x, y| (x + y) % 3 == 0,
        MaskPattern::LargeCheckerboard => |x, y| ((y / 2) + (x / 3)) % 2 == 0,
        MaskPattern::Fields => |x, y| (x * y) % 2 + (x * y) % 3 == 0,
        MaskPattern::Diamonds => |x, y| ((x * y) % 2 + (x * y) % 3) % 2 == 0,
        MaskPattern::Meadow => |x, y| ((x + y) % 2 + (x * y) % 3) % 2 == 0,
    }
}

/// One path of horizontal runs of dark modules, in module units; the quiet zone is the
/// white background around them.
fn draw(dark: &[bool], width: usize) -> String {
    let side = width + 2 * QUIET_ZONE;
    let mut svg = String::with_capacity(16 * width * width / 2);
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{SIZE}" height="{SIZE}" viewBox="0 0 {side} {side}" shape-rendering="crispEdges" role="img"><rect width="{side}" height="{side}" fill="#fff"/><path fill="#000" d=""##
    );
    for (y, row) in dark.chunks(width).enumerate() {
        let mut x = 0;
        while x < width {
            if !row[x] {
                x += 1;
                continue;
            }
            let start = x;
            while x < width && row[x] {
                x += 1;
            }
            let run = x - start;
            svg.push('M');
            push_number(&mut svg, start + QUIET_ZONE);
            svg.push(' ');
            push_number(&mut svg, y + QUIET_ZONE);
            svg.push('h');
            push_number(&mut svg, run);
            svg.push_str("v1h-");
            push_number(&mut svg, run);
            svg.push('z');
        }
    }
    svg.push_str(r#""/></svg>"#);
    svg
}

/// Appends `n` in decimal (`write!` costs a quarter of the drawing here).
fn push_number(svg: &mut String, n: usize) {
    if n >= 10 {
        push_number(svg, n / 10);
    }
    svg.push(char::from(b'0' + (n % 10) as u8));
}

/// The penalty of a masked code, given as rows and columns of bits (as in [`Lines`];
/// `width` ≤ 128), by ISO/IEC 18004 §7.8.3.1: runs of five or more modules of one colour,
/// 2×2 blocks of one colour, finder-like 1:1:3:1:1 patterns beside four light modules, and
/// an imbalance of dark and light. The lowest wins.
fn penalty(rows: &[u128], columns: &[u128], width: usize) -> u32 {
    let mut score: u32 = rows
        .iter()
        .chain(columns)
        .map(|line| line_penalty(*line, width))
        .sum();
    let inner = ones(width - 1);
    for pair in rows.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let same = !(a ^ b) & !(a ^ (a >> 1)) & !(b ^ (b >> 1)) & inner;
        score += 3 * same.count_ones();
    }
    let dark: u32 = rows.iter().map(|r| r.count_ones()).sum();
    let percent = dark as usize * 100 / (width * width);
    score + 10 * (percent.abs_diff(50) / 5) as u32
}

/// The lowest `n` bits set.
fn ones(n: usize) -> u128 {
    1u128.checked_shl(n as u32).map_or(u128::MAX, |bit| bit - 1)
}

/// A row's or column's penalty: runs of five or more (3, and 1 for each module beyond
/// five), and the finder-like pattern — dark, light, three dark, light, dark — with four
/// light modules (or the edge) before or after it (40 each). Every position at once, bit
/// by bit.
fn line_penalty(line: u128, width: usize) -> u32 {
    let dark = line & ones(width);
    let light = !line & ones(width);
    // Bit j: modules j and j + 1 alike; then modules j to j + 4 alike. A run of n ≥ 5 has
    // n - 4 such windows and one start: (n - 4) + 2 = n - 2, as the standard counts it.
    let alike = !(dark ^ (dark >> 1)) & ones(width - 1);
    let five = alike & (alike >> 1) & (alike >> 2) & (alike >> 3);
    let starts = five & !(five << 1);
    let mut score = five.count_ones() + 2 * starts.count_ones();
    // Dark, light, dark, dark, dark, light, dark from bit j.
    let mut finders = dark
        & (light >> 1)
        & (dark >> 2)
        & (dark >> 3)
        & (dark >> 4)
        & (light >> 5)
        & (dark >> 6)
        & ones(width.saturating_sub(6));
    while finders != 0 {
        let j = finders.trailing_zeros() as usize;
        let before = (dark & ones(j)) >> j.saturating_sub(4);
        let after = (dark >> (j + 7)) & 0xF;
        if before == 0 || after == 0 {
            score += 40;
        }
        finders &= finders - 1;
    }
    score
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same modules the crate draws when it chooses the mask itself: the mask chosen
    /// here may differ, but encoding, placement and format information must not.
    #[test]
    fn the_code_decodes_to_the_crates_own_modules_under_the_same_mask() {
        let text = "otpauth://totp/id.example.com:ada%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=id.example.com";
        let theirs = qrcode::QrCode::with_error_correction_level(text, EcLevel::M).unwrap();
        let width = theirs.width();
        let theirs: Vec<bool> = theirs
            .to_colors()
            .into_iter()
            .map(|c| c == Color::Dark)
            .collect();
        let bits = qrcode::bits::encode_auto(text.as_bytes(), EcLevel::M).unwrap();
        let version = bits.version();
        let (data, ec) =
            qrcode::ec::construct_codewords(&bits.into_bytes(), version, EcLevel::M).unwrap();
        let mut canvas = Canvas::new(version, EcLevel::M);
        canvas.draw_all_functional_patterns();
        canvas.draw_data(&data, &ec);
        let found = MASKS.iter().any(|mask| {
            let mut masked = canvas.clone();
            masked.apply_mask(*mask);
            let ours: Vec<bool> = masked
                .into_colors()
                .into_iter()
                .map(|c| c == Color::Dark)
                .collect();
            ours == theirs
        });
        assert!(found, "the crate's code is one of ours");
        assert_eq!(width, usize::try_from(version.width()).unwrap());
    }

    /// Masking the booleans as `inverts` says gives the crate's own masking, but for the
    /// format information (which the crate draws with the mask).
    #[test]
    fn the_mask_functions_are_the_crates() {
        let bits =
            qrcode::bits::encode_auto(b"otpauth://totp/x:y?secret=JBSWY3DP", EcLevel::M).unwrap();
        let version = bits.version();
        let (data, ec) =
            qrcode::ec::construct_codewords(&bits.into_bytes(), version, EcLevel::M).unwrap();
        let mut canvas = Canvas::new(version, EcLevel::M);
        canvas.draw_all_functional_patterns();
        canvas.draw_data(&data, &ec);
        let side = version.width();
        for mask in MASKS {
            let mut masked = canvas.clone();
            masked.apply_mask(mask);
            for y in 0..side {
                for x in 0..side {
                    let before = canvas.get(x, y);
                    if matches!(before, Module::Unmasked(_)) {
                        let expected = before.is_dark() ^ inverts(mask)(x, y);
                        assert_eq!(masked.get(x, y).is_dark(), expected, "{mask:?} at {x},{y}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_drawing_is_one_path_of_the_dark_modules() {
        let text = "otpauth://totp/x:y?secret=JBSWY3DPEHPK3PXP&issuer=x";
        let svg = svg(text).unwrap();
        assert!(svg.starts_with("<svg "), "{svg}");
        assert_eq!(svg.matches("<path").count(), 1);
        let side = qrcode::QrCode::new(text).unwrap().width() + 2 * QUIET_ZONE;
        assert!(
            svg.contains(&format!(r#"viewBox="0 0 {side} {side}""#)),
            "with its quiet zone"
        );
        // The top-left finder pattern's first row: seven dark modules from (4, 4).
        assert!(svg.contains("M4 4h7v1h-7z"), "{svg}");
    }

    #[test]
    fn a_balanced_code_without_runs_or_blocks_has_no_penalty() {
        // A 6×6 checkerboard: no runs, no blocks, no finder patterns, half dark.
        let checkerboard: Vec<u128> = (0..6)
            .map(|y| if y % 2 == 0 { 0b010101 } else { 0b101010 })
            .collect();
        assert_eq!(penalty(&checkerboard, &checkerboard, 6), 0);
        // 6 rows and 6 columns of a run of 6 (4 each), 25 blocks (3 each), 100 % dark.
        assert_eq!(
            penalty(&[0b111111; 6], &[0b111111; 6], 6),
            12 * 4 + 25 * 3 + 10 * 10
        );
    }

    #[test]
    fn finder_like_patterns_beside_light_modules_cost_40() {
        // Eleven modules: four light, then dark, light, three dark, light, dark.
        let line = 0b1011101 << 4;
        assert_eq!(line_penalty(line, 11), 40);
        // Dark on both sides within four modules: no penalty, but runs count as runs.
        let boxed = 1 | 0b1011101 << 2 | 1 << 10;
        assert_eq!(line_penalty(boxed, 11), 0);
        // A run of seven light modules: 3 + 2.
        assert_eq!(line_penalty(0b1111 << 7, 11), 5);
    }
}
