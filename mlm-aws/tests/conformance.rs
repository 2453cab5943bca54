//! The core conformance suite against `AwsProvider` and the AWS emulator
//! (`testing/aws-emulator`: moto + mlm's gap fillers), one fresh AWS account per case.

mod common;

mlm_core::conformance_tests!(common::fixture);
