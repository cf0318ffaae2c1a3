//! The mappings as an SVG diagram: the left system's tables in a column on the left, the right
//! system's on the right, one row per table mapping in the order they sync, an arrow between the
//! two tables showing which way records flow, and curves on the far left from each table
//! mapping to those it waits for. The layout is computed, not left to a browser: text is wrapped
//! by character counts for fixed font sizes, so the same report always gives the same bytes.

use std::fmt::Write as _;

use super::escape::html as esc;
use super::{Report, SideView, TableView};
use crate::plan::{Flow, Side};

/// Width of the whole drawing.
pub const WIDTH: u32 = 1164;
const BADGE_X: u32 = 96;
const BADGE_R: u32 = 13;
const LEFT_X: u32 = 124;
const BOX_W: u32 = 300;
const RIGHT_X: u32 = WIDTH - 20 - BOX_W;
const MID_L: u32 = LEFT_X + BOX_W;
const MID_R: u32 = RIGHT_X;
const HEADER_H: u32 = 64;
const ROW_GAP: u32 = 22;
const PAD: u32 = 12;
/// Line heights of the text styles.
const TITLE_LH: u32 = 20;
const LINE_LH: u32 = 16;
/// Characters per line, from the widths the styles below give: 12 px monospace is 7.2 px a
/// character; bold 15 px sans-serif is taken as 9 px, wide enough for capitals.
const BOX_MONO: usize = ((BOX_W - 2 * PAD) as f32 / 7.2) as usize;
const BOX_TITLE: usize = ((BOX_W - 2 * PAD) / 9) as usize;
const MID_MONO: usize = ((MID_R - MID_L - 2 * PAD) as f32 / 7.2) as usize;
const MID_TITLE: usize = ((MID_R - MID_L - 2 * PAD) / 9) as usize;

/// Ends each element's line: the drawing reads (and diffs) one shape or text per line.
const NL: char = '\n';

