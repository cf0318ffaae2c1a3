//! Tests of `syncmap report`: the page for the standard mappings with a state store holding a
//! few real runs (made by the `syncmap` binary against SQLite systems), snapshotted with what
//! varies redacted, and rendered by a real headless browser (Debian's `chromium`).

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{s, World};
use syncmap::plan::Side;

/// The standard mappings after three runs: a full sync, then a conflict on a customer (both
/// sides changed; the rule is `fail`) met twice, the second time making it skipped.
fn world_with_runs() -> World {
    let w = World::standard();
    w.seed_standard();
    let full = w.cli(&["run", "--mode", "full"]);
    assert!(full.code <= 1, "{}{}", full.stdout, full.stderr);
    let contoso = w.find("bc", "customers", "displayName", "Contoso Ltd.");
    let account = w.partner("customers", Side::Left, &contoso);
    w.update("bc", "customers", &contoso, &[("city", s("Lyon"))]);
    w.update(
        "dv",
        "accounts",
        &account,
        &[("address1_city", s("Marseille"))],
    );
    for _ in 0..2 {
        let r = w.cli(&["run"]);
        assert_eq!(
            r.code, 1,
            "the conflict fails the record\n{}{}",
            r.stdout, r.stderr
        );
    }
    w
}

/// Runs `syncmap report` in the world's folder and returns the page.
fn report(w: &World, args: &[&str]) -> String {
    let mut all = vec!["report", "-o", "report.html"];
    all.extend_from_slice(args);
    let r = w.cli(&all);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    std::fs::read_to_string(w.path().join("report.html")).expect("the report was written")
}

/// Replaces every `8-4-4-4-12` hex GUID (record keys the systems chose) with `[key]`.
fn redact_keys(text: &str) -> String {
    let shape = [8, 4, 4, 4, 12];
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    'scan: while i < bytes.len() {
        let mut j = i;
        for (n, len) in shape.iter().enumerate() {
            if n > 0 {
                if bytes.get(j) != Some(&b'-') {
                    break;
                }
                j += 1;
            }
            let run = bytes[j.min(bytes.len())..]
                .iter()
                .take_while(|b| b.is_ascii_hexdigit())
                .count();
            if run != *len {
                break;
            }
            j += len;
            if n == shape.len() - 1 {
                out.push_str("[key]");
                i = j;
                continue 'scan;
            }
        }
        let c = text[i..].chars().next().expect("inside the text");
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// Replaces the text between each `open` and the next `close` with `with`.
fn redact_between(text: &str, open: &str, close: &str, with: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(a) = rest.find(open) {
        let start = a + open.len();
        let Some(b) = rest[start..].find(close) else {
            break;
        };
        out.push_str(&rest[..start]);
        out.push_str(with);
        rest = &rest[start + b..];
    }
    out.push_str(rest);
    out
}

/// The page with what differs from one run of the test to the next redacted: the generation
/// time, run start times and durations, the compiler version and the keys the systems chose.
/// The page's own style sheet is left out too: it is the same for every report.
fn redacted(page: &str) -> String {
    let mut t = redact_between(page, "<span id=\"generated\">", "</span>", "[generated]");
    t = redact_between(&t, "<td class=\"when\">", "</td>", "[started]");
    t = redact_between(&t, "<span class=\"when\">", ", took", "[started]");
    t = redact_between(&t, "<td class=\"num duration\">", "</td>", "[duration]");
    t = redact_between(&t, "<span class=\"duration\">", "</span>", "[duration]");
    t = redact_between(&t, "compiled by ", " from ", "[compiler]");
    // Bars say when their run started; the duration chart is all times.
    t = redact_between(&t, "<title>Run ", "</title>", "[bar]");
    t = redact_between(
        &t,
        "<figure class=\"chart\" id=\"chart-duration\">",
        "</figure>",
        "[durations]",
    );
    t = redact_between(&t, "<head>", "</head>", "[head]");
    redact_keys(&t)
}

#[test]
fn report_of_the_standard_mappings_with_runs() {
    let w = world_with_runs();
    let page = report(&w, &[]);
    let text = redacted(&page);
    // What the snapshot must show, checked here too so a careless update cannot lose it.
    for must in [
        "Business Central",
        "Dataverse",
        "statecode is Active and customertypecode is Customer",
        "currencyCode via currencies.code",
        r#"data-from="customers" data-to="contacts""#,
        "<h3>Run 3 ",
        "kind-skipped",
        "kind-conflict",
        "id=\"chart-written\"",
        "id=\"chart-attention\"",
        "id=\"chart-duration\"",
    ] {
        assert!(text.contains(must), "the report lacks {must:?}");
    }
    assert!(!text.contains("<script"));
    insta::assert_snapshot!(text);
    // The same inputs give the same page, but for the generation time.
    assert_eq!(redacted(&report(&w, &[])), text);
}

#[test]
fn without_a_profile_the_report_shows_the_mappings() {
    let w = World::standard();
    std::fs::remove_file(w.path().join("syncmap.toml")).expect("remove the profile");
    let page = report(&w, &["mappings"]);
    assert!(page.contains("No state store was read"));
    assert_eq!(page.matches("class=\"flow\"").count(), w.plan.tables.len());
    // A profile whose store holds no run yet: the mappings, and no runs.
    let w = World::standard();
    let page = report(&w, &["--runs", "5"]);
    assert!(page.contains("holds no runs yet"));
    assert!(
        !w.path().join("state.db").exists(),
        "a report creates no state store"
    );
}

#[test]
fn runs_are_limited_and_latest_first() {
    let w = world_with_runs();
    let page = report(&w, &["--runs", "2"]);
    let (three, two) = (page.find("<h3>Run 3 "), page.find("<h3>Run 2 "));
    assert!(
        three.is_some() && two.is_some() && three < two,
        "latest first"
    );
    assert!(!page.contains("<h3>Run 1 "), "--runs 2 shows two runs");
}

// ---- A real browser ----

/// Debian's chromium, which `.ci/run` installs. Missing, the test fails rather than skips: a
/// report no browser was seen to render is not tested.
fn chromium() -> PathBuf {
    for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "chromium is not installed: the report's browser test needs Debian's `chromium` package \
         (`apt-get install -y --no-install-recommends chromium`; .ci/run installs it)"
    );
}

