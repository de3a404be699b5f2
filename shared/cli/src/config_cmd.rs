//! `hudi-pg-sync config check <file>`: validate a configuration file and print what every
//! table resolves to, before anything is deployed or run.

use std::io::Write;

use hps_config::{PipelineConfig, TableConfig};
use hps_hudi::columns::PARTITION_PATH_COLUMN;
use hps_postgres::{DEFAULT_SCHEMA, DeletePolicy, LandingRetention};

use crate::CliError;
use crate::setup::load_config;

/// `config` sub-commands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file (path, s3://bucket/key or ssm:/name) and print each
    /// table's resolved target.
    Check {
        /// The configuration file.
        file: String,
    },
}

/// Run a `config` sub-command.
pub async fn config(cmd: ConfigCommand) -> Result<(), CliError> {
    match cmd {
        ConfigCommand::Check { file } => {
            let config = load_config(&file).await?;
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            print_resolved(&config, &mut out)?;
            out.flush()?;
            Ok(())
        }
    }
}

/// One block per table: location, staging table, key, ordering, deletes, retention. Settings
/// the file leaves to the table's `hoodie.properties` say so.
pub fn print_resolved(config: &PipelineConfig, out: &mut impl Write) -> Result<(), CliError> {
    let discovered = config.tables.iter().filter(|t| t.discovered).count();
    writeln!(
        out,
        "{}: valid, {} table(s){}",
        config.origin,
        config.tables.len(),
        if config.prefixes.is_empty() {
            String::new()
        } else {
            format!(" ({discovered} discovered)")
        }
    )?;
    for p in &config.prefixes {
        writeln!(out, "[discovery] prefix {}", p.uri())?;
    }
    for t in &config.tables {
        print_table(t, out)?;
    }
    Ok(())
}

const DERIVED: &str = "(from hoodie.properties)";

fn print_table(t: &TableConfig, out: &mut impl Write) -> Result<(), CliError> {
    let o = &t.target;
    let schema = o.schema.as_deref().unwrap_or(DEFAULT_SCHEMA);
    let staging = o.staging.as_deref().unwrap_or("<hoodie.table.name>");
    let list = |v: &Option<Vec<String>>| match v {
        Some(v) if v.is_empty() => "(none)".to_string(),
        Some(v) => v.join(", "),
        None => DERIVED.to_string(),
    };
    let mut key = list(&o.key_columns);
    if o.key_includes_partition_path {
        key = format!("{PARTITION_PATH_COLUMN}, {key}");
    }
    let deletes = match o.delete_policy.unwrap_or_default() {
        DeletePolicy::Hard => "hard",
        DeletePolicy::Soft => "soft",
    };
    let landing = match o.landing_retention.unwrap_or_default() {
        LandingRetention::DropAfterApply => "drop after apply".to_string(),
        LandingRetention::Keep(d) => format!("keep {}s", d.as_secs()),
    };
    let tombstones = match o.tombstone_retention {
        None => "default (30 days)".to_string(),
        Some(None) => "forever".to_string(),
        Some(Some(d)) => format!("{}s", d.as_secs()),
    };
    if t.discovered {
        writeln!(out, "[tables.{}] (discovered)", t.id)?;
    } else {
        writeln!(out, "[tables.{}]", t.id)?;
    }
    writeln!(out, "  location:    {}", t.location.uri())?;
    writeln!(out, "  staging:     {schema}.{staging}")?;
    writeln!(out, "  key:         {key}")?;
    writeln!(out, "  ordering:    {}", list(&o.ordering_columns))?;
    writeln!(out, "  deletes:     {deletes}")?;
    writeln!(out, "  landing:     {landing}")?;
    writeln!(out, "  tombstones:  {tombstones}")?;
    print_columns(&t.columns, out)?;
    if let Some(f) = &t.partition_filter {
        writeln!(
            out,
            "  partitions:  {} in {}",
            f.column,
            f.values.join(", ")
        )?;
    }
    if !t.after_apply.is_empty() {
        writeln!(out, "  after_apply: {} statement(s)", t.after_apply.len())?;
    }
    let on_change = o.on_schema_change.unwrap_or_default().as_str();
    writeln!(out, "  on schema change: {on_change}")?;
    Ok(())
}

fn print_columns(m: &hps_sync::ColumnMapping, out: &mut impl Write) -> Result<(), CliError> {
    let select = match &m.select {
        hps_sync::ColumnSelect::All => "all".to_string(),
        hps_sync::ColumnSelect::Include(c) => format!("only {}", c.join(", ")),
        hps_sync::ColumnSelect::Exclude(c) => format!("all but {}", c.join(", ")),
    };
    writeln!(out, "  columns:     {select}")?;
    for (from, to) in &m.rename {
        writeln!(out, "    {from} -> {to}")?;
    }
    for (col, ty) in &m.types {
        let ty = match ty {
            hps_sync::TypeOverride::Text => "text",
        };
        writeln!(out, "    {col}: {ty}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_resolved_targets() {
        let c = hps_config::parse(
            "c.toml",
            "[defaults]\nschema = \"lake\"\n[tables.o]\nlocation = \"s3://lake/o\"\ntable = \"orders\"\n\
             key_columns = [\"id\"]\nkey_includes_partition_path = true\ndelete_mode = \"soft\"\n\
             on_schema_change = \"stop\"\n[tables.t]\nlocation = \"s3://lake/t\"\ntombstone_retention = \"forever\"\nlanding_retention = \"1h\"\n",
        )
        .unwrap();
        let mut buf = Vec::new();
        print_resolved(&c, &mut buf).unwrap();
        let text = String::from_utf8(buf).unwrap();
        assert!(text.starts_with("c.toml: valid, 2 table(s)\n"), "{text}");
        assert!(text.contains("[tables.o]\n  location:    s3://lake/o\n  staging:     lake.orders\n  key:         _hoodie_partition_path, id\n  ordering:    (from hoodie.properties)\n  deletes:     soft\n"), "{text}");
        assert!(
            text.contains("staging:     lake.<hoodie.table.name>"),
            "{text}"
        );
        assert!(
            text.contains("landing:     keep 3600s\n  tombstones:  forever\n  columns:     all\n"),
            "{text}"
        );
        assert!(
            text.contains("  on schema change: stop\n[tables.t]"),
            "{text}"
        );
        assert!(text.ends_with("  on schema change: evolve\n"), "{text}");
    }
}