const STYLE: &str = "
text{white-space:pre}
.d-col{fill:#f6f8fb;stroke:#d5dce6}
.d-sys{font:600 18px system-ui,sans-serif;fill:#1f2937}
.d-kind{font:13px system-ui,sans-serif;fill:#6b7280}
.d-box-l{fill:#e8f1fc;stroke:#2f6db3;stroke-width:1.5}
.d-box-r{fill:#e9f7ee;stroke:#2e8b57;stroke-width:1.5}
.d-table{font:600 15px system-ui,sans-serif;fill:#111827}
.d-name{font:600 15px system-ui,sans-serif;fill:#111827}
.d-note{font:11px system-ui,sans-serif;fill:#6b7280}
.d-mono{font:12px ui-monospace,Menlo,Consolas,monospace;fill:#1f2937}
.d-after{font:italic 12px system-ui,sans-serif;fill:#4b5563}
.d-badge{fill:#1f2937}
.d-num{font:600 13px system-ui,sans-serif;fill:#fff}
.flow{stroke:#1f2937;stroke-width:2.5;fill:none}
.dep{stroke:#9ca3af;stroke-width:1.5;fill:none}
";

/// One positioned line of text.
struct Text {
    x: u32,
    y: u32,
    class: &'static str,
    anchor: &'static str,
    text: String,
}

/// The diagram of a report, as an `<svg>` element.
pub fn svg(report: &Report) -> String {
    let mut texts: Vec<Text> = Vec::new();
    let (shapes, badges, y) = rows(report, &mut texts);
    let deps = dependency_curves(report, &badges);
    let height = y + 10;
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" class="diagram" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="Diagram of the table mappings"><style>{STYLE}</style><defs><marker id="d-head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" fill="#1f2937"/></marker><marker id="d-dep" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0 0 L10 5 L0 10 z" fill="#9ca3af"/></marker></defs>{NL}"##
    );
    header(report, height, &mut out);
    out.push_str(&deps);
    out.push_str(&shapes);
    write_badges(report, &badges, &mut out);
    for t in &texts {
        let _ = write!(
            out,
            r#"<text class="{}" x="{}" y="{}" text-anchor="{}">{}</text>{NL}"#,
            t.class,
            t.x,
            t.y,
            t.anchor,
            esc(&t.text)
        );
    }
    out.push_str("</svg>");
    out
}

/// The boxes and flow arrow of each table mapping, top to bottom: the shapes, where each
/// mapping's badge goes, and the height used.
fn rows(report: &Report, texts: &mut Vec<Text>) -> (String, Vec<(String, u32)>, u32) {
    let mut shapes = String::new();
    let mut badges: Vec<(String, u32)> = Vec::new();
    let mut y = HEADER_H + 10;
    for t in &report.tables {
        let row = row(t, y, texts);
        let _ = write!(
            shapes,
            r#"<rect class="d-box-l" x="{LEFT_X}" y="{y}" width="{BOX_W}" height="{h}" rx="6"/><rect class="d-box-r" x="{RIGHT_X}" y="{y}" width="{BOX_W}" height="{h}" rx="6"/>{NL}"#,
            h = row.height
        );
        let markers = match t.flow {
            Flow::LeftToRight => r#" marker-end="url(#d-head)""#,
            Flow::RightToLeft => r#" marker-start="url(#d-head)""#,
            Flow::Both => r#" marker-start="url(#d-head)" marker-end="url(#d-head)""#,
        };
        let _ = write!(
            shapes,
            r#"<path class="flow" data-mapping="{name}" data-flow="{flow}" d="M {x1} {ay} H {x2}"{markers}/>{NL}"#,
            name = esc(&t.name),
            flow = super::arrow(t.flow),
            x1 = MID_L + 4,
            x2 = MID_R - 4,
            ay = row.arrow_y,
        );
        badges.push((t.name.clone(), row.arrow_y));
        y += row.height + ROW_GAP;
    }
    (shapes, badges, y)
}

/// Curves from each table mapping to the ones it waits for, which are drawn above it. The
/// ends of the curves meeting at one badge are spread a few pixels apart, so that each
/// arrowhead stays visible.
fn dependency_curves(report: &Report, badges: &[(String, u32)]) -> String {
    let mut deps = String::new();
    let edges: Vec<(usize, usize)> = report
        .tables
        .iter()
        .enumerate()
        .flat_map(|(i, t)| {
            t.depends_on
                .iter()
                .filter_map(|d| badges.iter().position(|(n, _)| n == d))
                .map(move |j| (j, i))
        })
        .collect();
    let spread = |badge: usize, nth: usize, of: usize| -> u32 {
        let y = badges.get(badge).map_or(0, |b| b.1);
        (y + 4 * nth as u32 + 2).saturating_sub(2 * of as u32)
    };
    for (k, &(j, i)) in edges.iter().enumerate() {
        let out_of_j: Vec<usize> = (0..edges.len()).filter(|&e| edges[e].0 == j).collect();
        let into_i: Vec<usize> = (0..edges.len()).filter(|&e| edges[e].1 == i).collect();
        let nth = |list: &[usize]| list.iter().position(|&e| e == k).unwrap_or(0);
        let yj = spread(j, nth(&out_of_j), out_of_j.len());
        let yi = spread(i, nth(&into_i), into_i.len());
        let span = i.abs_diff(j).min(5) as u32;
        let x = BADGE_X - BADGE_R;
        let cx = x.saturating_sub(8 + 12 * span);
        let name = |n: usize| report.tables.get(n).map_or("", |t| t.name.as_str());
        let _ = write!(
            deps,
            r#"<path class="dep" data-from="{from}" data-to="{to}" d="M {x} {yj} C {cx} {yj} {cx} {yi} {x} {yi}" marker-end="url(#d-dep)"/>{NL}"#,
            from = esc(name(j)),
            to = esc(name(i)),
        );
    }
    deps
}

/// The numbered circle of each table mapping, at its flow arrow.
fn write_badges(report: &Report, badges: &[(String, u32)], out: &mut String) {
    for (name, ay) in badges {
        let order = report
            .tables
            .iter()
            .find(|t| &t.name == name)
            .map_or(0, |t| t.order);
        let _ = write!(
            out,
            r#"<circle class="d-badge" cx="{BADGE_X}" cy="{ay}" r="{BADGE_R}"/><text class="d-num" x="{BADGE_X}" y="{ty}" text-anchor="middle">{order}</text>{NL}"#,
            ty = ay + 5
        );
    }
}

/// The column backgrounds and the system names above them.
fn header(report: &Report, height: u32, out: &mut String) {
    for (side, x) in [(Side::Left, LEFT_X), (Side::Right, RIGHT_X)] {
        let names: Vec<String> = report
            .systems
            .iter()
            .filter(|s| s.side == side)
            .map(|s| s.kind.clone())
            .collect();
        let aliases: Vec<String> = report
            .systems
            .iter()
            .filter(|s| s.side == side)
            .map(|s| format!("alias {}", s.alias))
            .collect();
        let mid = x + BOX_W / 2;
        let _ = write!(
            out,
            r#"<rect class="d-col" x="{cx}" y="4" width="{cw}" height="{ch}" rx="10"/><text class="d-sys" x="{mid}" y="30" text-anchor="middle">{name}</text><text class="d-kind" x="{mid}" y="50" text-anchor="middle">{alias}</text>{NL}"#,
            cx = x - 10,
            cw = BOX_W + 20,
            ch = height - 8,
            name = esc(&names.join(" · ")),
            alias = esc(&aliases.join(" · ")),
        );
    }
}

/// Where a row's parts went.
struct Row {
    height: u32,
    arrow_y: u32,
}

/// Lays out one table mapping's row starting at `y`, adding its text.
fn row(t: &TableView, y: u32, texts: &mut Vec<Text>) -> Row {
    let left = side_lines(&t.left);
    let right = side_lines(&t.right);
    let title = wrap(&t.name, MID_TITLE);
    let arrow_y = y + PAD + title.len() as u32 * TITLE_LH + 8;
    let mut below: Vec<(&'static str, String)> = Vec::new();
    for l in &t.lookups {
        below.extend(wrap(l, MID_MONO).into_iter().map(|s| ("d-mono", s)));
    }
    if !t.depends_on.is_empty() {
        let after = format!("after {}", t.depends_on.join(", "));
        below.extend(wrap(&after, MID_MONO).into_iter().map(|s| ("d-after", s)));
    }
    let mid_h = arrow_y - y + 10 + below.len() as u32 * LINE_LH + PAD;
    let height = [
        block_height(&left),
        block_height(&right),
        mid_h,
        arrow_y - y + 2 * PAD,
    ]
    .into_iter()
    .max()
    .unwrap_or(0);
    place(&left, LEFT_X + PAD, y, texts);
    place(&right, RIGHT_X + PAD, y, texts);
    let mid = (MID_L + MID_R) / 2;
    for (i, line) in title.into_iter().enumerate() {
        texts.push(Text {
            x: mid,
            y: y + PAD + 14 + i as u32 * TITLE_LH,
            class: "d-name",
            anchor: "middle",
            text: line,
        });
    }
    for (i, (class, line)) in below.into_iter().enumerate() {
        texts.push(Text {
            x: mid,
            y: arrow_y + 22 + i as u32 * LINE_LH,
            class,
            anchor: "middle",
            text: line,
        });
    }
    Row { height, arrow_y }
}

/// The lines of a table box: its name, its filter, the other mappings sharing it.
fn side_lines(s: &SideView) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = wrap(&s.table, BOX_TITLE)
        .into_iter()
        .map(|l| ("d-table", l))
        .collect();
    match &s.filter {
        Some(f) => {
            out.push(("d-note", "only rows where".into()));
            out.extend(wrap(&f.words, BOX_MONO).into_iter().map(|l| ("d-mono", l)));
        }
        None => out.push(("d-note", "all rows".into())),
    }
    if !s.shared_with.is_empty() {
        let text = format!("also used by {}", s.shared_with.join(", "));
        out.extend(
            wrap(&text, BOX_MONO + 8)
                .into_iter()
                .map(|l| ("d-after", l)),
        );
    }
    out
}

fn line_height(class: &str) -> u32 {
    if class == "d-table" {
        TITLE_LH
    } else {
        LINE_LH
    }
}

fn block_height(lines: &[(&'static str, String)]) -> u32 {
    2 * PAD + 4 + lines.iter().map(|(c, _)| line_height(c)).sum::<u32>()
}

fn place(lines: &[(&'static str, String)], x: u32, y: u32, texts: &mut Vec<Text>) {
    let mut baseline = y + PAD;
    for (class, line) in lines {
        baseline += line_height(class);
        texts.push(Text {
            x,
            y: baseline - 4,
            class,
            anchor: "start",
            text: line.clone(),
        });
    }
}

/// Text broken into lines of at most `width` characters, at spaces where it can be and inside
/// a word only when the word alone is longer than a line.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let mut word: Vec<char> = word.chars().collect();
        let len = line.chars().count();
        if len > 0 && len + 1 + word.len() <= width {
            line.push(' ');
            line.extend(&word);
            continue;
        }
        if len > 0 {
            lines.push(std::mem::take(&mut line));
        }
        while word.len() > width {
            let rest = word.split_off(width);
            lines.push(word.into_iter().collect());
            word = rest;
        }
        line.extend(&word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wrapping_breaks_at_spaces_and_splits_only_long_words() {
        assert_eq!(wrap("a bb ccc dddd", 6), ["a bb", "ccc", "dddd"]);
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 4), [""]);
        assert_eq!(wrap("x abcdefgh", 4), ["x", "abcd", "efgh"]);
    }
}
