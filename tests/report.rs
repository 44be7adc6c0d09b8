//! `diffgen report`: the page of a run holds the run's own figures, marks what it cannot
//! read, refuses what is not a run, captions every image of an image run with the
//! classifier's verdict file, and — in a real browser (Chromium, where installed;
//! `.ci/run` installs it with 3Dmol.js and sets `DIFFGEN_REQUIRE_BROWSER`) — runs without
//! script errors for molecule, protein and image runs, shows the figures of the run's
//! metrics, and draws every 3-D viewer and image thumbnail (screenshots kept as
//! `target/tmp/report-<modality>.png`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn diffgen() -> Command {
    Command::new(env!("CARGO_BIN_EXE_diffgen"))
}

fn check(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A small molecule run (the bundled joint model) into `dir`.
fn molecule_run(dir: &Path) {
    check(
        &diffgen()
            .args([
                "run",
                "--modality",
                "molecule",
                "--num-samples",
                "14",
                "--steps",
                "20",
                "--quiet",
                "--no-report",
            ])
            .arg("--out")
            .arg(dir)
            .output()
            .unwrap(),
    );
}

/// The page's figures: `<span data-figure="name">value</span>`.
fn page_figures(html: &str) -> Vec<(String, String)> {
    html.split("<span data-figure=\"")
        .skip(1)
        .map(|rest| {
            let (name, rest) = rest.split_once("\">").unwrap();
            let (value, _) = rest.split_once("</span>").unwrap();
            (
                name.replace("&#39;", "'").replace("&amp;", "&"),
                value.to_string(),
            )
        })
        .collect()
}

/// How the page prints a figure (`diffgen_core::page::format_figure`), to compare with the manifest.
fn printed(value: f64, share: bool) -> String {
    diffgen_core::page::format_figure(value, share)
}

/// The figures of a run's metrics (`manifest.json`) as its page should print them, in order.
fn manifest_figures(run: &Path) -> Vec<(String, String)> {
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("manifest.json")).unwrap()).unwrap();
    let shares: Vec<&str> = manifest["shares"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    manifest["metrics"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                printed(v.as_f64().unwrap(), shares.contains(&k.as_str())),
            )
        })
        .collect()
}

#[test]
fn the_page_of_a_molecule_run_holds_its_figures_and_every_molecule() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    molecule_run(&run);
    let page = dir.path().join("page.html");
    check(
        &diffgen()
            .arg("report")
            .arg(&run)
            .arg("--out")
            .arg(&page)
            .env_remove("DIFFGEN_VIEWER_JS")
            .output()
            .unwrap(),
    );
    let html = std::fs::read_to_string(&page).unwrap();
    let expected = manifest_figures(&run);
    assert!(expected.len() > 10);
    assert_eq!(page_figures(&html), expected);
    // Every molecule in the grid, the CDN's pinned copy with its integrity hash.
    assert_eq!(html.matches("class=\"record\"").count(), 14);
    assert!(html.contains("integrity=\"sha384-"));
    assert!(html.contains("needs the network"));
}

