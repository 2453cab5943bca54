//! Which environment variables a version may hand to its instance processes.
//!
//! A version's environment comes from API input, and the process it reaches runs on this
//! machine as the server's user. Variables that the dynamic loader, shells and common
//! interpreters read to load code or run commands would turn that input into code execution
//! (`LD_PRELOAD`, `PYTHONWARNINGS` + `BROWSER`, `PATH`, …), and the serving contract's own names
//! would let a request redirect the instance (`SAGEMAKER_BIND_TO_PORT`). Those are refused,
//! always; the operator can narrow what is accepted further per runtime with `allowed_env`.

use mlm_core::{Environment, Error, Result};

use crate::config::RuntimeConfig;

/// Names no version may set, matched without regard to case; a trailing `*` matches a prefix.
pub const RESERVED_ENV: &[&str] = &[
    // The dynamic loader and the C library (glibc, musl, macOS).
    "LD_*",
    "DYLD_*",
    "GCONV_PATH",
    "GETCONF_DIR",
    "HOSTALIASES",
    "LOCALDOMAIN",
    "LOCPATH",
    "MALLOC_*",
    "NLSPATH",
    "RES_OPTIONS",
    "RESOLV_*",
    "TZDIR",
    // Shells and the programs they start.
    "PATH",
    "HOME",
    "SHELL",
    "IFS",
    "ENV",
    "BASH_ENV",
    "BASH_FUNC_*",
    "BASHOPTS",
    "SHELLOPTS",
    "CDPATH",
    "GLOBIGNORE",
    "PROMPT_COMMAND",
    "PS4",
    "BROWSER",
    "EDITOR",
    "VISUAL",
    "PAGER",
    "TMPDIR",
    // Interpreters and runtimes.
    "PYTHON*",
    "PERL5*",
    "PERLLIB",
    "PERL_*",
    "RUBY*",
    "GEM_*",
    "BUNDLE_*",
    "NODE_*",
    "NPM_CONFIG_*",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "CLASSPATH",
    "LUA_*",
    "R_PROFILE*",
    "R_ENVIRON*",
    "R_LIBS*",
    "TCL_LIBRARY",
    "TCLLIBPATH",
    "PHPRC",
    "PHP_INI_SCAN_DIR",
    "JULIA_*",
    "OPENSSL_CONF",
    "OPENSSL_ENGINES",
    "OPENSSL_MODULES",
    "SSLKEYLOGFILE",
    // The serving contract: set by the server for every instance.
    "SAGEMAKER_*",
    "SM_*",
    "MLM_INSTANCE_ID",
];

/// Whether `name` matches `pattern` (`NAME` or `PREFIX*`), without regard to case.
fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => {
            name.len() >= prefix.len() && name[..prefix.len()].eq_ignore_ascii_case(prefix)
        }
        None => name.eq_ignore_ascii_case(pattern),
    }
}

/// The reserved pattern `name` falls under, if any.
pub(crate) fn reserved_pattern(name: &str) -> Option<&'static str> {
    RESERVED_ENV.iter().copied().find(|p| matches(p, name))
}

/// Checks a version's environment against the reserved names and `runtime_name`'s
/// `allowed_env`; the error names the first variable refused and why.
pub fn check_environment(
    runtime_name: &str,
    runtime: &RuntimeConfig,
    environment: &Environment,
) -> Result<()> {
    for name in environment.keys() {
        if let Some(pattern) = reserved_pattern(name) {
            return Err(Error::invalid(format!(
                "environment variable '{name}' is reserved ({pattern}): the loader, shells, \
                 interpreters and the serving contract read it, so a version may not set it \
                 on the local backend"
            )));
        }
        if let Some(allowed) = &runtime.allowed_env
            && !allowed.iter().any(|p| matches(p, name))
        {
            return Err(Error::invalid(format!(
                "environment variable '{name}' is not allowed by runtime '{runtime_name}' \
                 (allowed: {})",
                if allowed.is_empty() {
                    "none".to_string()
                } else {
                    allowed.join(", ")
                }
            )));
        }
    }
    Ok(())
}

/// Checks an operator's `allowed_env` patterns: names or prefixes ending in `*`.
pub(crate) fn check_allowed_patterns(runtime_name: &str, runtime: &RuntimeConfig) -> Result<()> {
    for pattern in runtime.allowed_env.iter().flatten() {
        let name = pattern.strip_suffix('*').unwrap_or(pattern);
        let valid = !name.contains('*')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && (!name.is_empty() || pattern == "*");
        if !valid {
            return Err(Error::invalid(format!(
                "runtime '{runtime_name}': allowed_env pattern '{pattern}' is not a variable \
                 name or a prefix ending in '*'"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Environment {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn probe_variables_are_refused_by_name() {
        let runtime = RuntimeConfig::new("python3", ["-I", "serve.py"]);
        for name in [
            "PYTHONWARNINGS",
            "BROWSER",
            "PATH",
            "LD_PRELOAD",
            "ld_library_path",
            "PERL5OPT",
            "RUBYOPT",
            "NODE_OPTIONS",
            "JAVA_TOOL_OPTIONS",
            "IFS",
            "BASH_ENV",
            "ENV",
            "HOME",
            "SAGEMAKER_BIND_TO_PORT",
            "SM_MODEL_DIR",
            "MLM_INSTANCE_ID",
        ] {
            let err = check_environment("rt", &runtime, &env(&[(name, "x")])).unwrap_err();
            assert_eq!(err.kind(), mlm_core::ErrorKind::InvalidArgument);
            assert!(err.to_string().contains(&format!("'{name}'")), "{err}");
        }
        for name in [
            "MODEL_THREADS",
            "LOG_LEVEL",
            "ENVIRONMENT",
            "PATHNAME_STYLE",
        ] {
            check_environment("rt", &runtime, &env(&[(name, "x")])).unwrap();
        }
    }

    #[test]
    fn the_allow_list_narrows_but_never_widens() {
        let mut runtime = RuntimeConfig::new("python3", ["-I", "serve.py"]);
        runtime.allowed_env = Some(vec!["MODEL_*".into(), "LOG_LEVEL".into(), "PATH".into()]);
        check_environment(
            "rt",
            &runtime,
            &env(&[("MODEL_SIZE", "1"), ("LOG_LEVEL", "x")]),
        )
        .unwrap();
        let err = check_environment("rt", &runtime, &env(&[("DEBUG", "1")])).unwrap_err();
        assert!(
            err.to_string()
                .contains("'DEBUG' is not allowed by runtime 'rt'"),
            "{err}"
        );
        let err = check_environment("rt", &runtime, &env(&[("PATH", "/tmp")])).unwrap_err();
        assert!(err.to_string().contains("reserved"), "{err}");
        runtime.allowed_env = Some(Vec::new());
        let err = check_environment("rt", &runtime, &env(&[("A", "1")])).unwrap_err();
        assert!(err.to_string().contains("allowed: none"), "{err}");
    }

    #[test]
    fn allow_list_patterns_are_checked() {
        let mut runtime = RuntimeConfig::new("x", Vec::<String>::new());
        for good in ["MODEL_*", "LOG_LEVEL", "*"] {
            runtime.allowed_env = Some(vec![good.into()]);
            check_allowed_patterns("rt", &runtime).unwrap();
        }
        for bad in ["MO*DEL", "A B", "", "**"] {
            runtime.allowed_env = Some(vec![bad.into()]);
            assert!(check_allowed_patterns("rt", &runtime).is_err(), "{bad}");
        }
    }
}
