//! `sd cloud`: turning the command line into a request. Secrets are read
//! here, from the environment or a file, and travel to whoever holds the
//! library over its private control socket.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use sdfs_core::cloud::{Secrets, Service, config::clean_prefix};

use crate::cli::{CloudCommand, CloudService};
use crate::request::Request;

/// The request for `command`; `None` when the user declined.
pub fn request(command: CloudCommand) -> Result<Option<Request>> {
    Ok(Some(match command {
        CloudCommand::Add { name, service } => {
            let (service, secrets) = service_and_secrets(service)?;
            Request::CloudAdd {
                name,
                service,
                secrets,
            }
        }
        CloudCommand::List => Request::CloudList,
        CloudCommand::Rm {
            name,
            yes,
            discard_pending,
        } => {
            if !yes
                && !confirm(&format!(
                    "remove cloud volume {name} (its index, settings and secrets; the bucket stays)?"
                ))?
            {
                eprintln!("sd: nothing removed");
                return Ok(None);
            }
            Request::CloudRm {
                name,
                discard_pending,
            }
        }
    }))
}

fn service_and_secrets(service: CloudService) -> Result<(Service, Secrets)> {
    Ok(match service {
        CloudService::S3 {
            bucket,
            endpoint,
            region,
            prefix,
            credentials,
        } => {
            let (access_key_id, secret_access_key) = match credentials {
                Some(file) => aws_credentials(&file)?,
                None => (
                    std::env::var("AWS_ACCESS_KEY_ID")
                        .context("AWS_ACCESS_KEY_ID is not set (or give --credentials FILE)")?,
                    std::env::var("AWS_SECRET_ACCESS_KEY")
                        .context("AWS_SECRET_ACCESS_KEY is not set (or give --credentials FILE)")?,
                ),
            };
            (
                Service::S3 {
                    bucket,
                    endpoint,
                    region,
                    prefix: clean_prefix(prefix.as_deref())?,
                },
                Secrets::S3 {
                    access_key_id,
                    secret_access_key,
                },
            )
        }
        CloudService::Webdav {
            endpoint,
            user,
            prefix,
            password_file,
        } => {
            let password = match password_file {
                Some(file) => Some(
                    std::fs::read_to_string(&file)
                        .with_context(|| file.display().to_string())?
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                ),
                None => std::env::var("SD_WEBDAV_PASSWORD").ok(),
            };
            (
                Service::Webdav {
                    endpoint,
                    user,
                    prefix: clean_prefix(prefix.as_deref())?,
                },
                Secrets::Webdav { password },
            )
        }
    })
}

/// The keys of an AWS credentials file: its `[default]` profile, or the
/// first keys in it.
fn aws_credentials(file: &Path) -> Result<(String, String)> {
    let text = std::fs::read_to_string(file).with_context(|| file.display().to_string())?;
    let (mut id, mut secret) = (None, None);
    let mut section = String::from("default");
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_owned();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim().to_owned();
        let wanted = section == "default";
        match key.trim() {
            "aws_access_key_id" if wanted || id.is_none() => id = Some(value),
            "aws_secret_access_key" if wanted || secret.is_none() => secret = Some(value),
            _ => {}
        }
    }
    match (id, secret) {
        (Some(id), Some(secret)) => Ok((id, secret)),
        _ => bail!(
            "{}: no aws_access_key_id and aws_secret_access_key in it",
            file.display()
        ),
    }
}

/// Asks on the terminal; refuses where there is none to ask.
fn confirm(question: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("{question} Not a terminal: pass --yes to confirm");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_aws_credentials_file_gives_its_default_keys() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("credentials");
        std::fs::write(
            &file,
            "[other]\naws_access_key_id = OTHER\naws_secret_access_key = no\n\
             [default]\naws_access_key_id = AKIA1\naws_secret_access_key = s3cr3t\n",
        )
        .expect("write");
        assert_eq!(
            aws_credentials(&file).expect("keys"),
            ("AKIA1".to_owned(), "s3cr3t".to_owned())
        );
        std::fs::write(&file, "nothing here\n").expect("write");
        assert!(aws_credentials(&file).is_err());
    }
}
