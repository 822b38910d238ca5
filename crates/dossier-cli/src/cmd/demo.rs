//! `dossier demo`: the whole producer-and-auditor story on a fresh ledger.

use anyhow::Context as _;

use crate::cli::{
    BeliefsArgs, DemoArgs, FilesArgs, InitArgs, LogArgs, PublishArgs, QuestionArgs, VerifyArgs,
};
use crate::exit::CliResult;
use crate::home::Home;

/// The example bundles, compiled in so the demo runs from any directory.
const EXAMPLES: &[(&str, &str)] = &[
    (
        "01-late-february-estimate.json",
        include_str!("../../../../examples/01-late-february-estimate.json"),
    ),
    (
        "02-march-revision.json",
        include_str!("../../../../examples/02-march-revision.json"),
    ),
    (
        "03-follow-up.json",
        include_str!("../../../../examples/03-follow-up.json"),
    ),
    (
        "04-correction.json",
        include_str!("../../../../examples/04-correction.json"),
    ),
];

/// The question whose provenance the demo shows.
const CONTAINERS: &str = "question:dprk-russia/containers-shipped";

/// `dossier demo`.
pub async fn run(args: &DemoArgs) -> CliResult {
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            let d = std::env::temp_dir()
                .join(format!("dossier-demo-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
            d
        }
    };
    let home = Home::at(dir.clone());
    crate::outln!("== 1. a new ledger in {}", dir.display())?;
    super::init::run(
        &home,
        &InitArgs {
            name: "dossier demo".into(),
            producer: "demo analyst".into(),
            encrypt_keys: false,
            roles: false,
            json: false,
        },
    )
    .await?;

    crate::outln!(
        "\n== 2. the example report bundles, validated then published in order (one sealed batch each)"
    )?;
    let examples = dir.join("examples");
    std::fs::create_dir_all(&examples)
        .with_context(|| format!("creating {}", examples.display()))?;
    let mut files = Vec::new();
    for (name, text) in EXAMPLES {
        let path = examples.join(name);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        files.push(path.display().to_string());
    }
    let publish = |files: Vec<String>| PublishArgs {
        files: FilesArgs { files, json: false },
        key: None,
    };
    super::bundles::publish(&home, &publish(files.clone())).await?;

    crate::outln!(
        "\n== 3. publishing the same bundle again appends nothing (ids derive from content, checked permanently)"
    )?;
    super::bundles::publish(&home, &publish(vec![files[1].clone()])).await?;

    crate::outln!("\n== 4. the log (seals hidden; `dossier log --seals` shows them)")?;
    let log_args = LogArgs {
        event_type: Vec::new(),
        from: 1,
        to: None,
        limit: None,
        seals: false,
        json: false,
    };
    super::log::log(&home, &log_args).await?;

    crate::outln!("\n== 5. verification against the pinned founding key")?;
    super::verify::run(
        &home,
        &VerifyArgs {
            trust: None,
            json: false,
            quiet: true,
            checkpoint: None,
            log_key: None,
            witnesses: crate::cli::QuorumArgs::default(),
        },
    )
    .await?;

    crate::outln!(
        "\n== 6. what we believe now, from the projector's stored views (`dossier beliefs`)"
    )?;
    let beliefs = BeliefsArgs {
        as_of: None,
        at: None,
        json: false,
        clearance: dossier_model::Marking::Red,
        stale_ok: false,
    };
    super::beliefs::beliefs(&home, &beliefs).await?;

    crate::outln!("\n== 7. why: the provenance tree of one belief (`dossier why {CONTAINERS}`)")?;
    let why = QuestionArgs {
        question: CONTAINERS.into(),
        as_of: None,
        at: None,
        json: false,
        format: None,
        clearance: dossier_model::Marking::Red,
        stale_ok: false,
    };
    super::beliefs::why(&home, &why).await?;

    crate::outln!("\n== done. Explore it yourself:")?;
    crate::outln!("   export DOSSIER_HOME={}", dir.display())?;
    crate::outln!(
        "   dossier log --type claim        dossier show 5        dossier verify --json"
    )?;
    crate::outln!(
        "   dossier history {CONTAINERS}      dossier beliefs --as-of <a recorded time from dossier log>"
    )?;
    crate::outln!(
        "   sqlite3 {} 'SELECT seq, type, entity FROM events LIMIT 10'",
        home.db_path().display()
    )?;
    Ok(())
}