/// Runs headless chromium on a page with `args`; returns its standard output. Killed after two
/// minutes so a browser that hangs fails the test instead of stalling it.
fn headless(page: &Path, profile_dir: &Path, args: &[String]) -> String {
    let out_path = profile_dir.join("stdout.txt");
    let out_file = std::fs::File::create(&out_path).expect("stdout file");
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!(
            "--user-data-dir={}",
            profile_dir.join("chromium").display()
        ))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdout(out_file)
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            assert!(status.success(), "chromium exited with {status}");
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("chromium did not finish within two minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::read_to_string(out_path).expect("chromium's output")
}

#[test]
fn a_real_browser_renders_the_report() {
    let w = world_with_runs();
    report(&w, &[]);
    let page = w.path().join("report.html");
    let tmp = tempfile::tempdir().expect("temp dir");

    let dom = headless(&page, tmp.path(), &["--dump-dom".to_string()]);
    assert!(
        dom.contains("<svg"),
        "no diagram in the rendered page:\n{dom}"
    );
    for system in ["Business Central", "Dataverse"] {
        assert!(dom.contains(system), "{system} is not on the page");
    }
    for t in &w.plan.tables {
        assert!(
            dom.contains(&format!("id=\"t-{}\"", t.name)),
            "no section for {}",
            t.name
        );
        assert_eq!(
            dom.matches(&format!("data-mapping=\"{}\"", t.name)).count(),
            1,
            "one arrow for {}",
            t.name
        );
    }
    assert_eq!(
        dom.matches("class=\"flow\"").count(),
        w.plan.tables.len(),
        "one arrow per table mapping"
    );

    let shot = tmp.path().join("shot.png");
    headless(
        &page,
        tmp.path(),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1400,2000".to_string(),
        ],
    );
    let (width, height, pixels) = decode(&shot);
    assert_eq!((width, height), (1400, 2000));
    let first = &pixels[..4];
    let differing = pixels.chunks(4).filter(|p| *p != first).count();
    // The diagram alone fills a good part of the first screen: far more than a few stray pixels.
    assert!(
        differing > pixels.len() / 4 / 20,
        "the screenshot is nearly one colour ({differing} pixels differ from the first)"
    );

    // The charts of the runs: a bar per run, and the first run's inserted records drawn.
    let chart = |id: &str| {
        let start = dom.find(&format!("id=\"chart-{id}\"")).expect("a chart");
        dom[start..start + dom[start..].find("</figure>").expect("its end")].to_string()
    };
    assert_eq!(chart("written").matches("class=\"bar\"").count(), 3);
    assert_eq!(
        chart("attention").matches("class=\"s-failed\"").count(),
        3,
        "2 runs and the legend"
    );
    assert_eq!(chart("duration").matches("class=\"s-duration\"").count(), 3);
    // The charts alone, with the page's own style: where they sit on the long page depends on
    // everything above them (and headless screenshots do not scroll to a fragment).
    let html = std::fs::read_to_string(&page).expect("the page");
    let head_end = html.find("</head>").expect("a head");
    let charts_start = html.find("<div class=\"charts\">").expect("the charts");
    let charts_end = charts_start + html[charts_start..].find("</div>").expect("their end");
    let alone = tmp.path().join("charts.html");
    std::fs::write(
        &alone,
        format!(
            "{}</head><body><main>{}</div></main></body></html>",
            &html[..head_end],
            &html[charts_start..charts_end]
        ),
    )
    .expect("write the charts page");
    let shot = tmp.path().join("charts.png");
    headless(
        &alone,
        tmp.path(),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1400,900".to_string(),
        ],
    );
    let (_, _, pixels) = decode(&shot);
    // `.s-inserted`'s colour, #3b82f6: the tall bar of the full sync, not just the legend swatch.
    let inserted = pixels
        .chunks(4)
        .filter(|p| p[..3] == [0x3b, 0x82, 0xf6])
        .count();
    assert!(
        inserted > 500,
        "the inserted bar is not drawn ({inserted} pixels)"
    );
}

/// A PNG as width, height and RGBA pixels.
fn decode(path: &Path) -> (u32, u32, Vec<u8>) {
    let file = std::fs::File::open(path).expect("the screenshot was written");
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::ALPHA);
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}