#[test]
fn broken_runs_are_marked_or_refused_and_no_partial_page_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    molecule_run(&run);
    // A record cut short: the page marks it and shows the rest.
    let sdf = run.join("samples.sdf");
    let text = std::fs::read_to_string(&sdf).unwrap();
    let cut = text.len() - 400;
    std::fs::write(&sdf, &text[..cut]).unwrap();
    let page = dir.path().join("page.html");
    check(
        &diffgen()
            .arg("report")
            .arg(&run)
            .arg("--out")
            .arg(&page)
            .output()
            .unwrap(),
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(
        html.matches("data-broken=\"1\"").count(),
        1,
        "one record is cut"
    );
    assert_eq!(html.matches("class=\"record\"").count(), 14);
    assert!(html.contains("could not be read"));

    // Not a run, a missing directory, a run without its samples: errors naming the path,
    // and no page.
    let not_a_run = dir.path().join("plain");
    std::fs::create_dir(&not_a_run).unwrap();
    std::fs::remove_file(&sdf).unwrap();
    for (input, says) in [
        (not_a_run, "not a diffgen run"),
        (dir.path().join("missing"), "not a directory"),
        (run, "samples.sdf: No such file"),
    ] {
        let page = dir.path().join("refused.html");
        let out = diffgen()
            .arg("report")
            .arg(&input)
            .arg("--out")
            .arg(&page)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{}", input.display());
        assert!(
            err.contains(&input.display().to_string()) && err.contains(says),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        assert!(!page.exists(), "a page was left for {}", input.display());
    }
}

#[test]
fn the_page_of_a_training_run_draws_its_curves() {
    let dir = tempfile::tempdir().unwrap();
    let log: String = (1..=20)
        .map(|k| {
            let val = if k % 5 == 0 {
                format!(",\"val_loss\":{}", 2.0 / k as f64)
            } else {
                String::new()
            };
            format!(
                "{{\"step\":{},\"train_loss\":{}{val},\"lr\":0.0005,\"grad_norm\":{},\"steps_per_sec\":1.5}}\n",
                50 * k,
                3.0 / k as f64,
                10.0 + k as f64
            )
        })
        .collect();
    std::fs::write(dir.path().join("metrics.jsonl"), log).unwrap();
    let page = dir.path().join("page.html");
    check(
        &diffgen()
            .arg("report")
            .arg(dir.path())
            .arg("--out")
            .arg(&page)
            .output()
            .unwrap(),
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert_eq!(
        html.matches("<svg").count(),
        4,
        "loss, lr, gradient norm, steps/s"
    );
    assert!(html.contains("best validation loss") && html.contains("(step 1000)"));
    // A garbled line names the file and line.
    std::fs::write(dir.path().join("metrics.jsonl"), "{\"step\":1}\nnot json\n").unwrap();
    let out = diffgen().arg("report").arg(dir.path()).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("metrics.jsonl:2"),
        "{err}"
    );
}

/// A small image run (the bundled class-conditional model, classes cycled) into `dir`.
fn image_run(dir: &Path, samples: usize, extra: &[&str]) {
    check(
        &diffgen()
            .args([
                "run",
                "--modality",
                "image",
                "--num-samples",
                &samples.to_string(),
                "--sampler",
                "dpm++2m",
                "--steps",
                "8",
                "--opt",
                "gif=false",
                "--quiet",
                "--no-report",
            ])
            .args(extra)
            .arg("--out")
            .arg(dir)
            .output()
            .unwrap(),
    );
}

/// `diffgen report <run> --out <page>`: the page's text, or the failure's stderr.
fn report(run: &Path, page: &Path) -> Result<String, String> {
    let out = diffgen()
        .arg("report")
        .arg(run)
        .arg("--out")
        .arg(page)
        .output()
        .unwrap();
    match out.status.success() {
        true => Ok(std::fs::read_to_string(page).unwrap()),
        false => Err(String::from_utf8_lossy(&out.stderr).to_string()),
    }
}

/// One image of the page: `data-…` attributes and caption of a `<figure class="digit…">`.
#[derive(Debug)]
struct Digit {
    classes: String,
    attrs: std::collections::BTreeMap<String, String>,
    caption: String,
}

fn page_digits(html: &str) -> Vec<Digit> {
    html.split("<figure class=\"")
        .skip(1)
        .filter(|f| f.starts_with("digit"))
        .map(|f| {
            let (classes, rest) = f.split_once('"').unwrap();
            let (tag, rest) = rest.split_once('>').unwrap();
            let attrs = tag
                .split(" data-")
                .skip(1)
                .map(|a| {
                    let (k, v) = a.split_once("=\"").unwrap();
                    (k.to_string(), v[..v.find('"').unwrap()].to_string())
                })
                .collect();
            let caption = rest.split_once("<figcaption>").unwrap().1;
            let caption = caption.split_once("</figcaption>").unwrap().0.to_string();
            Digit {
                classes: classes.to_string(),
                attrs,
                caption,
            }
        })
        .collect()
}

#[test]
fn the_page_of_an_image_run_captions_every_image_with_the_classifiers_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    image_run(&run, 12, &[]);
    let html = report(&run, &dir.path().join("page.html")).unwrap();
    let verdicts: Vec<serde_json::Value> =
        std::fs::read_to_string(run.join("samples.verdicts.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    assert_eq!(verdicts.len(), 12);
    let digits = page_digits(&html);
    assert_eq!(digits.len(), 12, "one captioned image per sample");
    let mut disagree = 0;
    for (d, v) in digits.iter().zip(&verdicts) {
        let (index, asked) = (
            v["index"].as_u64().unwrap(),
            v["requested"].as_u64().unwrap(),
        );
        let (seen, confidence) = (
            v["predicted"].as_u64().unwrap(),
            v["confidence"].as_f64().unwrap(),
        );
        // Classes are cycled: sample i is asked for class i mod 10.
        assert_eq!(asked, index % 10);
        assert_eq!(d.attrs["index"], index.to_string());
        assert_eq!(d.attrs["asked"], asked.to_string());
        assert_eq!(d.attrs["seen"], seen.to_string());
        assert_eq!(d.attrs["confidence"].parse::<f64>().unwrap(), confidence);
        assert!((0.0..=1.0).contains(&confidence) && confidence > 0.0);
        assert!(
            d.caption.starts_with(&format!(
                "#{index} · asked {asked}<br>seen {seen} ({confidence:.2})"
            )),
            "{d:?}"
        );
        let wrong = asked != seen;
        disagree += usize::from(wrong);
        assert_eq!(d.classes.contains("disagree"), wrong, "{d:?}");
        assert_eq!(d.caption.contains("mark-bad"), wrong, "{d:?}");
        assert_eq!(d.caption.contains("mark-ok"), !wrong, "{d:?}");
    }
    // Each image is its own pixelated data-URI PNG, drawn at three times its 28 pixels.
    assert_eq!(
        html.matches("<img src=\"data:image/png;base64,").count(),
        12 + 1,
        "the twelve images and the grid among the plots"
    );
    assert!(html.contains("width=\"84\" height=\"84\""));
    // The summary counts the agreements as the run's figure does.
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("manifest.json")).unwrap()).unwrap();
    let share = manifest["metrics"]["share labelled as the requested class"]
        .as_f64()
        .unwrap();
    assert!(
        html.contains(&format!(
            "data-agree=\"{}\" data-judged=\"12\"",
            12 - disagree
        )),
        "{html}"
    );
    assert_eq!((12 - disagree) as f64 / 12.0, share);
    assert!(html.contains(&format!("({})", printed(share, true))));
    assert!(html.contains("12 images, asked for classes 0–9."));
    if disagree > 0 {
        assert!(html.contains(&format!("{disagree} disagree</span>")));
    } else {
        assert!(html.contains("no disagreements"));
    }
}

