//! vCPU and GPU counts of SageMaker instance types, to turn CloudWatch's "100 × devices"
//! figures into per-device percentages.
//!
//! vCPUs follow the size (`large` = 2, `xlarge` = 4, `Nxlarge` = 4·N, `medium` = 1) for the
//! general, compute, memory and GPU families SageMaker offers. GPU counts come from a table of
//! the common GPU types; a type not in it has an unknown GPU count (its GPU figures are left
//! out, not shown wrong).

/// vCPUs of `instance_type` (`ml.<family>.<size>`), if the size is recognised.
pub fn vcpu_count(instance_type: &str) -> Option<u32> {
    let size = instance_type.rsplit('.').next()?;
    match size {
        "medium" => Some(1),
        "large" => Some(2),
        "xlarge" => Some(4),
        s => {
            let n: u32 = s.strip_suffix("xlarge")?.parse().ok()?;
            Some(4 * n)
        }
    }
}

/// GPUs of `instance_type`: `Some(0)` for known CPU-only families, `None` when unknown.
pub fn gpu_count(instance_type: &str) -> Option<u32> {
    let rest = instance_type.strip_prefix("ml.")?;
    let (family, size) = rest.split_once('.')?;
    let n = match (family, size) {
        // NVIDIA T4
        ("g4dn", "12xlarge") => 4,
        ("g4dn", "metal") => 8,
        ("g4dn", _) => 1,
        // A10G
        ("g5", "12xlarge" | "24xlarge") => 4,
        ("g5", "48xlarge") => 8,
        ("g5", _) => 1,
        // L4
        ("g6", "12xlarge" | "24xlarge") => 4,
        ("g6", "48xlarge") => 8,
        ("g6", _) => 1,
        // L40S
        ("g6e", "12xlarge" | "24xlarge") => 4,
        ("g6e", "48xlarge") => 8,
        ("g6e", _) => 1,
        // V100
        ("p3", "2xlarge") => 1,
        ("p3", "8xlarge") => 4,
        ("p3", "16xlarge") => 8,
        ("p3dn", "24xlarge") => 8,
        // A100 / H100 / H200
        ("p4d" | "p4de" | "p5" | "p5e" | "p5en", _) => 8,
        // K80 (legacy)
        ("p2", "xlarge") => 1,
        ("p2", "8xlarge") => 8,
        ("p2", "16xlarge") => 16,
        // CPU-only families
        (
            "t2" | "t3" | "m4" | "m5" | "m5d" | "m6i" | "m6id" | "m7i" | "c4" | "c5" | "c5d"
            | "c6i" | "c6id" | "c7i" | "r5" | "r5d" | "r6i" | "r7i",
            _,
        ) => 0,
        _ => return None,
    };
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        assert_eq!(vcpu_count("ml.m5.large"), Some(2));
        assert_eq!(vcpu_count("ml.c5.xlarge"), Some(4));
        assert_eq!(vcpu_count("ml.g5.12xlarge"), Some(48));
        assert_eq!(vcpu_count("ml.t2.medium"), Some(1));
        assert_eq!(vcpu_count("weird"), None);
        assert_eq!(gpu_count("ml.g4dn.xlarge"), Some(1));
        assert_eq!(gpu_count("ml.g5.48xlarge"), Some(8));
        assert_eq!(gpu_count("ml.p4d.24xlarge"), Some(8));
        assert_eq!(gpu_count("ml.m5.large"), Some(0));
        assert_eq!(gpu_count("ml.x9.large"), None);
    }
}