#[test]
fn a_garbled_verdicts_file_is_named_and_a_run_without_verdicts_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    image_run(&run, 3, &["--class", "7"]);
    let page = dir.path().join("page.html");
    let html = report(&run, &page).unwrap();
    assert_eq!(page_digits(&html).len(), 3);
    assert!(html.contains("3 images, all asked for class 7."));
    std::fs::remove_file(&page).unwrap();
    // A garbled second line: an error naming the file and the line, and no page.
    let file = run.join("samples.verdicts.jsonl");
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(
        &file,
        format!("{}\n{{\"index\":1,\n{}\n", lines[0], lines[2]),
    )
    .unwrap();
    let err = report(&run, &page).unwrap_err();
    assert!(
        err.contains(&file.display().to_string()) && err.contains("line 2"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(!page.exists());
    // Verdicts of other images: refused, naming the file.
    std::fs::write(&file, text.replace("\"requested\":7", "\"requested\":1")).unwrap();
    let err = report(&run, &page).unwrap_err();
    assert!(
        err.contains("samples.verdicts.jsonl") && err.contains("asked 1"),
        "{err}"
    );

    // A run that did not score: every image with the class asked for, and a note why there
    // is no verdict.
    let unscored = dir.path().join("unscored");
    image_run(&unscored, 2, &["--no-eval"]);
    let html = report(&unscored, &page).unwrap();
    let digits = page_digits(&html);
    assert_eq!(digits.len(), 2);
    for (k, d) in digits.iter().enumerate() {
        assert_eq!(d.caption, format!("#{k} · asked {k}"));
        assert!(!d.attrs.contains_key("seen"));
    }
    assert!(html.contains("No classifier verdicts: the run lists no samples.verdicts.jsonl"));
}

/// Chromium, and a local 3Dmol.js (`DIFFGEN_VIEWER_JS`), or `None` with a skip line.
fn browser() -> Option<(PathBuf, PathBuf)> {
    let chromium = ["chromium", "chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    let viewer = std::env::var_os("DIFFGEN_VIEWER_JS")
        .map(PathBuf::from)
        .filter(|p| p.is_file());
    let present = chromium.is_some() && viewer.is_some();
    if !diffgen_test_support::prerequisite_under(
        "DIFFGEN_REQUIRE_BROWSER",
        present,
        "Chromium and DIFFGEN_VIEWER_JS (a local 3Dmol-min.js)",
        "apt-get install chromium; npm install 3dmol",
    ) {
        return None;
    }
    Some((chromium?, viewer?))
}

/// What a page did in headless Chromium, and what it looked like.
#[derive(Debug)]
struct Opened {
    /// The script errors the page caught (`<html data-errors>`), if any.
    errors: Option<String>,
    /// The `<body>` tag after the scripts ran: the page's counts of drawn and blank viewers.
    body: String,
    /// Per viewer, in page order — each 3-D viewer the page's own script checked, and each
    /// image thumbnail the probe below checked — its non-background pixels (-1: an image
    /// that did not load).
    drawn: Vec<i64>,
    /// The page's figures after its scripts ran (`<span data-figure>`).
    figures: Vec<(String, String)>,
}

/// Added to the page before `</body>`, after the page's own script: once everything has
/// loaded, each image thumbnail (`<figure class="digit…"><img>`) gets
/// `data-drawn-pixels` — -1 if the image did not load (`naturalWidth` 0), else the count
/// of its pixels far (more than 64 of 255) from its top-left one, the background: a blank
/// or faintly noisy image has none — as the page's script does for its 3-D viewers.
const THUMBNAIL_PROBE: &str = r#"<script>
window.addEventListener("load", function () {
  var figures = document.querySelectorAll("figure.digit");
  figures.forEach(function (f) {
    var img = f.querySelector("img"), n = -1;
    if (img && img.complete && img.naturalWidth > 0) {
      var c = document.createElement("canvas");
      c.width = img.naturalWidth; c.height = img.naturalHeight;
      var g = c.getContext("2d");
      g.drawImage(img, 0, 0);
      var d = g.getImageData(0, 0, c.width, c.height).data;
      n = 0;
      for (var i = 0; i < d.length; i += 4) {
        if (Math.max(Math.abs(d[i] - d[0]), Math.abs(d[i + 1] - d[1]), Math.abs(d[i + 2] - d[2])) > 64) n++;
      }
    }
    f.dataset.drawnPixels = String(n);
  });
  document.body.dataset.thumbnailsChecked = String(figures.length);
});
</script>
"#;

/// Opens `page` in headless Chromium with [`THUMBNAIL_PROBE`] added, lets its scripts run
/// (virtual time), and reads back from the one visit both the DOM and a screenshot, kept
/// as `target/tmp/report-<name>.png` for people to look at.
fn open_headless(chromium: &Path, page: &Path, name: &str) -> Opened {
    let dir = tempfile::tempdir().unwrap();
    let html = std::fs::read_to_string(page).unwrap();
    let end = html.rfind("</body>").expect("a page with a body");
    let probed = dir.path().join("page.html");
    std::fs::write(
        &probed,
        format!("{}{THUMBNAIL_PROBE}{}", &html[..end], &html[end..]),
    )
    .unwrap();
    let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("report-{name}.png"));
    let _ = std::fs::remove_file(&shot);
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-unsafe-swiftshader",
            "--use-angle=swiftshader",
            // Tall enough that the screenshot shows a whole page of a molecule grid.
            "--window-size=1280,3200",
            "--virtual-time-budget=20000",
            "--dump-dom",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", probed.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && dom.contains("</html>") && shot.is_file(),
        "Chromium gave no page or no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html_tag = &dom[dom.find("<html").expect("a page")..];
    let html_tag = &html_tag[..html_tag.find('>').unwrap()];
    let errors = html_tag.split_once("data-errors=\"").map(|(_, rest)| {
        let (errors, _) = rest.split_once('"').unwrap();
        errors.to_string()
    });
    // The body tag right after the head (the inlined scripts may spell `<body` too).
    let body = &dom[dom.find("</head>").expect("a head")..];
    let body = &body[body.find("<body").unwrap()..];
    let body = body[..=body.find('>').unwrap()].to_string();
    assert!(
        body.contains("data-thumbnails-checked=\""),
        "the probe did not run: {body}"
    );
    let drawn = dom
        .split("data-drawn-pixels=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].parse().unwrap())
        .collect();
    Opened {
        errors,
        body,
        drawn,
        figures: page_figures(&dom),
    }
}

/// `diffgen report <run> --viewer-js <viewer>` (the page inlines 3Dmol.js), then the page
/// in the browser: no script errors, every figure of the run's metrics as the manifest has
/// it, and `viewers` viewers (or thumbnails) with at least `pixels` drawn pixels each.
fn check_in_browser(
    (chromium, viewer): &(PathBuf, PathBuf),
    run: &Path,
    name: &str,
    viewers: usize,
    pixels: i64,
) -> Opened {
    check(
        &diffgen()
            .arg("report")
            .arg(run)
            .arg("--viewer-js")
            .arg(viewer)
            .output()
            .unwrap(),
    );
    let opened = open_headless(chromium, &run.join("report.html"), name);
    assert_eq!(opened.errors, None, "script errors ({name})");
    assert_eq!(opened.figures, manifest_figures(run), "{name}");
    assert!(!opened.figures.is_empty());
    assert_eq!(opened.drawn.len(), viewers, "{name}: {opened:?}");
    assert!(
        opened.drawn.iter().all(|&n| n >= pixels),
        "{name}: a viewer is blank: {opened:?}"
    );
    opened
}

#[test]
fn in_a_real_browser_a_molecule_page_runs_and_every_viewer_draws() {
    let Some(browser) = browser() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    molecule_run(&run);
    // 14 molecules, 12 per page: the first page's 12 viewers, none blank (the page's own
    // verdict is more than 50 pixels).
    let opened = check_in_browser(&browser, &run, "molecule", 12, 51);
    assert!(
        opened.body.contains("data-viewers-drawn=\"12\""),
        "{opened:?}"
    );
    assert!(!opened.body.contains("data-viewers-blank"), "{opened:?}");
}

#[test]
fn in_a_real_browser_a_protein_page_runs_and_every_cartoon_draws() {
    let Some(browser) = browser() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (run, empty) = (dir.path().join("run"), dir.path().join("no-data"));
    std::fs::create_dir(&empty).unwrap();
    check(
        &diffgen()
            .args([
                "run",
                "--modality",
                "protein",
                "--num-samples",
                "3",
                "--length",
                "40",
                "--steps",
                "20",
                "--quiet",
                "--no-report",
            ])
            // An empty data root: the figures bundled from the test split, not half a
            // minute of reference statistics where $DIFFGEN_DATA or ../shared is present.
            .arg("--data")
            .arg(&empty)
            .arg("--out")
            .arg(&run)
            .output()
            .unwrap(),
    );
    // Three backbones, eight to a page: three cartoons, none blank.
    let opened = check_in_browser(&browser, &run, "protein", 3, 51);
    assert!(
        opened.body.contains("data-viewers-drawn=\"3\""),
        "{opened:?}"
    );
    assert!(!opened.body.contains("data-viewers-blank"), "{opened:?}");
}

#[test]
fn in_a_real_browser_an_image_page_runs_and_every_thumbnail_shows() {
    let Some(browser) = browser() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    image_run(&run, 8, &[]);
    // Eight 28-pixel digits, each loaded and with a stroke (20 of its 784 pixels at least);
    // no 3-D viewer on the page.
    let opened = check_in_browser(&browser, &run, "image", 8, 20);
    assert!(
        opened.body.contains("data-thumbnails-checked=\"8\"")
            && opened.body.contains("data-viewers-drawn=\"0\""),
        "{opened:?}"
    );
}
